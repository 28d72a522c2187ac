/**
 * `cocalc-plus forward …` against a running plus and a remote session to a real sshd on
 * loopback, where a second local user is the remote and serves HTTP.
 */
import { execFile, execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../../services/runtime/ports.js";
import type { ForwardView } from "../../shared/forwards.js";
import type { RemoteSessionView } from "../../shared/remote.js";
import { until } from "../../test/helpers/nats.js";
import { plusCommand as plus, plusEnv, removeHome, tempHome } from "../../test/helpers/plus.js";
import {
  nodeMissingReason,
  type Sshd,
  sshdSkipReason,
  startSshd,
} from "../../test/helpers/sshd.js";

const execFileAsync = promisify(execFile);

let why = sshdSkipReason();
if (why) console.warn(`cocalc-plus forward tests skipped: ${why}`);

async function get(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** Does anything accept connections on 127.0.0.1:port? */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(why !== undefined)("cocalc-plus forward", () => {
  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let args: string[];
  let remotePort: number;
  let localPort: number;
  let localServer: Server | undefined;

  const forward = (...a: string[]) => plus(["forward", ...a, "--data-dir", dataDir], env);
  const list = async (): Promise<ForwardView[]> => {
    const r = await forward("list", "--json");
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ForwardView[];
  };
  const find = async (port: number) => (await list()).find((f) => f.local === port);
  const session = async (): Promise<RemoteSessionView | undefined> => {
    const r = await plus(["ssh", "list", "--json", "--data-dir", dataDir], env);
    return (JSON.parse(r.stdout) as RemoteSessionView[]).find((v) => v.target === sshd.target);
  };

  beforeAll(async () => {
    sshd = await startSshd("cocalcfwd");
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`cocalc-plus forward tests skipped: ${why}`);
      return;
    }
    home = await tempHome();
    dataDir = join(home, "data");
    env = plusEnv(home);
    args = ["--no-open", "--data-dir", dataDir, ...sshd.sshArgs];
    remotePort = await freePort();
    // A web server that only the remote user runs, listening on the remote's loopback.
    sshd.asUser(
      `cd /tmp && nohup node -e 'require("http").createServer((q, s) => s.end("hello from " + process.env.USER)).listen(${remotePort}, "127.0.0.1")' >/dev/null 2>&1 &`,
    );
    await until("the remote web server", () => listening(remotePort), 20_000);
  }, 60_000);

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    if (!sshd) return;
    localServer?.close();
    if (dataDir) await plus(["stop", "--terminals", "--data-dir", dataDir], env);
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host|node -e"]);
    } catch {
      // none left
    }
    await sshd.stop();
    if (home) await removeHome(home);
  }, 60_000);

  it("bad flags are usage errors (exit 2) with their codes", async () => {
    for (const [bad, code] of [
      [["add", "99999", "--session", sshd.target], "ERR_FORWARD_PORT"],
      [["add", "http", "--session", sshd.target], "ERR_FORWARD_PORT"],
      [["add", "8080", "0", "--session", sshd.target], "ERR_FORWARD_PORT"],
      [["add", "8080", "--session", sshd.target, "--direction", "up"], "ERR_FORWARD_DIRECTION"],
      [["add", "8080"], "--session"],
      [["add", "8080", "--session", sshd.target, "--bogus"], "bogus"],
      [["launch"], "choose from add, list, rm"],
    ] as const) {
      const r = await forward(...bad);
      expect(r.code, bad.join(" ")).toBe(2);
      expect(r.stderr, bad.join(" ")).toContain(code);
    }
  });

  it("a forward brings the remote's web server here", async () => {
    const c = await plus(["ssh", sshd.target, ...args], env);
    expect(c.code, c.stderr).toBe(0);
    const unknown = await forward("add", "8080", "--session", "nobody@127.0.0.1:1");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("ERR_FORWARD_NO_SESSION");
    localPort = await freePort();
    const r = await forward(
      "add",
      String(localPort),
      String(remotePort),
      "--session",
      sshd.target,
      "--name",
      "web",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/added port forward fl\d+s\S+: localhost:\d+ ← remote:\d+/);
    const f = await until("the forward is up", async () => {
      const v = await find(localPort);
      return v?.status === "up" ? v : undefined;
    });
    expect(f).toMatchObject({ remote: remotePort, direction: "remote-to-local", name: "web" });
    expect(f.restarts).toBe(0);
    expect(await get(localPort)).toBe(`hello from ${sshd.user}`);
    const text = await forward("list");
    expect(text.stdout).toMatch(/FORWARD\s+SESSION\s+PORTS\s+NAME\s+STATUS/);
    expect(text.stdout).toContain(`localhost:${localPort} ← remote:${remotePort}`);
  }, 240_000);

  it("a killed forward is restarted and serves again", async () => {
    const before = (await find(localPort))!;
    process.kill(before.pid!, "SIGKILL");
    const after = await until(
      "the forward restarted",
      async () => {
        const v = await find(localPort);
        return v?.status === "up" && v.restarts === 1 && v.pid !== before.pid ? v : undefined;
      },
      60_000,
    );
    expect(alive(after.pid!)).toBe(true);
    expect(await get(localPort)).toBe(`hello from ${sshd.user}`);
  }, 90_000);

  it("refuses a port in use and a duplicate, and starts nothing", async () => {
    const taken = await freePort();
    localServer = createServer((_q, s) => s.end("local")).listen(taken, "127.0.0.1");
    await until("the local server", () => listening(taken));
    const inUse = await forward("add", String(taken), String(remotePort), "--session", sshd.target);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain("ERR_FORWARD_PORT_IN_USE");
    expect(inUse.stderr).toContain(`local port ${taken} is in use`);
    expect(await find(taken)).toBeUndefined();
    const dup = await forward("add", String(localPort), "--session", sshd.target);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("ERR_FORWARD_DUPLICATE");
    expect((await list()).filter((f) => f.local === localPort)).toHaveLength(1);
  });

  it("local-to-remote brings a local server to the remote", async () => {
    const here = (localServer!.address() as { port: number }).port;
    const there = await freePort();
    const r = await forward(
      "add",
      String(here),
      String(there),
      "--session",
      sshd.target,
      "--direction",
      "local-to-remote",
    );
    expect(r.code, r.stderr).toBe(0);
    await until("the reverse forward is up", async () => (await find(here))?.status === "up");
    // Asynchronously: the server that answers runs in this process.
    const { stdout } = await execFileAsync("su", [
      "-s",
      "/bin/sh",
      "-c",
      `node -e 'fetch("http://127.0.0.1:${there}/").then((r) => r.text()).then(console.log)'`,
      sshd.user,
    ]);
    expect(stdout.trim()).toBe("local");
    const rm = await forward("rm", String(here));
    expect(rm.code, rm.stderr).toBe(0);
    await until("the reverse forward is gone", async () => (await find(here)) === undefined);
  }, 60_000);

  it("stopping the session stops its forwards; connecting again starts them", async () => {
    const pid = (await find(localPort))!.pid!;
    const s = await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env);
    expect(s.code, s.stderr).toBe(0);
    await until("the forward stopped", async () => (await find(localPort))?.status === "stopped");
    await until("its ssh ended", async () => !alive(pid));
    expect(await listening(localPort)).toBe(false);
    const c = await plus(["ssh", sshd.target, ...args], env);
    expect(c.code, c.stderr).toBe(0);
    await until("the forward is up again", async () => (await find(localPort))?.status === "up");
    expect(await get(localPort)).toBe(`hello from ${sshd.user}`);
  }, 120_000);

  it("a restart of plus restores the forwards of running sessions", async () => {
    const pid = (await find(localPort))!.pid!;
    const s = await plus(["stop", "--data-dir", dataDir], env);
    expect(s.code, s.stderr).toBe(0);
    await until("its ssh ended with plus", async () => !alive(pid));
    expect(await listening(localPort)).toBe(false);
    const c = await plus(["ssh", sshd.target, ...args], env);
    expect(c.code, c.stderr).toBe(0);
    await until(
      "the forward is up after the restart",
      async () => (await find(localPort))?.status === "up",
      60_000,
    );
    expect(await get(localPort)).toBe(`hello from ${sshd.user}`);
  }, 120_000);

  it("rm closes the port; removing the session removes its forwards", async () => {
    const rm = await forward("rm", String(localPort));
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toContain("removed");
    await until("the forward is gone", async () => (await find(localPort)) === undefined);
    await until("the port is closed", async () => !(await listening(localPort)));
    const again = await forward("rm", String(localPort));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ERR_FORWARD_NOT_FOUND");

    const other = await freePort();
    const add = await forward("add", String(other), String(remotePort), "--session", sshd.target);
    expect(add.code, add.stderr).toBe(0);
    const up = await until("the second forward is up", async () => {
      const v = await find(other);
      return v?.status === "up" ? v : undefined;
    });
    const r = await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    await until("the session is gone", async () => (await session()) === undefined, 60_000);
    await until("its forwards are gone", async () => (await list()).length === 0, 30_000);
    await until("their ssh ended", async () => !alive(up.pid!));
    expect(await listening(other)).toBe(false);
  }, 120_000);
});
