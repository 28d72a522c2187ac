/**
 * `cocalc-launchpad workspace exec|shell` against a real host process (btrfs on a loop
 * device, Debian's podman): output streams, stdin, exit codes, a terminal and its size, and
 * what an exec started ends with it (its client killed, a fork bomb that hits the pids limit).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type IPty, spawn as spawnPty } from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, type TestNats, until } from "../../test/helpers/nats.js";
import { byCommandLine } from "../../test/helpers/procs.js";

const BIN = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const HOST = "hostexec1";
const WS = "wsexec";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`launchpad exec tests skipped: ${unsupported}`);

/** A CLI run: its output so far, and its exit. */
interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  exit: Promise<number | null>;
}

/** Types `text` until `seen()`, waiting a little for an answer before typing it again. */
async function typeUntil(pty: IPty, text: string, seen: () => boolean): Promise<void> {
  for (let i = 0; i < 60; i++) {
    pty.write(text);
    for (let j = 0; j < 20; j++) {
      if (seen()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`no answer to ${JSON.stringify(text)}`);
}

describe.skipIf(unsupported !== undefined)("workspace exec and shell (real podman)", () => {
  let t: TestNats;
  let m: HostMachine;
  let host: ChildProcess | undefined;
  let dataDir: string;

  const cli = (args: string[], input?: string): Run => {
    const all = args.includes("--") ? args : [...args, "--data-dir", dataDir];
    const child = spawn(process.execPath, [BIN, ...all], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString();
    });
    if (input !== undefined) child.stdin!.end(input);
    const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    return { child, out: () => out, err: () => err, exit };
  };
  /** `--data-dir` goes before `--`: the CLI's flags end there. */
  const exec = (flags: string[], argv: string[], input?: string) =>
    cli(["workspace", "exec", WS, ...flags, "--data-dir", dataDir, "--", ...argv], input);
  const ok = async (args: string[]) => {
    const r = cli(args);
    const code = await r.exit;
    if (code !== 0) throw new Error(`${args.join(" ")}: ${code} ${r.out()} ${r.err()}`);
    return r.out();
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    dataDir = join(m.dir, "data");
    const seedFile = join(m.dir, "seed.nk");
    await writeFile(seedFile, `${t.seed}\n`, { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [
        BIN,
        "host",
        "--btrfs",
        m.root,
        "--nats",
        t.url,
        "--nats-seed-file",
        seedFile,
        "--host-id",
        HOST,
        "--data-dir",
        dataDir,
        "--snapshot-every",
        "0",
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("ready")) resolve();
      });
      child.stderr!.on("data", (b: Buffer) => {
        out += b.toString();
      });
      child.once("exit", (code) => reject(new Error(`host exited with ${code}: ${out}`)));
    });
    host = child;
    await ok(["image", "import", "bb", await m.rootfs("exec")]);
    await ok(["workspace", "create", WS, "--image", "bb", "--pids", "64"]);
    await ok(["workspace", "start", WS]);
  }, 180_000);

  afterAll(async () => {
    if (host && host.exitCode === null) {
      host.kill("SIGTERM");
      await new Promise((r) => host!.once("exit", r));
    }
    await m?.cleanup();
    await t?.cleanup();
  });

  it("output streams as it comes: the first line arrives while the command still runs", async () => {
    const r = exec(
      [],
      ["/bin/sh", "-c", "echo first; until [ -e /tmp/go ]; do sleep 0.1; done; echo second >&2"],
    );
    await until("first line", async () => r.out().includes("first"));
    // The command cannot have ended: it waits for /tmp/go, made only now.
    expect(r.child.exitCode).toBe(null);
    const go = exec([], ["touch", "/tmp/go"]);
    expect(await go.exit, go.err()).toBe(0);
    expect(await r.exit).toBe(0);
    expect(r.out()).toBe("first\n");
    expect(r.err()).toBe("second\n");
  });

  it("-i sends stdin; the exit code is the command's", async () => {
    const r = exec(["-i"], ["/bin/sh", "-c", "cat; exit 7"], "hello\nworld\n");
    expect(await r.exit).toBe(7);
    expect(r.out()).toBe("hello\nworld\n");
    // Without -i stdin is empty.
    const r2 = exec([], ["/bin/sh", "-c", "cat; echo done"], "ignored\n");
    expect(await r2.exit).toBe(0);
    expect(r2.out()).toBe("done\n");
  });

  it("large output arrives whole, in order", async () => {
    const r = exec([], ["/bin/sh", "-c", "seq 1 200000"]);
    expect(await r.exit).toBe(0);
    const lines = r.out().trimEnd().split("\n");
    expect(lines.length).toBe(200000);
    expect(lines[199999]).toBe("200000");
  });

  it("-it: a terminal of this terminal's size that follows its resizes; exit code", async () => {
    const pty = spawnPty(
      process.execPath,
      [BIN, "workspace", "exec", WS, "-it", "--data-dir", dataDir, "--", "/bin/sh"],
      { cols: 100, rows: 30, env: process.env as Record<string, string> },
    );
    let out = "";
    pty.onData((d) => {
      out += d;
    });
    const exit = new Promise<number>((r) => pty.onExit((e) => r(e.exitCode)));
    // Typed until the shell answers (podman drops what comes before it has the terminal).
    await typeUntil(pty, "stty size\r", () => /30 100/.test(out));
    pty.resize(120, 40);
    // The resize and the keystrokes travel apart: asked until the new size shows.
    await typeUntil(pty, "stty size\r", () => /40 120/.test(out));
    pty.write("tty; exit 3\r");
    expect(await exit).toBe(3);
    expect(out).toMatch(/\/dev\/pts\/\d+/);
  });

  it("workspace shell: a login shell in the home", async () => {
    const pty = spawnPty(process.execPath, [BIN, "workspace", "shell", WS, "--data-dir", dataDir], {
      cols: 80,
      rows: 24,
      env: process.env as Record<string, string>,
    });
    let out = "";
    pty.onData((d) => {
      out += d;
    });
    const exit = new Promise<number>((r) => pty.onExit((e) => r(e.exitCode)));
    await typeUntil(pty, "pwd\r", () => out.includes("/home/user"));
    pty.write("exit\r");
    expect(await exit).toBe(0);
  });

  it("exec -it without a terminal is refused with a reason", async () => {
    const r = exec(["-it"], ["/bin/sh"]);
    expect(await r.exit).toBe(1);
    expect(r.err()).toMatch(/needs a terminal/);
  });

  it("a killed client: the command and everything it started end inside", async () => {
    const r = exec(
      [],
      ["/bin/sh", "-c", "sleep 7101 & setsid sleep 7102 & echo started; sleep 7103"],
    );
    await until("started", async () => r.out().includes("started"));
    await until("three sleeps", async () =>
      ["7101", "7102", "7103"].every((n) => byCommandLine(["sleep", n]).length === 1),
    );
    r.child.kill("SIGKILL");
    await until(
      "the sleeps ended",
      async () => ["7101", "7102", "7103"].every((n) => byCommandLine(["sleep", n]).length === 0),
      40_000,
    );
  }, 60_000);

  it("--timeout: the command is killed, exit code 124, with the reason", async () => {
    const r = exec(["--timeout", "1"], ["/bin/sh", "-c", "echo started; sleep 7301"]);
    expect(await r.exit).toBe(124);
    expect(r.out()).toBe("started\n");
    expect(r.err()).toMatch(/timed out after 1 s/);
    await until("sleep 7301 ended", async () => byCommandLine(["sleep", "7301"]).length === 0);
  });

  it("a fork bomb that outlives its command hits the pids limit, ends with its exec, and later execs work", async () => {
    // The command returns once a fork was refused (builtins only: forks fail by then).
    const bomb =
      'b() { b | b & }; b; until read l < /sys/fs/cgroup/pids/pids.events; case "$l" in "max 0") false;; *) true;; esac; do :; done; echo limit hit';
    const r = exec([], ["/bin/sh", "-c", bomb]);
    expect(await r.exit).toBe(0);
    expect(r.out()).toMatch(/limit hit/);
    const after = exec([], ["/bin/sh", "-c", "cat /sys/fs/cgroup/pids/pids.events; echo alive"]);
    expect(await after.exit).toBe(0);
    expect(after.out()).toMatch(/alive/);
    // The limit held: forks were refused.
    expect(Number(/max (\d+)/.exec(after.out())?.[1])).toBeGreaterThan(0);
    // Nothing of the bomb is left: the container runs its init, its sleep and this exec.
    // Nothing of the bomb is left, zombies included: the container's pids are its init, its
    // sleep and this exec's few.
    const ps = exec(
      [],
      ["/bin/sh", "-c", "cat /proc/[0-9]*/cmdline; echo; cat /sys/fs/cgroup/pids/pids.current"],
    );
    expect(await ps.exit).toBe(0);
    expect(ps.out()).not.toMatch(/b\(\)/);
    expect(Number(ps.out().trim().split("\n").pop())).toBeLessThan(8);
  }, 60_000);

  it("processes an exec left running end when its command ends", async () => {
    const r = exec([], ["/bin/sh", "-c", "sleep 7201 & echo bye"]);
    expect(await r.exit).toBe(0);
    await until("sleep 7201 ended", async () => byCommandLine(["sleep", "7201"]).length === 0);
  });

  it("bad input: a coded error, nothing runs", async () => {
    const stopped = cli(["workspace", "exec", "nosuchws", "--data-dir", dataDir, "--", "true"]);
    expect(await stopped.exit).toBe(1);
    expect(stopped.err()).toMatch(/no such workspace/);
    const bad = cli([
      "workspace",
      "exec",
      WS,
      "--timeout",
      "soon",
      "--data-dir",
      dataDir,
      "--",
      "true",
    ]);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(/--timeout takes whole seconds/);
  });

  it("workspace quota: a running workspace's memory, cpus and pids change at once; list shows the limits", async () => {
    const limits = async () => {
      const r = exec(
        [],
        [
          "/bin/sh",
          "-c",
          "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max",
        ],
      );
      expect(await r.exit).toBe(0);
      return r.out().trim().split("\n");
    };
    await ok(["workspace", "quota", WS, "--memory-mb", "300", "--cpus", "0.5", "--pids", "48"]);
    expect(await limits()).toEqual([String(300 * 2 ** 20), "50000", "48"]);
    const list = await ok(["workspace", "list"]);
    expect(list).toMatch(/DISK USED\/LIMIT\s+HOME\s+SCRATCH\s+ROOT\s+MEMORY\s+CPUS\s+PIDS/);
    expect(list).toMatch(/\/2048 MB\s+.*\s300 MB\s+0\.5\s+48\s/);
    // Bad input changes nothing.
    const none = cli(["workspace", "quota", WS]);
    expect(await none.exit).toBe(2);
    expect(none.err()).toMatch(/needs --disk-mb, --memory-mb, --cpus or --pids/);
    const low = cli(["workspace", "quota", WS, "--pids", "5"]);
    expect(await low.exit).toBe(1);
    expect(low.err()).toMatch(/ERR_/);
    expect(await limits()).toEqual([String(300 * 2 ** 20), "50000", "48"]);
  });
});
