import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testLog } from "../../test/helpers/nats.js";
import { EgressProxy, isPublicAddress } from "./egress.js";

/** Sends `request` to the proxy's socket; resolves with the first line of the answer and what followed. */
function ask(
  socket: string,
  request: string,
  then?: string,
): Promise<{ status: string; rest: string }> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let got = "";
    let sent = false;
    c.on("connect", () => c.write(request));
    c.on("data", (d) => {
      got += d.toString();
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      if (then !== undefined && !sent && got.startsWith("HTTP/1.1 200")) {
        sent = true;
        c.write(then);
      }
      const rest = got.slice(end + 4);
      if (then === undefined || rest.includes(then.trim())) {
        c.destroy();
        resolve({ status: got.split("\r\n")[0]!, rest });
      }
    });
    c.on("end", () =>
      resolve({ status: got.split("\r\n")[0]!, rest: got.slice(got.indexOf("\r\n\r\n") + 4) }),
    );
    c.on("error", reject);
  });
}

describe("egress proxy", () => {
  let echo: Server;
  let port: number;
  beforeAll(async () => {
    echo = createServer((c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    port = (echo.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => echo.close(() => r())));

  it("public addresses only", () => {
    for (const ip of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "140.82.112.3"]) {
      expect(isPublicAddress(ip), ip).toBe(true);
    }
    for (const ip of [
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "::ffff:127.0.0.1",
      "0.0.0.0",
      "10.1.2.3",
      "172.20.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "fe80::1",
      "fd00::1",
      "::",
      "224.0.0.1",
      "not-an-ip",
    ]) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
  });

  it("refuses this machine (by address and by name), the local network and bad requests", async () => {
    const proxy = await EgressProxy.start({ log: testLog });
    try {
      for (const target of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        `[::1]:${port}`,
        "10.0.0.1:443",
        "169.254.169.254:80",
      ]) {
        const r = await ask(proxy.socket, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
        expect(r.status, target).toBe("HTTP/1.1 403 Forbidden");
        expect(r.rest, target).toMatch(/not a public internet address/);
      }
      const plain = await ask(
        proxy.socket,
        `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      expect(plain.status).toMatch(/^HTTP\/1.1 403/);
      const bad = await ask(proxy.socket, "CONNECT nothing HTTP/1.1\r\n\r\n");
      expect(bad.status).toMatch(/^HTTP\/1.1 400/);
    } finally {
      await proxy.close();
    }
  });

  it("carries a tunnel and a plain request to an allowed address", async () => {
    // The only widening: this test's own servers on loopback count as allowed.
    const web = createHttpServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    const webPort = (web.address() as { port: number }).port;
    const proxy = await EgressProxy.start({ log: testLog, allow: (ip) => ip === "127.0.0.1" });
    try {
      const r = await ask(
        proxy.socket,
        `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`,
        "ping through\n",
      );
      expect(r.status).toBe("HTTP/1.1 200 Connection Established");
      expect(r.rest).toContain("ping through");
      const plain = await ask(
        proxy.socket,
        `GET http://127.0.0.1:${webPort}/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(plain.status).toBe("HTTP/1.1 200 OK");
      expect(plain.rest).toContain("hello /path?q=1");
    } finally {
      await proxy.close();
      await new Promise<void>((r) => web.close(() => r()));
    }
  });
});
