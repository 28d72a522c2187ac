import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { Buckets, Keys, workspaceSubjects } from "../../shared/subjects.js";
import type { SettingsView } from "../../shared/workspace.js";
import { until } from "../../test/helpers/nats.js";
import {
  natsSubprotocols,
  PLUS_BIN,
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  signIn,
  startPlus,
  tempHome,
} from "../../test/helpers/plus.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function upgrade(
  port: number,
  headers: Record<string, string>,
  protocols: string[] = [],
): Promise<number> {
  return new Promise((resolve) => {
    const sock = new WebSocket(`ws://127.0.0.1:${port}/nats`, protocols, { headers });
    sock.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    sock.on("open", () => {
      sock.close();
      resolve(101);
    });
    sock.on("error", () => resolve(-1));
  });
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

if (!existsSync(PLUS_BIN))
  console.warn(`cocalc-plus CLI tests skipped: no ${PLUS_BIN} (npm run build)`);

describe.skipIf(!existsSync(PLUS_BIN))("cocalc-plus CLI", () => {
  it("flags - --help, --version, and a clear message with exit code 2 for bad input", async () => {
    const home = await tempHome();
    const env = plusEnv(home);
    expect(runPlus(["--help"], env)).toMatchObject({
      code: 0,
      stdout: expect.stringContaining("--write-connection-info"),
    });
    expect(runPlus(["--version"], env).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const [args, text] of [
      [["--bogus"], "Unknown option '--bogus'"],
      [["--port", "abc"], "--port must be a whole number"],
      [["--port", "70000"], "--port must be a whole number"],
      [["--bind", "nowhere"], "--bind must be an IP address"],
      [["--data-dir", ""], "--data-dir needs a value"],
      [["--log-level", "loud"], "--log-level must be one of"],
      [["serve"], 'unknown command "serve"'],
      [["events", "tail", "a", "b"], "one subject"],
      [["events", "tail", "--since", "yesterday"], "--since takes"],
    ] as const) {
      const r = runPlus([...args], env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(text);
    }
    expect(existsSync(join(home, ".local/share/cocalc-plus"))).toBe(false);
    await removeHome(home);
  });

  it("nats-server missing - says how to install it", async () => {
    const home = await tempHome();
    const r = runPlus(
      ["--no-open", "--data-dir", join(home, "d")],
      plusEnv(home, { PATH: "/nonexistent", COCALC_NATS_SERVER: "" }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("apt-get install nats-server");
    expect(r.stderr).toContain("brew install nats-server");
    const r2 = runPlus(
      ["--no-open", "--data-dir", join(home, "d"), "--nats-server", "/no/such/nats-server"],
      plusEnv(home),
    );
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("/no/such/nats-server");
    await removeHome(home);
  });

  describe("running", () => {
    let plus: RunningPlus;
    let auth: Record<string, string>;
    let credential: string;
    const connInfo = () => join(plus.home, "conn.json");

    beforeAll(async () => {
      const home = await tempHome();
      plus = await startPlus({ home, args: ["--write-connection-info", join(home, "conn.json")] });
    });
    afterAll(async () => {
      await plus.stop();
      await removeHome(plus.home);
    });

    it("writes connection info, and keeps secrets in 0600 files", () => {
      const info = JSON.parse(readFileSync(connInfo(), "utf8"));
      expect(info).toMatchObject({
        url: plus.url,
        port: plus.port,
        pid: plus.child.pid,
        dataDir: plus.dataDir,
      });
      expect(info.url).not.toContain(plus.token);
      expect(readFileSync(info.tokenFile, "utf8").trim()).toBe(plus.token);
      for (const f of [
        info.tokenFile,
        connInfo(),
        join(plus.dataDir, "secrets.json"),
        join(plus.dataDir, "services.nk"),
        join(plus.dataDir, "nats/nats-server.conf"),
      ]) {
        expect(mode(f), f).toBe("600");
      }
      const context = JSON.parse(
        readFileSync(join(plus.home, ".config/nats/context/cocalc-plus.json"), "utf8"),
      );
      expect(context.nkey).toBe(join(plus.dataDir, "services.nk"));
      expect(context.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    });

    it("security - the app shell is public; the token is posted for a credential; no cookie", async () => {
      const shell = await http(plus.port, "/files/a?x=1");
      expect(shell.status).toBe(200);
      expect(shell.headers["set-cookie"]).toBeUndefined();
      expect(shell.headers["content-security-policy"]).toContain("script-src 'self'");
      expect((await http(plus.port, "/api/session")).status).toBe(401);
      const origin = `http://127.0.0.1:${plus.port}`;
      const post = (body: unknown, headers: Record<string, string> = { origin }) =>
        fetch(`${origin}/api/auth/sign-in`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(body),
        });
      const wrong = await post({ token: "nope" });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { code: string }).code).toBe("ERR_GATEWAY_TOKEN");
      // Only a page of this server may sign in (not a form or script of another site).
      expect((await post({ token: plus.token }, {})).status).toBe(403);
      expect((await post({ token: plus.token }, { origin: "http://127.0.0.1:1" })).status).toBe(
        403,
      );
      expect((await post({})).status).toBe(400);
      const signed = await signIn(plus.port, plus.token);
      credential = signed.credential;
      auth = signed.headers;
      expect(credential).not.toContain(plus.token);
      const session = await http(plus.port, "/api/session", auth);
      expect(session.status).toBe(200);
      expect(session.headers["set-cookie"]).toBeUndefined();
      expect(JSON.parse(session.body)).toMatchObject({
        natsPath: "/nats",
        nats: { user: "browser" },
      });
      const health = await http(plus.port, "/healthz");
      expect(health.status).toBe(200);
      // Anyone may ask whether plus is up; nothing more.
      expect(JSON.parse(health.body)).toEqual({ status: "ok" });
    });

    it("security - foreign Host, foreign Origin and a missing credential are refused", async () => {
      expect((await http(plus.port, "/healthz", { host: "evil.example:80" })).status).toBe(403);
      expect(
        (await http(plus.port, "/api/session", { ...auth, host: `attacker.test:${plus.port}` }))
          .status,
      ).toBe(403);
      expect(
        (await http(plus.port, "/api/session", { ...auth, origin: "http://evil.example" }, "POST"))
          .status,
      ).toBe(403);
      const origin = `http://127.0.0.1:${plus.port}`;
      const protocols = natsSubprotocols(credential);
      expect(await upgrade(plus.port, { origin: "http://evil.example" }, protocols)).toBe(403);
      expect(await upgrade(plus.port, {}, protocols)).toBe(403);
      expect(await upgrade(plus.port, { origin })).toBe(401);
      expect(await upgrade(plus.port, { origin, authorization: auth.authorization! })).toBe(401);
      expect(await upgrade(plus.port, { origin }, ["cocalc.v1", "cocalc.auth.x.y"])).toBe(401);
      expect(await upgrade(plus.port, { origin }, protocols)).toBe(101);
    });

    it("token - `cocalc-plus token` prints the URL; --rotate signs every browser out at once", async () => {
      const env = plusEnv(plus.home);
      const printed = runPlus(["token", "--data-dir", plus.dataDir], env);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout.trim()).toBe(plus.signInUrl);
      const other = await signIn(plus.port, plus.token);
      // What a browser (or whoever it leaked to) learnt: the NATS password, used directly.
      const old = JSON.parse((await http(plus.port, "/api/session", auth)).body);
      const run = JSON.parse(readFileSync(join(plus.dataDir, "run.json"), "utf8"));
      const direct = await connect({
        servers: run.natsUrl,
        user: old.nats.user,
        pass: old.nats.pass,
        reconnect: false,
      });
      const rotated = runPlus(["token", "--rotate", "--data-dir", plus.dataDir], env);
      expect(rotated.code, rotated.stderr).toBe(0);
      const url = /(http:\S+)/.exec(rotated.stdout)![1]!;
      const token = new URL(url).searchParams.get("token")!;
      expect(token).not.toBe(plus.token);
      for (const h of [auth, other.headers])
        expect((await http(plus.port, "/api/session", h)).status).toBe(401);
      await expect(signIn(plus.port, plus.token)).rejects.toThrow(/401/);
      // The browsers' NATS password changed: the old one's connection is closed, and it no
      // longer logs in.
      await direct.closed();
      await expect(
        connect({ servers: run.natsUrl, user: old.nats.user, pass: old.nats.pass }),
      ).rejects.toThrow(/Authorization/i);
      const fresh = await signIn(plus.port, token);
      auth = fresh.headers;
      credential = fresh.credential;
      expect((await http(plus.port, "/api/session", auth)).status).toBe(200);
      plus.token = token;
      plus.signInUrl = url;
    });

    it("security - no token or password in any process's argv", () => {
      const secrets = JSON.parse(readFileSync(join(plus.dataDir, "secrets.json"), "utf8"));
      const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
      expect(ps).toContain("nats-server -c");
      for (const s of [plus.token, secrets.browserPassword, secrets.servicesSeed])
        expect(ps).not.toContain(s);
    });

    it("lock - a second plus on the same data dir does not start; it prints the running one's sign-in URL", () => {
      const r = runPlus(["--no-open", "--data-dir", plus.dataDir], plusEnv(plus.home));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`already running on ${plus.dataDir}`);
      expect(r.stdout).toContain(`cocalc-plus: ${plus.signInUrl}`);
      // `open` says the same (no desktop here to open it in).
      const o = runPlus(["open", "--data-dir", plus.dataDir], plusEnv(plus.home));
      expect(o.code, o.stderr).toBe(0);
      expect(o.stdout).toContain(`cocalc-plus: ${plus.signInUrl}`);
    });

    it("events tail - prints the events, from a sequence", async () => {
      const r = await new Promise<string>((resolve) => {
        let out = "";
        const p = spawnPlus(
          ["events", "tail", "ws.*.life.>", "--since", "1", "--data-dir", plus.dataDir],
          plusEnv(plus.home),
        );
        p.stdout!.on("data", (d) => {
          out += d;
          if (out.includes("WorkspaceCreated")) {
            p.kill("SIGINT");
            resolve(out);
          }
        });
        setTimeout(() => {
          p.kill("SIGKILL");
          resolve(out);
        }, 30_000);
      });
      expect(r).toMatch(/^WORKSPACES#1 \S+ ws\.\w+\.life\.settings WorkspaceCreated v1 user /m);
    });

    it("supervision - a killed nats-server is restarted and the services resume", async () => {
      const pid = Number(readFileSync(join(plus.dataDir, "nats/nats-server.pid"), "utf8"));
      process.kill(pid, "SIGKILL");
      await until(
        "nats-server restarted",
        async () => {
          try {
            const p = Number(readFileSync(join(plus.dataDir, "nats/nats-server.pid"), "utf8"));
            return p !== pid && (await http(plus.port, "/healthz")).status === 200;
          } catch {
            return false;
          }
        },
        60_000,
      );
      // The browser's NATS user sends a command; the workspace service handles it.
      const session = JSON.parse((await http(plus.port, "/api/session", auth)).body);
      const run = JSON.parse(readFileSync(join(plus.dataDir, "run.json"), "utf8"));
      const nc = await connect({
        servers: run.natsUrl,
        user: session.nats.user,
        pass: session.nats.pass,
        inboxPrefix: BrowserInbox,
      });
      const reply = await until(
        "command served",
        async () => {
          try {
            const m = await nc.request(
              workspaceSubjects(session.wsid).command("workspace"),
              JSON.stringify({ type: "ChangeSettings", data: { color: "#123456" } }),
              { timeout: 5000 },
            );
            return m.json<{ ok: boolean }>();
          } catch {
            return undefined;
          }
        },
        60_000,
      );
      expect(reply.ok).toBe(true);
      const kv = await new Kvm(nc).open(Buckets.settings, { allow_direct: true });
      const view = await until("projected", async () => {
        const v = (await kv.get(Keys.settings(session.wsid)))?.json<SettingsView>();
        return v?.settings.color === "#123456" ? v : undefined;
      });
      expect(view.wsid).toBe(session.wsid);
      await nc.close();
    });
  });

  it("lifecycle - SIGINT stops everything cleanly; a stale lock from kill -9 is recovered", async () => {
    const first = await startPlus();
    const natsPid = Number(readFileSync(join(first.dataDir, "nats/nats-server.pid"), "utf8"));
    expect(await first.stop("SIGINT")).toBe(0);
    expect(existsSync(join(first.dataDir, "plus.pid"))).toBe(false);
    expect(() => process.kill(natsPid, 0)).toThrow();

    const second = await startPlus({ home: first.home, dataDir: first.dataDir });
    const orphan = Number(readFileSync(join(first.dataDir, "nats/nats-server.pid"), "utf8"));
    await second.stop("SIGKILL");
    expect(existsSync(join(first.dataDir, "plus.pid"))).toBe(true);
    const third = await startPlus({ home: first.home, dataDir: first.dataDir });
    // The nats-server left behind by the killed plus was stopped, not duplicated.
    await until("orphan gone", async () => {
      try {
        process.kill(orphan, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect((await http(third.port, "/healthz")).status).toBe(200);
    expect(await third.stop()).toBe(0);
    await removeHome(first.home);
  });

  it("uploads - the temp file of an upload cut off by kill -9 is removed at the next start", async () => {
    const first = await startPlus();
    const { headers: auth } = await signIn(first.port, first.token);
    // An upload that sends part of its body and then stalls, as when the browser is mid-way.
    const req = request({
      host: "127.0.0.1",
      port: first.port,
      method: "PUT",
      path: "/api/files/upload?dir=~&name=big.bin",
      headers: {
        host: `127.0.0.1:${first.port}`,
        ...auth,
        "content-length": String(10 * 1024 * 1024),
      },
    });
    req.on("error", () => undefined);
    req.write(Buffer.alloc(256 * 1024));
    const temps = async () =>
      (await readdir(first.home)).filter((n) => n.startsWith(".cocalc-upload-"));
    await until("temp file written", async () => (await temps()).length === 1);
    await first.stop("SIGKILL");
    req.destroy();
    expect(await temps()).toHaveLength(1);

    const second = await startPlus({ home: first.home, dataDir: first.dataDir });
    expect(await temps()).toEqual([]);
    expect(existsSync(join(first.home, "big.bin"))).toBe(false);
    expect(await second.stop()).toBe(0);
    await removeHome(first.home);
  });

  it("daemon - --daemon detaches with a pid file and log, `stop` stops it", async () => {
    const home = await tempHome();
    const dataDir = join(home, "d");
    const env = plusEnv(home);
    const r = runPlus(["--daemon", "--no-open", "--data-dir", dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    const url = /cocalc-plus ready: (\S+)/.exec(r.stdout)![1]!;
    const port = Number(new URL(url).port);
    const pid = Number(readFileSync(join(dataDir, "plus.pid"), "utf8"));
    expect(pid).toBeGreaterThan(0);
    expect((await http(port, "/healthz")).status).toBe(200);
    expect(existsSync(join(dataDir, "logs/plus.log"))).toBe(true);
    const again = runPlus(["--daemon", "--no-open", "--data-dir", dataDir], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("already running");
    expect(again.stdout).toMatch(
      new RegExp(`cocalc-plus: http://127\\.0\\.0\\.1:${port}/\\?token=`),
    );
    const s = runPlus(["stop", "--data-dir", dataDir], env);
    expect(s.stdout).toContain(`stopped cocalc-plus (pid ${pid})`);
    expect(existsSync(join(dataDir, "plus.pid"))).toBe(false);
    await removeHome(home);
  });
});

function spawnPlus(args: string[], env: NodeJS.ProcessEnv) {
  return spawn(process.execPath, [PLUS_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
}
