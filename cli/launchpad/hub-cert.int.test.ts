/**
 * The hub with the operator's certificate (`--cert FILE --key FILE`): it serves HTTPS with
 * exactly that certificate, also on loopback, makes none of its own, and refuses plain HTTP;
 * one signed by its own key (no CA's) is trusted as itself by its own connections, the
 * console and hosts (their tokens carry it); a key others may read, or one flag without the
 * other, is refused in words.
 */
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHub } from "../../test/helpers/launchpad.js";
import { issueHostToken, listHostTokens, type RunningHub } from "./hub.js";
import { hubTls, type Tls } from "./tls.js";

const log = pino({ level: "warn" });

describe("a hub with --cert and --key", () => {
  let dir: string;
  let given: Tls;
  let hub: RunningHub;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-hub-cert-"));
    // The operator's certificate (made here with openssl, as any would be).
    given = await hubTls(join(dir, "operator"), {}, ["127.0.0.1"]);
    hub = await startTestHub(join(dir, "hub"), { cert: given.certFile, key: given.keyFile });
  }, 120_000);
  afterAll(async () => {
    await hub?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("cert - HTTPS with exactly that certificate; none made; plain HTTP refused", async () => {
    expect(hub.url).toBe(`https://127.0.0.1:${hub.port}/`);
    expect(hub.fingerprint).toBe(given.fingerprint);
    const health = await new Promise<{ status: number; body: string; fp: string }>(
      (resolve, reject) => {
        const req = httpsRequest(
          { host: "127.0.0.1", port: hub.port, path: "/healthz", ca: given.cert },
          (res) => {
            const fp = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body, fp }));
          },
        );
        req.on("error", reject);
        req.end();
      },
    );
    expect(health).toMatchObject({ status: 200, fp: given.fingerprint });
    expect(JSON.parse(health.body)).toEqual({ status: "ok" });
    await expect(stat(join(hub.dataDir, "tls", "cert.pem"))).rejects.toMatchObject({
      code: "ENOENT",
    });
    const plain = await new Promise<number | string>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port: hub.port, path: "/healthz" }, (res) =>
        resolve(res.statusCode ?? 0),
      );
      req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
      req.end();
    });
    expect(plain).not.toBe(200);
  });

  it("cert - an operator's self-signed certificate: tokens carry it for hosts to trust; the console connects", async () => {
    const t = await issueHostToken(
      {
        command: "hub-token",
        hostId: "certhost1",
        out: join(dir, "certhost1.token"),
        ttlSeconds: 600,
        dataDir: hub.dataDir,
      },
      log,
    );
    expect(t.tls).toEqual({ fingerprint: given.fingerprint, cert: given.cert });
    expect((await listHostTokens(hub.dataDir, log)).map((x) => x.hostId)).toContain("certhost1");
  });

  it("cert - one flag without the other, or a key others may read, is refused", async () => {
    await expect(startTestHub(join(dir, "half"), { cert: given.certFile })).rejects.toMatchObject({
      code: "ERR_HUB_TLS",
      message: "--cert and --key go together",
    });
    await chmod(given.keyFile, 0o644);
    try {
      await expect(
        startTestHub(join(dir, "open-key"), { cert: given.certFile, key: given.keyFile }),
      ).rejects.toMatchObject({ code: "ERR_HUB_TLS", message: expect.stringMatching(/chmod 600/) });
    } finally {
      await chmod(given.keyFile, 0o600);
    }
  });
});
