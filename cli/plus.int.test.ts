import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BrowserInbox } from "../shared/browser-permissions.js";
import { Buckets, Keys, workspaceSubjects } from "../shared/subjects.js";
import type { SettingsView } from "../shared/workspace.js";
import { until } from "../test/helpers/nats.js";
import {
  PLUS_BIN,
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  startPlus,
  tempHome,
} from "../test/helpers/plus.js";

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

function upgrade(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const sock = new WebSocket(`ws://127.0.0.1:${port}/nats`, { headers });
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
    let cookie: string;
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

    it("security - no token is 401, the token becomes an HttpOnly SameSite=Strict cookie and leaves the URL", async () => {
      expect((await http(plus.port, "/")).status).toBe(401);
      expect((await http(plus.port, "/api/session")).status).toBe(401);
      const wrong = await http(plus.port, "/?token=nope");
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.body).code).toBe("ERR_GATEWAY_TOKEN");
      const r = await http(plus.port, `/files/a?x=1&token=${plus.token}`);
      expect(r.status).toBe(200);
      expect(r.body).toContain('<meta http-equiv="refresh" content="0;url=/files/a?x=1">');
      expect(r.body).not.toContain(plus.token);
      expect(r.headers["referrer-policy"]).toBe("no-referrer");
      const setCookie = String(r.headers["set-cookie"]);
      expect(setCookie).toMatch(/HttpOnly/);
      expect(setCookie).toMatch(/SameSite=Strict/);
      cookie = setCookie.split(";")[0]!;
      expect(cookie).not.toContain(plus.token);
      const session = await http(plus.port, "/api/session", { cookie });
      expect(session.status).toBe(200);
      expect(JSON.parse(session.body)).toMatchObject({
        natsPath: "/nats",
        nats: { user: "browser" },
      });
      expect((await http(plus.port, "/healthz")).status).toBe(200);
    });

    it("security - foreign Host, foreign Origin and missing cookie are refused", async () => {
      expect((await http(plus.port, "/healthz", { host: "evil.example:80" })).status).toBe(403);
      expect(
        (await http(plus.port, "/api/session", { cookie, host: `attacker.test:${plus.port}` }))
          .status,
      ).toBe(403);
      expect(
        (await http(plus.port, "/api/session", { cookie, origin: "http://evil.example" }, "POST"))
          .status,
      ).toBe(403);
      const origin = `http://127.0.0.1:${plus.port}`;
      expect(await upgrade(plus.port, { origin: "http://evil.example", cookie })).toBe(403);
      expect(await upgrade(plus.port, { cookie })).toBe(403);
      expect(await upgrade(plus.port, { origin })).toBe(401);
      expect(await upgrade(plus.port, { origin, cookie })).toBe(101);
    });

    it("security - no token or password in any process's argv", () => {
      const secrets = JSON.parse(readFileSync(join(plus.dataDir, "secrets.json"), "utf8"));
      const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
      expect(ps).toContain("nats-server -c");
      for (const s of [plus.token, secrets.browserPassword, secrets.servicesSeed])
        expect(ps).not.toContain(s);
    });

    it("lock - a second plus on the same data dir refuses to start", () => {
      const r = runPlus(["--no-open", "--data-dir", plus.dataDir], plusEnv(plus.home));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`already running on ${plus.dataDir}`);
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
      const session = JSON.parse((await http(plus.port, "/api/session", { cookie })).body);
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
    const login = await http(first.port, `/?token=${first.token}`);
    const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
    const origin = `http://127.0.0.1:${first.port}`;
    // An upload that sends part of its body and then stalls, as when the browser is mid-way.
    const req = request({
      host: "127.0.0.1",
      port: first.port,
      method: "PUT",
      path: "/api/files/upload?dir=~&name=big.bin",
      headers: {
        host: `127.0.0.1:${first.port}`,
        origin,
        cookie,
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
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already running");
    const s = runPlus(["stop", "--data-dir", dataDir], env);
    expect(s.stdout).toContain(`stopped cocalc-plus (pid ${pid})`);
    expect(existsSync(join(dataDir, "plus.pid"))).toBe(false);
    await removeHome(home);
  });
});

function spawnPlus(args: string[], env: NodeJS.ProcessEnv) {
  return spawn(process.execPath, [PLUS_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
}
