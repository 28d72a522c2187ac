/**
 * Signed-in browsers at the gateway: credentials are per server (one gateway's opens nothing
 * on another), survive a restart, and signing out (one browser, every browser) takes effect at
 * once, also for an open /nats WebSocket.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { testLog } from "../../test/helpers/nats.js";
import { natsSubprotocols, signIn } from "../../test/helpers/plus.js";
import { freePort } from "../runtime/ports.js";
import { buildApp } from "./app.js";
import { BrowserSessions } from "./browser-sessions.js";

/** Stands for nats-server's websocket listener: answers any upgrade with 101, then echoes. */
async function fakeUpstream(): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    c.once("data", (d) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(d.toString())?.[1] ?? "";
      const accept = createHash("sha1")
        .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest("base64");
      c.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
    });
    c.on("error", () => c.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, port };
}

describe("gateway - signed-in browsers", () => {
  let dir: string;
  const apps: FastifyInstance[] = [];
  let upstream: { server: Server; port: number };
  let everywhere = 0;

  async function gateway(name: string, sessions: BrowserSessions) {
    const app = await buildApp({
      token: () => `token-of-${name}-0123456789`,
      sessions,
      onSignOutEverywhere: async () => {
        everywhere++;
      },
      allowedHosts: new Set(["127.0.0.1"]),
      webRoot: "/nonexistent",
      natsWsPort: () => upstream.port,
      natsWsOrigin: "http://x.invalid",
      session: () => ({
        wsid: name,
        version: "t",
        natsPath: "/nats",
        nats: { user: "u", pass: "p" },
      }),
      health: () => ({ status: "ok" }),
      log: testLog,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    apps.push(app);
    const port = (app.server.address() as { port: number }).port;
    return { app, port, token: `token-of-${name}-0123456789` };
  }

  const session = (port: number, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/api/session`, { headers }).then((r) => r.status);

  const post = (port: number, path: string, headers: Record<string, string>, body: unknown) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-gw-auth-"));
    upstream = await fakeUpstream();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    upstream?.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a credential of one gateway opens nothing on another", async () => {
    const one = await gateway("one", await BrowserSessions.open());
    const two = await gateway("two", await BrowserSessions.open());
    const a = await signIn(one.port, one.token);
    const b = await signIn(two.port, two.token);
    expect(await session(one.port, a.headers)).toBe(200);
    expect(await session(two.port, b.headers)).toBe(200);
    expect(await session(two.port, a.headers)).toBe(401);
    expect(await session(one.port, b.headers)).toBe(401);
    // Nor does one gateway's token sign in on the other.
    await expect(signIn(two.port, one.token)).rejects.toThrow(/401/);
  });

  it("browsers stay signed in across a restart; the file is 0600 and holds no credential", async () => {
    const file = join(dir, "browser-sessions.json");
    const first = await gateway("keep", await BrowserSessions.open(file));
    const a = await signIn(first.port, first.token);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = await readFile(file, "utf8");
    expect(text).not.toContain(a.credential.split(".")[1]);
    await first.app.close();
    const again = await gateway("keep", await BrowserSessions.open(file));
    expect(await session(again.port, a.headers)).toBe(200);
  });

  it("sign out: this browser only, then every browser, and open sockets close at once", async () => {
    const g = await gateway("out", await BrowserSessions.open());
    const a = await signIn(g.port, g.token);
    const b = await signIn(g.port, g.token);
    const c = await signIn(g.port, g.token);
    const socketOf = async (credential: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${g.port}/nats`, natsSubprotocols(credential), {
        headers: { origin: `http://127.0.0.1:${g.port}` },
      });
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
        ws.once("unexpected-response", (_q, res) => reject(new Error(`${res.statusCode}`)));
      });
      // The gateway names our subprotocol in its answer (a browser insists on it).
      expect(ws.protocol).toBe("cocalc.v1");
      return { ws, closed: new Promise<void>((r) => ws.once("close", () => r())) };
    };
    const sa = await socketOf(a.credential);
    const sb = await socketOf(b.credential);

    expect((await post(g.port, "/api/auth/sign-out", a.headers, {})).status).toBe(200);
    await sa.closed;
    expect(await session(g.port, a.headers)).toBe(401);
    expect(await session(g.port, b.headers)).toBe(200);
    expect(sb.ws.readyState).toBe(WebSocket.OPEN);

    const before = everywhere;
    const all = await post(g.port, "/api/auth/sign-out", b.headers, { everywhere: true });
    expect(all.status).toBe(200);
    await sb.closed;
    expect(everywhere).toBe(before + 1);
    for (const h of [b.headers, c.headers]) expect(await session(g.port, h)).toBe(401);
    await expect(socketOf(c.credential)).rejects.toThrow(/401/);
    // Bad input changes nothing: a malformed body is refused, nobody is signed out by it.
    const d = await signIn(g.port, g.token);
    expect(
      (await post(g.port, "/api/auth/sign-out", d.headers, { everywhere: "yes" })).status,
    ).toBe(400);
    expect(await session(g.port, d.headers)).toBe(200);
  });
});
