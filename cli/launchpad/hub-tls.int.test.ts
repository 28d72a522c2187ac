/**
 * A hub bound off loopback (127.0.0.2, or 192.0.2.2 added to lo) with its self-signed
 * certificate: its nats-server's client and leaf listeners speak TLS only, registration tokens
 * pin the certificate, a host joins over TLS and its workspaces answer through the hub, and a
 * token whose pin is not the hub's certificate joins nothing. A hub bound to every address
 * runs its own host over TLS by localhost, which follows a replaced certificate.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createUser } from "@nats-io/nkeys";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxyTokens } from "../../services/gateway/app-proxy-tokens.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { locateNatsServer, NatsServer } from "../../services/runtime/nats-server.js";
import { freePort, freePortRange } from "../../services/runtime/ports.js";
import type { ExecResult, HostTokenFile, LeafCredentials } from "../../shared/launchpad.js";
import { hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hubHostUnsupported,
  setupHostMachine,
  startTestHub,
} from "../../test/helpers/launchpad.js";
import { until } from "../../test/helpers/nats.js";
import type { HostOptions } from "./args.js";
import { type LaunchpadHost, startLaunchpadHost } from "./host.js";
import { issueHostToken, listHostTokens, type RunningHub } from "./hub.js";
import { connectHub, hubRunFile } from "./hub-connect.js";
import { joinHub, writeLeafCredentials } from "./join.js";
import { hubTls } from "./tls.js";

const execFileP = promisify(execFile);
const log = pino({ level: process.env.DEBUG_TLS ? "debug" : "warn" });
const quiet = () => undefined;
const HOST = "hosttls1";

function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(0, address, () => s.close(() => resolve(true)));
  });
}

/** A non-loopback-looking address this machine can bind, and whether the test added it to lo. */
async function offLoopbackAddress(): Promise<{ address?: string; added?: boolean; why?: string }> {
  if (await canBind("127.0.0.2")) return { address: "127.0.0.2" };
  if (process.getuid?.() !== 0)
    return { why: "cannot bind 127.0.0.2 and not root to add 192.0.2.2 to lo" };
  try {
    await execFileP("ip", ["addr", "add", "192.0.2.2/32", "dev", "lo"]);
  } catch (err) {
    return { why: `cannot bind 127.0.0.2 nor add 192.0.2.2 to lo: ${(err as Error).message}` };
  }
  return { address: "192.0.2.2", added: true };
}

const bind = await offLoopbackAddress();
if (!bind.address) console.warn(`hub TLS tests skipped: ${bind.why}`);
const hostUnsupported = await hubHostUnsupported();
if (hostUnsupported) console.warn(`hub TLS: the tests with hosts skipped: ${hostUnsupported}`);

afterAll(async () => {
  if (bind.added) await execFileP("ip", ["addr", "del", "192.0.2.2/32", "dev", "lo"]);
});

/** A plain TCP client: the server's INFO line, then what it answers a plain CONNECT and PING. */
function plainClient(host: string, port: number): Promise<{ info: string; answer: string }> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    let buf = "";
    let info: string | undefined;
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n");
      if (info === undefined && end >= 0) {
        info = buf.slice(0, end);
        buf = buf.slice(end + 2);
        s.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
      }
    });
    s.on("error", () => undefined);
    // The sign the server is done with it: it closes the connection.
    s.on("close", () => resolve({ info: info ?? "", answer: buf }));
  });
}

describe.skipIf(bind.address === undefined)(
  "a hub off loopback speaks TLS to hosts and the console",
  () => {
    let dir: string;
    let hubDir: string;
    let hub: RunningHub;
    const address = bind.address!;

    /** A registration token for `hostId` in a 0600 file; its content. */
    const token = async (hostId: string, name: string) => {
      const out = join(dir, name);
      return {
        out,
        token: await issueHostToken(
          { command: "hub-token", hostId, out, ttlSeconds: 600, dataDir: hubDir },
          log,
        ),
      };
    };
    const tokenStatus = async (tokenId: string) =>
      (await listHostTokens(hubDir, log)).find((t) => t.tokenId === tokenId)?.status;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "cocalc-hub-tls-"));
      hubDir = join(dir, "hub");
      hub = await startTestHub(hubDir, {
        bind: address,
        port: await freePortRange([1, 2, 3], address),
        appsDomain: "apps.example",
      });
    }, 120_000);

    afterAll(async () => {
      await hub?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      if (bind.added) await execFileP("ip", ["addr", "del", "192.0.2.2/32", "dev", "lo"]);
    }, 120_000);

    it("serves HTTPS with a self-signed certificate whose pin every token carries", async () => {
      expect(hub.url).toBe(`https://${address}:${hub.port}/`);
      expect(hub.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(hub.leafUrl).toBe(`tls://${address}:${hub.port + 2}`);
      const { out, token: t } = await token(HOST, "pin.token");
      expect(t.tls?.fingerprint).toBe(hub.fingerprint);
      expect(t.tls?.cert).toBe(await readFile(join(hubDir, "tls", "cert.pem"), "utf8"));
      expect(JSON.parse(await readFile(out, "utf8")).tls).toEqual(t.tls);
      // The console pins it too: its run file names it, and console commands connect.
      const run = JSON.parse(await readFile(hubRunFile(hubDir), "utf8"));
      expect(run.tls.fingerprint).toBe(hub.fingerprint);
      expect((await listHostTokens(hubDir, log)).length).toBeGreaterThan(0);
    });

    it("refuses plain TCP on the client and the leaf listener", async () => {
      for (const port of [hub.port + 3, hub.port + 2]) {
        const { info, answer } = await plainClient(address, port);
        expect(info).toMatch(/^INFO .*"tls_required":true/);
        expect(answer).not.toMatch(/PONG|\+OK/);
      }
    });

    it("a signed-in browser's app cookie is Secure over HTTPS", async () => {
      const ca = await readFile(join(hubDir, "tls", "cert.pem"), "utf8");
      /** One HTTPS request to the hub, trusting exactly its certificate. */
      const ask = (method: string, path: string, body?: unknown, host?: string) =>
        new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>(
          (resolve, reject) => {
            const req = httpsRequest(
              {
                host: address,
                port: hub.port,
                method,
                path,
                ca,
                headers: {
                  ...(host && { host }),
                  origin: `https://${address}:${hub.port}`,
                  // As a link opened in the address bar.
                  "sec-fetch-site": "none",
                  ...(body !== undefined && { "content-type": "application/json" }),
                },
              },
              (res) => {
                let text = "";
                res.on("data", (d) => (text += d));
                res.on("end", () =>
                  resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
                );
              },
            );
            req.on("error", reject);
            req.end(body === undefined ? undefined : JSON.stringify(body));
          },
        );
      const setupToken = new URL(hub.setupUrl!).searchParams.get("token")!;
      const made = await ask("POST", HUB_PATHS.setup, {
        setupToken,
        email: "tls-admin@example.com",
        password: "an admin's password",
      });
      expect(made.status, made.text).toBe(200);
      const { credential, account } = JSON.parse(made.text) as {
        credential: string;
        account: { id: string };
      };
      // A link as the workspace's Apps makes one, for this browser (the hub's own key).
      const tokens = await ProxyTokens.open(join(hubDir, "keys", "proxy-key"));
      const link = tokens.sign(
        {
          kind: "link",
          user: account.id,
          wsid: "wscookie",
          port: 8080,
          session: credential.split(".")[0]!,
        },
        60,
      );
      // On the app's own origin.
      const r = await ask(
        "GET",
        `/?token=${encodeURIComponent(link)}`,
        undefined,
        `p8080-wscookie.apps.example:${hub.port}`,
      );
      expect(r.status, r.text).toBe(303);
      const cookie = String(r.headers["set-cookie"]);
      expect(cookie).toContain("Path=/;");
      expect(cookie).toMatch(/HttpOnly; SameSite=Strict; Secure/);
    });

    it("a token whose pin is not the hub's certificate joins nothing (ERR_HOST_JOIN_TLS)", async () => {
      const { out, token: t } = await token("hosttls2", "bad.token");
      const hostDir = join(dir, "bad-host");
      await mkdir(hostDir);
      const tryJoin = async (edited: HostTokenFile) => {
        await writeFile(out, JSON.stringify(edited), { mode: 0o600 });
        return joinHub(out, hostDir, quiet).then(
          () => undefined,
          (err: { code?: string; message: string }) => err,
        );
      };
      // The same certificate, another fingerprint.
      const fp = t.tls!.fingerprint;
      const changed = `${fp.slice(0, -2)}${fp.endsWith("00") ? "11" : "00"}`;
      const wrongPin = await tryJoin({ ...t, tls: { ...t.tls!, fingerprint: changed } });
      expect(wrongPin?.code).toBe("ERR_HOST_JOIN_TLS");
      expect(wrongPin?.message).toContain(`is not the one the registration token names`);
      expect(wrongPin?.message).toContain(`presented certificate SHA-256 ${fp}`);
      // Another self-signed certificate (another hub's, or an impostor's), consistent in itself.
      const other = await hubTls(join(dir, "other"), {}, [address]);
      const otherCert = await tryJoin({
        ...t,
        tls: { fingerprint: other.fingerprint, cert: other.cert },
      });
      expect(otherCert?.code).toBe("ERR_HOST_JOIN_TLS");
      expect(otherCert?.message).toContain(other.fingerprint);
      // No pin at all: the hub's TLS is not taken on trust.
      const { tls: _t, ...unpinned } = t;
      const noPin = await tryJoin(unpinned);
      expect(noPin?.code).toBe("ERR_HOST_JOIN_TLS");
      expect(noPin?.message).toMatch(/names no certificate/);
      // A damaged pin is refused before anything is sent.
      const damaged = await tryJoin({ ...t, tls: { fingerprint: "hello" } });
      expect(damaged?.code).toBe("ERR_HOST_JOIN_TLS");
      expect(damaged?.message).toMatch(/pin is damaged/);
      // Nothing joined: no credentials, no certificate kept, the token still unused.
      expect(existsSync(join(hostDir, "leaf.json"))).toBe(false);
      expect(existsSync(join(hostDir, "hub-cert.pem"))).toBe(false);
      expect(await tokenStatus(t.tokenId)).toBe("issued");
      // The untouched token joins (then its credentials are thrown away with the test's files).
      await writeFile(out, JSON.stringify(t), { mode: 0o600 });
      const leaf = await joinHub(out, hostDir, quiet);
      expect(leaf.leafUrl).toBe(hub.leafUrl);
      expect(await tokenStatus(t.tokenId)).toBe("joined");

      // A leaf node with those credentials that trusts another certificate than the hub's
      // (what a host sees of a man in the middle) stops at the TLS handshake.
      const lines: string[] = [];
      const capture = pino({ level: "debug" }, { write: (l: string) => void lines.push(l) });
      const nats = new NatsServer(
        {
          binary: locateNatsServer(),
          dir: join(hostDir, "nats"),
          port: await freePort(),
          wsPort: await freePort(),
          servicesNkey: createUser().getPublicKey(),
          wsOrigin: "http://gateway.test.invalid",
          syncAlways: false,
          serverName: "cocalc-host-hosttls2",
          jetstreamDomain: leaf.hostDomain,
          leafRemote: {
            url: leaf.leafUrl,
            credentials: await writeLeafCredentials(leaf, hostDir),
            caFile: other.certFile,
          },
        },
        capture,
      );
      await nats.start();
      try {
        await until("the leaf node refuses the certificate it does not trust", async () =>
          lines.some((l) =>
            /leafnode handshake error: x509: certificate signed by unknown/.test(l),
          ),
        );
      } finally {
        await nats.stop();
      }
    });

    it("a console command refuses a hub that presents another certificate than its run file pins", async () => {
      const file = hubRunFile(hubDir);
      const text = await readFile(file, "utf8");
      const run = JSON.parse(text);
      const other = await hubTls(join(dir, "other"), {}, [address]);
      try {
        await writeFile(
          file,
          JSON.stringify({ ...run, tls: { fingerprint: other.fingerprint, cert: other.cert } }),
        );
        await expect(connectHub(hubDir, log)).rejects.toMatchObject({ code: "ERR_HUB_TLS" });
      } finally {
        await writeFile(file, text, { mode: 0o600 });
      }
      const nc = await connectHub(hubDir, log);
      await nc.close();
    });

    describe.skipIf(hostUnsupported !== undefined)("a joined host", () => {
      let m: HostMachine;
      let host: LaunchpadHost | undefined;

      beforeAll(async () => {
        m = await setupHostMachine(HOST, 1024);
      }, 120_000);
      afterAll(async () => {
        await host?.stop();
        await m?.cleanup();
      }, 120_000);

      it("joins over TLS with the hub's certificate pinned, and a workspace request round-trips", async () => {
        const { out } = await token(HOST, "host.token");
        const dataDir = join(m.dir, "data");
        const opts: HostOptions = {
          command: "host",
          btrfs: m.root,
          sizeBytes: 0,
          hostId: "unused",
          network: "none",
          snapshotEveryMs: 0,
          dataDir,
          logLevel: "warn",
          join: out,
        };
        host = await startLaunchpadHost(opts, log, quiet);
        // The host keeps the hub's certificate (public) and its leaf remote trusts only that.
        const cert = join(dataDir, "hub-cert.pem");
        expect((await stat(cert)).mode & 0o777).toBe(0o644);
        expect(await readFile(cert, "utf8")).toBe(
          await readFile(join(hubDir, "tls", "cert.pem"), "utf8"),
        );
        const leaf = JSON.parse(
          await readFile(join(dataDir, "leaf.json"), "utf8"),
        ) as LeafCredentials;
        expect(leaf.hubCaFile).toBe(cert);
        const conf = JSON.parse(await readFile(join(dataDir, "nats", "nats-server.conf"), "utf8"));
        expect(conf.leafnodes.remotes[0]).toMatchObject({
          url: hub.leafUrl,
          tls: { ca_file: cert },
        });

        type Reply = { ok: boolean; error?: { message: string }; result?: ExecResult };
        const imported = await hub.nc.request(
          hostSubjects(HOST).command,
          JSON.stringify({
            type: "ImportImage",
            data: { name: "bb", source: await m.rootfs("t") },
          }),
          { timeout: 120_000 },
        );
        expect(imported.json<Reply>().ok).toBe(true);
        const ws = "wstls";
        const send = async (type: string, data: unknown = {}) =>
          (
            await hub.nc.request(
              workspaceSubjects(ws).command("host"),
              JSON.stringify({ type, data }),
              {
                timeout: 120_000,
              },
            )
          ).json<Reply>();
        const made = await send("CreateWorkspaceOnHost", {
          image: "bb",
          quota: { diskMb: 200, memoryMb: 256 },
        });
        expect(made.ok, JSON.stringify(made.error)).toBe(true);
        expect((await send("StartWorkspace")).ok).toBe(true);
        const r = await send("ExecInWorkspace", { argv: ["/bin/sh", "-c", "hostname"] });
        expect(r.result?.stdout).toBe(`ws-${ws}\n`);
        expect((await send("StopWorkspace")).ok).toBe(true);
      });
    });
  },
);

describe.skipIf(hostUnsupported !== undefined)(
  "the hub's own host, the hub bound to every address",
  () => {
    const LOCAL = "hosttls3";
    let m: HostMachine;
    let hub: RunningHub | undefined;
    const address = "0.0.0.0";

    afterAll(async () => {
      await hub?.stop();
      await m?.cleanup();
    }, 120_000);

    /** The sign the host's leaf is up: a malformed command reaches it and is answered. */
    const reachable = (h: RunningHub) =>
      until("the hub's own host reachable over its leaf", async () =>
        h.nc
          .request(hostSubjects(LOCAL).command, JSON.stringify({ type: "ImportImage", data: {} }), {
            timeout: 2000,
          })
          .then((r) => r.json<{ error?: { code: string } }>().error?.code === "ERR_COMMAND_INVALID")
          .catch(() => false),
      );

    it("joins over TLS by localhost, and follows a new self-signed certificate when the hub restarts with one", async () => {
      m = await setupHostMachine(LOCAL, 1024);
      const hubDir = join(m.dir, "hub");
      const start = async () =>
        startTestHub(hubDir, {
          bind: address,
          port: await freePortRange([1, 2, 3], address),
          localHost: { btrfs: m.root, sizeBytes: 0, hostId: LOCAL },
        });
      hub = await start();
      expect(hub.localHostId).toBe(LOCAL);
      await reachable(hub);
      const localDir = join(hubDir, "local-host");
      const leaf = JSON.parse(
        await readFile(join(localDir, "leaf.json"), "utf8"),
      ) as LeafCredentials;
      // The self-signed certificate names localhost: the name the leaf is checked against.
      expect(leaf.leafUrl).toBe(`tls://localhost:${hub.port + 2}`);
      const first = hub.fingerprint;
      expect(await readFile(join(localDir, "hub-cert.pem"), "utf8")).toBe(
        await readFile(join(hubDir, "tls", "cert.pem"), "utf8"),
      );
      // Rotation: the operator removes the self-signed certificate; the hub makes a new one.
      await hub.stop();
      hub = undefined;
      await rm(join(hubDir, "tls"), { recursive: true });
      hub = await start();
      expect(hub.fingerprint).not.toBe(first);
      await reachable(hub);
      expect(await readFile(join(localDir, "hub-cert.pem"), "utf8")).toBe(
        await readFile(join(hubDir, "tls", "cert.pem"), "utf8"),
      );
    });
  },
);
