/**
 * `cocalc-plus ssh` against a real sshd on loopback, with a second local user as the remote.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { remoteRegistry } from "../../services/remote/index.js";
import { freePort } from "../../services/runtime/ports.js";
import { type RemoteEvent, type RemoteSessionView, sessionIdOf } from "../../shared/remote.js";
import { remoteSubjects, Streams } from "../../shared/subjects.js";
import { until } from "../../test/helpers/nats.js";
import {
  inTerminal,
  PLUS_BIN,
  plusCommand as plus,
  plusEnv,
  removeHome,
  tempHome,
} from "../../test/helpers/plus.js";
import { hostFingerprint, type Sshd, sshdSkipReason, startSshd } from "../../test/helpers/sshd.js";
import { runningPid } from "../common/lock.js";
import { connectPlus } from "./client.js";

const skip = sshdSkipReason();
if (skip) console.warn(`skipping cocalc-plus ssh tests: ${skip}`);

/** Every process's argv, as one string each. */
function allArgv(): { pid: number; argv: string }[] {
  const out: { pid: number; argv: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push({
        pid: Number(name),
        argv: readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " "),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function userProcesses(user: string, pattern: RegExp): string[] {
  let out = "";
  try {
    out = execFileSync("ps", ["-u", user, "-o", "pid=,args="], { encoding: "utf8" });
  } catch {
    return [];
  }
  // A zombie is an exited process its (container) init has not reaped yet: not running.
  return out.split("\n").filter((l) => pattern.test(l) && !l.includes("<defunct>"));
}

/** A copy of the test's ssh config with `change` applied, in the sshd's directory. */
function sshConfig(t: Sshd, name: string, change: (text: string) => string): string {
  const file = join(t.dir, name);
  writeFileSync(file, change(readFileSync(t.config, "utf8")));
  return file;
}

/** Mounts a tmpfs of `size` over `dir` (owned by the remote user) and fills it to the last byte. */
function fullDisk(t: Sshd, dir: string, size = "1m"): () => void {
  t.asUser(`mkdir -p "${dir}"`);
  execFileSync("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${size},uid=${t.uid},gid=${t.gid}`,
    "tmpfs",
    dir,
  ]);
  return () => execFileSync("umount", ["-l", dir]);
}

function fill(dir: string): void {
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${join(dir, ".fill")}`, "bs=4k"], { stdio: "ignore" });
  } catch {
    // dd ends with "No space left on device": full, as wanted
  }
}

/** Every event of session `target` in the local plus's stream, oldest first. */
async function sessionEvents(dataDir: string, target: string): Promise<RemoteEvent[]> {
  const { nc } = await connectPlus(dataDir, "ssh test");
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(Streams.REMOTE, {
      filter_subjects: remoteSubjects(sessionIdOf(target)).session,
      deliver_policy: DeliverPolicy.All,
    });
    const out: RemoteEvent[] = [];
    const msgs = await consumer.fetch({ max_messages: 10_000, expires: 3000 });
    for await (const m of msgs) {
      out.push(remoteRegistry.parse(m.data));
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return res.status === 200;
  } catch {
    return false;
  }
}

describe.skipIf(skip !== undefined)("cocalc-plus ssh", () => {
  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let args: string[];

  const view = async (): Promise<RemoteSessionView | undefined> => {
    const r = await plus(["ssh", "list", "--json", "--data-dir", dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as RemoteSessionView[]).find((v) => v.target === sshd.target);
  };

  beforeAll(async () => {
    sshd = await startSshd();
    // A clean remote: no plus installed, no daemon, but an old version to be cleaned up.
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host"]);
    } catch {
      // nothing ran
    }
  }, 60_000);

  beforeAll(async () => {
    sshd.asUser(
      'rm -rf "$HOME/.cache/cocalc" "$HOME/.local/share/cocalc-plus"; mkdir -p "$HOME/.cache/cocalc/cocalc-plus/0.0.1-old/dist"',
    );
    home = await tempHome();
    dataDir = join(home, "data");
    // Retries of a failed session start at 100 ms (not 1 s), so giving up takes seconds.
    env = plusEnv(home, { COCALC_REMOTE_RETRY_MS: "100" });
    args = ["--no-open", "--data-dir", dataDir, ...sshd.sshArgs];
  });

  afterAll(async () => {
    if (!sshd) return;
    await plus(["stop", "--terminals", "--data-dir", dataDir], env);
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host"]);
    } catch {
      // none left
    }
    await sshd.stop();
    await removeHome(home);
  }, 60_000);

  it("--no-install on a host without plus fails with a clear message", async () => {
    const r = await plus(["ssh", sshd.target, "--no-install", ...args], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not installed on .*--no-install/);
    expect(r.stderr).toContain("ERR_REMOTE_NOT_INSTALLED");
    expect(userProcesses(sshd.user, /plus\.js/)).toEqual([]);
  }, 60_000);

  it("a wrong key is a clear authentication error with the ssh output", async () => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(sshd.dir, "bad_key")]);
    const bad = join(sshd.dir, "bad_config");
    writeFileSync(
      bad,
      readFileSync(sshd.config, "utf8").replace(
        /IdentityFile .*/,
        `IdentityFile ${join(sshd.dir, "bad_key")}`,
      ),
    );
    const r = await plus(
      ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, `--ssh-arg=-F${bad}`],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication failed/);
    expect(r.stderr).toContain("ERR_REMOTE_AUTH");
    expect(r.stderr).toMatch(/ssh said:[\s\S]*Permission denied/);
  }, 60_000);

  it("an unreachable host says so", async () => {
    const r = await plus(
      ["ssh", `nobody@127.0.0.1:1`, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/host unreachable/);
    expect(r.stderr).toContain("ERR_REMOTE_UNREACHABLE");
    await plus(["ssh", "rm", "nobody@127.0.0.1:1", "--data-dir", dataDir], env);
  }, 60_000);

  it("a --local-port in use is refused before anything starts on the remote", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    const before = await view();
    try {
      const r = await plus(["ssh", sshd.target, "--local-port", String(port), ...args], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`local port ${port} \\(--local-port\\) is in use by another program`),
      );
      expect(r.stderr).toContain("ERR_REMOTE_PORT");
      expect(userProcesses(sshd.user, /plus\.js/)).toEqual([]);
      // Refused as a command: nothing about the session changed.
      expect(await view()).toEqual(before);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, 60_000);

  it("an unknown host key names its fingerprint and the ssh command that accepts it", async () => {
    const knownHosts = join(sshd.dir, "unknown_known_hosts");
    writeFileSync(knownHosts, "");
    const config = sshConfig(sshd, "unknown_config", (t) =>
      t
        .replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${knownHosts}`)
        .replace(/StrictHostKeyChecking .*/, "StrictHostKeyChecking ask"),
    );
    const base = ["--no-open", "--data-dir", dataDir, `--ssh-arg=-F${config}`];
    const r = await plus(["ssh", sshd.target, ...base], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_REMOTE_HOST_KEY");
    expect(r.stderr).toMatch(
      new RegExp(`the host key of \\[127\\.0\\.0\\.1\\]:${sshd.port} is unknown to ssh`),
    );
    expect(r.stderr).toContain(`ED25519 key ${hostFingerprint(sshd)}`);
    expect(r.stderr).toContain("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    const accept = /connecting once in a terminal with `([^`]+)`/.exec(r.stderr)?.[1];
    expect(accept, r.stderr).toBe(
      `ssh -o BatchMode=no -o StrictHostKeyChecking=ask -F${config} -p ${sshd.port} ${sshd.user}@127.0.0.1 true`,
    );
    expect(userProcesses(sshd.user, /plus\.js/)).toEqual([]);
    // What it says works: that command, answered yes, makes the key known.
    const answered = await inTerminal(accept!, process.env, [[/\(yes\/no/, "yes\n"]]);
    expect(answered.stdout).toContain(hostFingerprint(sshd));
    expect(answered.code, answered.stdout).toBe(0);
    // Known now (ssh may have hashed the name): ssh-keygen -F finds it.
    const found = execFileSync("ssh-keygen", ["-F", `[127.0.0.1]:${sshd.port}`, "-f", knownHosts], {
      encoding: "utf8",
    });
    expect(found).toContain("ssh-ed25519");
  }, 60_000);

  it("a changed host key names the new fingerprint and the ssh-keygen -R that removes the old", async () => {
    const other = join(sshd.dir, "other_host_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const knownHosts = join(sshd.dir, "changed_known_hosts");
    const old = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${old}\n`);
    const config = sshConfig(sshd, "changed_config", (t) =>
      t.replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${knownHosts}`),
    );
    const r = await plus(
      ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, `--ssh-arg=-F${config}`],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_REMOTE_HOST_KEY");
    expect(r.stderr).toMatch(
      new RegExp(
        `the host key of \\[127\\.0\\.0\\.1\\]:${sshd.port} has changed: it is now the ED25519 key ${hostFingerprint(sshd).replace(/[+/]/g, "\\$&")}, not the one in ${knownHosts}:1`,
      ),
    );
    const remove = /remove the old key with `([^`]+)`/.exec(r.stderr)?.[1];
    expect(remove).toBe(`ssh-keygen -f "${knownHosts}" -R "[127.0.0.1]:${sshd.port}"`);
    expect(r.stderr).toMatch(/connecting once in a terminal with `ssh -o BatchMode=no/);
    // The line it gives removes the old key.
    execFileSync("sh", ["-c", remove!], { stdio: "ignore" });
    expect(readFileSync(knownHosts, "utf8")).not.toContain(old);
  }, 60_000);

  it("a full remote disk during the install says so in the headline", async () => {
    const cache = join(sshd.home, ".cache/cocalc");
    const unmount = fullDisk(sshd, cache, "2m");
    try {
      const r = await plus(["ssh", sshd.target, ...args], env);
      expect(r.code).toBe(1);
      const headline = r.stderr.split("\n").find((l) => l.startsWith("cocalc-plus ssh: "));
      expect(headline).toMatch(
        /^cocalc-plus ssh: the remote's disk is full \(No space left on device\): copying cocalc-plus to the remote failed; free space there/,
      );
      expect(headline).toContain("ERR_REMOTE_DISK_FULL");
      // The cut copy was removed: it does not keep the disk full.
      expect(sshd.asUser(`ls -A "${cache}/cocalc-plus"`).trim()).toBe("");
      expect(userProcesses(sshd.user, /plus\.js/)).toEqual([]);
    } finally {
      unmount();
    }
  }, 120_000);

  it("bad targets and flags are usage errors", async () => {
    for (const bad of [
      ["-oProxyCommand=x"],
      ["a@b@"],
      ["host:99999"],
      ["host", "--local-port", "0"],
    ]) {
      const r = await plus(["ssh", ...bad, "--data-dir", dataDir], env);
      expect(r.code, bad.join(" ")).toBe(2);
    }
  });

  let remotePid: number;
  let localPort: number;
  let token: string;

  it("the first connect installs, starts and forwards; the URL answers", async () => {
    const r = await plus(["ssh", sshd.target, ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/installing cocalc-plus/);
    const m = /ready: http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    localPort = Number(m![1]);
    token = m![2]!;
    const res = await fetch(`http://127.0.0.1:${localPort}/?token=${token}`, {
      redirect: "manual",
    });
    expect([200, 302, 303]).toContain(res.status);
    expect(await healthy(localPort)).toBe(true);
    // The local plus, where the sessions are managed, is named with its own sign-in URL.
    const local = /remote sessions: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=\S+)#remote/.exec(
      r.stderr,
    );
    expect(local, r.stderr).not.toBeNull();
    expect(await healthy(Number(local![2]))).toBe(true);

    const v = (await view())!;
    expect(v.status).toBe("running");
    expect(v.localPort).toBe(localPort);
    remotePid = v.remotePid!;
    // Installed into the versioned cache; the old version is gone.
    const installed = sshd.asUser('ls -A "$HOME/.cache/cocalc/cocalc-plus"').trim().split("\n");
    expect(installed).toEqual([v.localVersion]);
    // The native modules load there: terminals (node-pty), kernels (zeromq), sync (better-sqlite3).
    const loads = sshd.asUser(
      `cd "$HOME/.cache/cocalc/cocalc-plus/${v.localVersion}" && node -e 'for (const m of ["node-pty", "zeromq", "better-sqlite3"]) { require("./node_modules/" + m); console.log(m, "loads") }'`,
    );
    expect(loads).toBe("node-pty loads\nzeromq loads\nbetter-sqlite3 loads\n");
    // The daemon runs as the remote user, bound to 127.0.0.1 only, and its files are 0600.
    expect(userProcesses(sshd.user, new RegExp(`^\\s*${remotePid}\\s.*plus\\.js`))).toHaveLength(1);
    const listen = execFileSync("ss", ["-ltnH"], { encoding: "utf8" });
    const lines = listen.split("\n").filter((l) => l.includes(`:${v.remotePort} `));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toContain(`127.0.0.1:${v.remotePort}`);
    for (const f of ["token", "connection.json"]) {
      const path = join(sshd.home, ".local/share/cocalc-plus/ssh", f);
      expect((statSync(path).mode & 0o777).toString(8), f).toBe("600");
    }
    const info = JSON.parse(
      readFileSync(join(sshd.home, ".local/share/cocalc-plus/ssh/connection.json"), "utf8"),
    ) as Record<string, unknown>;
    expect(info).toMatchObject({ port: v.remotePort, pid: remotePid, version: v.localVersion });
    expect(typeof info.started).toBe("string");
  }, 180_000);

  it("the token is in no process's argv, local or remote", () => {
    const hits = allArgv().filter((p) => p.argv.includes(token));
    expect(hits).toEqual([]);
  });

  it("the same command again reuses the daemon and the port", async () => {
    const r = await plus(["ssh", sshd.target, ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reusing the running cocalc-plus/);
    expect(r.stdout).toContain(`http://127.0.0.1:${localPort}/?token=${token}`);
    const v = (await view())!;
    expect(v.remotePid).toBe(remotePid);
    expect(v.localPort).toBe(localPort);
  }, 60_000);

  it("a killed tunnel is restarted and the URL works again", async () => {
    const before = (await view())!;
    process.kill(before.tunnelPid!, "SIGKILL");
    await until(
      "the tunnel restarted",
      async () => {
        const v = await view();
        return v?.status === "running" && v.tunnelRestarts >= 1 && v.tunnelPid !== before.tunnelPid;
      },
      60_000,
    );
    await until("the URL answers again", () => healthy(localPort), 30_000);
    expect((await view())!.remotePid).toBe(remotePid);
  }, 90_000);

  it("ssh list and ssh status show the session", async () => {
    const l = await plus(["ssh", "list", "--data-dir", dataDir], env);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/TARGET\s+STATUS\s+LOCAL PORT\s+REMOTE VERSION\s+LAST USED/);
    expect(l.stdout).toContain(sshd.target);
    expect(l.stdout).toMatch(new RegExp(`running\\s+${localPort}`));
    const s = await plus(["ssh", "status", sshd.target, "--data-dir", dataDir], env);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/answers\s+yes/);
    expect(s.stdout).toContain(`remote pid      ${remotePid}`);
    const missing = await plus(
      ["ssh", "status", "nope@example.invalid", "--data-dir", dataDir],
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ERR_REMOTE_NOT_FOUND");
  }, 60_000);

  it("--verbose-ssh shows every ssh command", async () => {
    const r = await plus(["ssh", sshd.target, "--verbose-ssh", ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\$ ssh .*-S \S+ -o ControlMaster=no -- 127\.0\.0\.1 /);
    expect(r.stderr).not.toContain(token);
  }, 60_000);

  it("a restarted local plus brings the session back on the same port", async () => {
    expect((await plus(["stop", "--data-dir", dataDir], env)).code).toBe(0);
    expect(await healthy(localPort)).toBe(false);
    // Read while plus is down: from the file it keeps, without starting it.
    const l = await plus(["ssh", "list", "--data-dir", dataDir], env);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toMatch(/the local cocalc-plus is not running on .*no session is connected/);
    expect(l.stdout).toMatch(
      new RegExp(
        `${sshd.target.replace(/[.]/g, "\\.")}\\s+stopped \\(reconnects when plus starts\\)\\s+${localPort}`,
      ),
    );
    const s = await plus(["ssh", "status", sshd.target, "--data-dir", dataDir], env);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/answers\s+no \(the local cocalc-plus is not running\)/);
    expect(await view()).toMatchObject({ status: "stopped", desired: "running" });
    expect(await runningPid(dataDir)).toBeUndefined();
    const up = await plus(["--daemon", "--no-open", "--data-dir", dataDir], env);
    expect(up.code, up.stderr).toBe(0);
    await until(
      "the session runs again",
      async () => (await view())?.status === "running" && (await healthy(localPort)),
      60_000,
    );
    expect((await view())!.remotePid).toBe(remotePid);
  }, 120_000);

  it("another version on the remote: a clear warning, then --upgrade replaces it", async () => {
    const version = (await view())!.localVersion!;
    expect((await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env)).code).toBe(0);
    // An older plus, as if installed by an earlier cocalc-plus, runs on the remote.
    sshd.asUser(
      [
        'c="$HOME/.cache/cocalc/cocalc-plus"',
        `cp -a "$c/${version}" "$c/0.0.9"`,
        `sed -i 's/"version": "${version}"/"version": "0.0.9"/' "$c/0.0.9/package.json"`,
        's="$HOME/.local/share/cocalc-plus/ssh"',
        'cd "$HOME" && node "$c/0.0.9/dist/bundle/plus.js" --daemon --no-open --bind 127.0.0.1 --data-dir "$HOME/.local/share/cocalc-plus" --token-file "$s/token" --write-connection-info "$s/connection.json" --nats-server "$c/0.0.9/bin/nats-server" > /dev/null',
      ].join("; "),
    );
    const r = await plus(["ssh", sshd.target, ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/version mismatch: the remote runs cocalc-plus 0\.0\.9, this is/);
    expect(r.stderr).toMatch(/--upgrade/);
    const old = (await view())!;
    expect(old).toMatchObject({ remoteVersion: "0.0.9", versionMismatch: true });
    const l = await plus(["ssh", "list", "--data-dir", dataDir], env);
    expect(l.stdout).toContain(`0.0.9 (this is ${version})`);

    const u = await plus(["ssh", sshd.target, "--upgrade", ...args], env);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toMatch(/stopping cocalc-plus 0\.0\.9 on the remote to upgrade it/);
    const v = (await view())!;
    expect(v).toMatchObject({ remoteVersion: version, versionMismatch: false, status: "running" });
    expect(v.remotePid).not.toBe(old.remotePid);
    remotePid = v.remotePid!;
    expect(userProcesses(sshd.user, new RegExp(`^\\s*${old.remotePid}\\s`))).toEqual([]);
    expect(sshd.asUser('ls -A "$HOME/.cache/cocalc/cocalc-plus"').trim().split("\n")).toEqual([
      version,
    ]);
    expect(await healthy(v.localPort!)).toBe(true);
    localPort = v.localPort!;
    // The upgrade happened once: a restart of the local plus reconnects to what runs there.
    expect(v.mode.upgrade).toBe(false);
    expect((await plus(["stop", "--data-dir", dataDir], env)).code).toBe(0);
    expect((await plus(["--daemon", "--no-open", "--data-dir", dataDir], env)).code).toBe(0);
    await until(
      "the session runs again",
      async () => (await view())?.status === "running" && (await healthy(localPort)),
      60_000,
    );
    expect((await view())!.remotePid).toBe(remotePid);
  }, 240_000);

  it("--forward-only forwards to the running daemon and installs nothing", async () => {
    const r = await plus(["ssh", sshd.target, "--forward-only", ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reusing the running cocalc-plus/);
    expect((await view())!.remotePid).toBe(remotePid);
  }, 60_000);

  it("--identity and --proxy-jump reach the same daemon", async () => {
    // A config without the key: only --identity provides it.
    const noKey = join(sshd.dir, "nokey_config");
    writeFileSync(noKey, readFileSync(sshd.config, "utf8").replace(/ {2}IdentityFile .*\n/, ""));
    const id = join(sshd.dir, "client_key");
    const base = ["--no-open", "--data-dir", dataDir, `--ssh-arg=-F${noKey}`, "--identity", id];
    const r = await plus(["ssh", sshd.target, ...base], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reusing the running cocalc-plus/);
    // The same sshd as the jump host, under another name (ssh refuses a jump to itself).
    const jump = `${sshd.user}@localhost:${sshd.port}`;
    const j = await plus(["ssh", sshd.target, ...args, "--proxy-jump", jump, "--verbose-ssh"], env);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stderr).toContain(`-J ${jump} `);
    expect((await view())!.remotePid).toBe(remotePid);
    // Back to the plain options for what follows.
    expect((await plus(["ssh", sshd.target, ...args], env)).code).toBe(0);
  }, 90_000);

  it("a session whose reconnects keep failing backs off, gives up after 8 attempts and stays failed", async () => {
    // Its own config: a later ProxyCommand makes every new connection fail as a dead network does.
    const flaky = sshConfig(sshd, "flaky_config", (t) => t);
    const base = ["--no-open", "--data-dir", dataDir, `--ssh-arg=-F${flaky}`];
    expect((await plus(["ssh", sshd.target, ...base], env)).code).toBe(0);
    const up = (await view())!;
    // At LogLevel ERROR ssh says nothing at all for one of the two ways a closed proxy ends
    // ("banner exchange: … Broken pipe" is logged at INFO): the test's own config says ERROR.
    const dead = readFileSync(sshd.config, "utf8").replace(/LogLevel ERROR/g, "LogLevel INFO");
    // Whole or not at all (ssh reads it at each attempt): written beside, then renamed.
    const rewrite = (text: string) => {
      writeFileSync(`${flaky}.new`, text);
      renameSync(`${flaky}.new`, flaky);
    };
    rewrite(`${dead}  ProxyCommand false\n`);
    try {
      process.kill(up.tunnelPid!, "SIGKILL");
      let seen: RemoteSessionView | undefined;
      await until(
        "the session gave up",
        async () => {
          seen = await view();
          return seen?.status === "failed";
        },
        90_000,
      );
      expect(seen!.error, JSON.stringify(seen!.error)).toMatchObject({
        code: "ERR_REMOTE_UNREACHABLE",
        attempt: 8,
        maxAttempts: 8,
      });
      expect(seen!.error!.message).toMatch(
        new RegExp(
          `gave up after 8 attempts: connect it again with \`cocalc-plus ssh ${sshd.target.replace(/[.]/g, "\\.")}\``,
        ),
      );
      // The delays grew: each retry waited twice as long as the one before (up to 30 s).
      const events = await sessionEvents(dataDir, sshd.target);
      const gaveUp = events.findLastIndex(
        (e) => e.type === "SessionFailed" && /gave up/.test(e.data.message),
      );
      const retries = events
        .slice(0, gaveUp)
        .filter((e) => e.type === "TunnelExited" || e.type === "SessionFailed")
        .slice(-7)
        .map((e) => (e.data as { retryInMs?: number }).retryInMs);
      expect(retries).toEqual([100, 200, 400, 800, 1600, 3200, 6400]);

      // A start of the local plus does not try it again ...
      rewrite(readFileSync(sshd.config, "utf8"));
      expect((await plus(["stop", "--data-dir", dataDir], env)).code).toBe(0);
      expect((await plus(["--daemon", "--no-open", "--data-dir", dataDir], env)).code).toBe(0);
      expect((await view())!.status).toBe("failed");
      // ... its person does: the first thing the session records after it gave up is their connect.
      const again = await plus(["ssh", sshd.target, ...args], env);
      expect(again.code, again.stderr).toBe(0);
      const after = (await sessionEvents(dataDir, sshd.target)).slice(gaveUp + 1);
      expect(after[0]?.type).toBe("SessionConnectRequested");
      expect((await view())!.status).toBe("running");
    } finally {
      // What follows needs a running session, whatever happened above.
      rewrite(readFileSync(sshd.config, "utf8"));
      if ((await view())?.status !== "running") await plus(["ssh", sshd.target, ...args], env);
      localPort = (await view())!.localPort!;
    }
  }, 180_000);

  it("ssh stop leaves no remote process", async () => {
    const r = await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stopped cocalc-plus \(pid \d+\)/);
    expect(userProcesses(sshd.user, /plus\.js|nats-server|pty-host/)).toEqual([]);
    expect((await view())!.status).toBe("stopped");
    expect(await healthy(localPort)).toBe(false);
  }, 90_000);

  it("a full remote disk when the daemon starts says so in the headline, and leaves no process", async () => {
    const data = join(sshd.home, ".local/share/cocalc-plus");
    const unmount = fullDisk(sshd, data);
    try {
      // The token is there (as after an earlier start): the daemon itself meets the full disk.
      sshd.asUser(
        `mkdir -p "${data}/ssh" && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n' > "${data}/ssh/token"`,
      );
      fill(data);
      const r = await plus(["ssh", sshd.target, ...args], env);
      expect(r.code).toBe(1);
      const headline = r.stderr.split("\n").find((l) => l.startsWith("cocalc-plus ssh: "));
      expect(headline).toMatch(
        /^cocalc-plus ssh: the remote's disk is full \(No space left on device\): the remote cocalc-plus did not start; free space there/,
      );
      expect(headline).toContain("ERR_REMOTE_DISK_FULL");
      await until(
        "no cocalc-plus left on the remote",
        async () => userProcesses(sshd.user, /plus\.js|nats-server/).length === 0,
        30_000,
      );
    } finally {
      unmount();
    }
  }, 120_000);

  it("--forward-only with no daemon on the remote says so", async () => {
    const r = await plus(["ssh", sshd.target, "--forward-only", ...args], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--forward-only: no cocalc-plus daemon runs on the remote/);
    expect(r.stderr).toContain("ERR_REMOTE_DAEMON");
    expect(userProcesses(sshd.user, /plus\.js/)).toEqual([]);
  }, 60_000);

  it("no Node on the remote is a clear error", async () => {
    // A PATH with the usual tools but no node (sshd takes it from ~/.ssh/environment).
    const bin = join(sshd.dir, "nonode-bin");
    mkdirSync(bin, { mode: 0o755 });
    for (const tool of [
      "uname",
      "sed",
      "tr",
      "grep",
      "cat",
      "ls",
      "basename",
      "mkdir",
      "head",
      "od",
      "sleep",
      "rm",
    ])
      symlinkSync(
        execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(),
        join(bin, tool),
      );
    const envFile = join(sshd.home, ".ssh/environment");
    // No login shell to ask either (a shell that prints nothing).
    writeFileSync(envFile, `PATH=${bin}\nSHELL=/bin/false\n`, { mode: 0o600 });
    execFileSync("chown", [`${sshd.user}:`, envFile]);
    try {
      const r = await plus(["ssh", sshd.target, ...args], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no Node on the remote: `node` is not on the PATH/);
      expect(r.stderr).toContain("ERR_REMOTE_NO_NODE");
      expect((await view())!.status).toBe("failed");
      // Node is where a login shell finds it (its profile's PATH), as with nvm: found there.
      writeFileSync(envFile, `PATH=${bin}\nSHELL=/bin/sh\n`, { mode: 0o600 });
      const found = await plus(["ssh", sshd.target, ...args], env);
      expect(found.code, found.stderr).toBe(0);
      expect((await view())!.status).toBe("running");
      expect((await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env)).code).toBe(0);
    } finally {
      rmSync(envFile, { force: true });
    }
  }, 90_000);

  // The remote claims arm64; the CPU it really has (and npm builds for) is this machine's.
  it.skipIf(process.arch !== "x64")(
    "a remote of another CPU gets its native modules from npm and uses its own nats-server",
    async () => {
      // The remote's uname reports another CPU (first on its PATH via ~/.ssh/environment).
      const bin = join(sshd.dir, "arm-bin");
      mkdirSync(bin, { mode: 0o755 });
      writeFileSync(
        join(bin, "uname"),
        '#!/bin/sh\nif [ "$1" = "-m" ]; then echo aarch64; else /usr/bin/uname "$@"; fi\n',
        { mode: 0o755 },
      );
      const envFile = join(sshd.home, ".ssh/environment");
      // npm builds what has no prebuilt binary against the system's Node headers (no internet here).
      const remoteEnv = (path: string) => {
        writeFileSync(envFile, `PATH=${path}\nnpm_config_nodedir=/usr\n`, { mode: 0o600 });
        execFileSync("chown", [`${sshd.user}:`, envFile]);
      };
      const installed = join(sshd.home, ".cache/cocalc/cocalc-plus", (await view())!.localVersion!);
      try {
        // plus installs and runs there: node-pty and better-sqlite3 come from npm, zeromq's
        // binary for that CPU from this package, nats-server is the remote's (Debian's, in
        // /usr/sbin). What it says when one of those is missing: remote-host.unit.test.ts.
        sshd.asUser('rm -rf "$HOME/.cache/cocalc/cocalc-plus"');
        remoteEnv(`${bin}:/usr/local/bin:/usr/bin:/bin`);
        const up = await plus(["ssh", sshd.target, ...args], env);
        expect(up.code, up.stderr).toBe(0);
        expect(up.stderr).toMatch(
          /the remote is Linux aarch64: installing node-pty@\S+, better-sqlite3@\S+ there from the npm registry/,
        );
        expect(existsSync(join(installed, "node_modules/node-pty/build/Release/pty.node"))).toBe(
          true,
        );
        expect(
          existsSync(
            join(installed, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"),
          ),
        ).toBe(true);
        expect(readdirSync(join(installed, "node_modules/zeromq/build/linux"))).toEqual(["arm64"]);
        expect(existsSync(join(installed, "bin/nats-server"))).toBe(false);
        expect(
          readdirSync(installed).filter((f) => f.startsWith(".native") || f === ".npm.log"),
        ).toEqual([]);
        const v = (await view())!;
        expect(v.status).toBe("running");
        expect(await healthy(v.localPort!)).toBe(true);
      } finally {
        expect((await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env)).code).toBe(0);
        rmSync(envFile, { force: true });
        // The next connect installs this machine's layout again.
        sshd.asUser('rm -rf "$HOME/.cache/cocalc/cocalc-plus"');
      }
    },
    300_000,
  );

  it("ssh rm leaves no local ssh process and forgets the session", async () => {
    const [lp, rp] = [await freePort(), await freePort()];
    const up = await plus(
      ["ssh", sshd.target, "--local-port", String(lp), "--remote-port", String(rp), ...args],
      env,
    );
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/started cocalc-plus/);
    expect(up.stdout).toContain(`http://127.0.0.1:${lp}/?token=`);
    const v = (await view())!;
    expect([v.localPort, v.remotePort]).toEqual([lp, rp]);
    expect(allArgv().some((p) => p.pid === v.tunnelPid)).toBe(true);

    // A sync pair of the session goes through the session's ssh (no ssh options of its own).
    const local = join(home, "synced/proj");
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, "hello.txt"), "hello through the session");
    const sync = (...a: string[]) => plus(["sync", ...a, "--data-dir", dataDir], env);
    const added = await sync("add", "synced/proj", "--session", sshd.target);
    expect(added.code, added.stderr).toBe(0);
    const remoteFile = join(sshd.home, "synced/proj/hello.txt");
    await until("the file on the remote", async () => existsSync(remoteFile), 60_000);
    expect(readFileSync(remoteFile, "utf8")).toBe("hello through the session");
    expect((await sync("list")).stdout).toContain("synced/proj");

    const r = await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/its files were not touched/);
    expect(await view()).toBeUndefined();
    // Its pair went with it; the files stay on both sides.
    expect((await sync("list", "--json")).stdout.trim()).toBe("[]");
    expect(readFileSync(join(local, "hello.txt"), "utf8")).toBe("hello through the session");
    expect(existsSync(remoteFile)).toBe(true);
    sshd.asUser('rm -rf "$HOME/synced"');
    const ssh = allArgv().filter((p) => /^ssh /.test(p.argv) && p.argv.includes(String(sshd.port)));
    expect(ssh).toEqual([]);
    expect(userProcesses(sshd.user, /plus\.js|nats-server|pty-host/)).toEqual([]);
    // The remote user's files are still there.
    expect(sshd.asUser('ls -d "$HOME/.cache/cocalc/cocalc-plus"').trim()).not.toBe("");
  }, 120_000);

  it("--dry-run shows the ssh commands and runs nothing", async () => {
    const r = await plus(["ssh", sshd.target, "--dry-run", ...args], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nothing runs with --dry-run/);
    expect(r.stdout).toMatch(
      /ssh .*-O forward -L 127\.0\.0\.1:LOCAL_PORT:127\.0\.0\.1:REMOTE_PORT/,
    );
    expect(await view()).toBeUndefined();
  }, 60_000);

  it("uninstall removes the cache and keeps the data unless --purge", async () => {
    const out = sshd.asUser(
      `cd "$HOME" && node "$HOME/.cache/cocalc/cocalc-plus/"*/dist/bundle/plus.js uninstall 2>&1; ls -A "$HOME/.cache/cocalc" ; ls -d "$HOME/.local/share/cocalc-plus"`,
    );
    expect(out).toMatch(/removed the installed bundles and cache/);
    expect(out).toMatch(/kept the data/);
    expect(out).toMatch(/\.local\/share\/cocalc-plus/);
    const purge = sshd.asUser(
      'mkdir -p "$HOME/.cache/cocalc/cocalc-plus/x"; cd / && node ' +
        `${PLUS_BIN} uninstall --purge 2>&1; test -e "$HOME/.local/share/cocalc-plus" && echo "data: kept" || echo "data: gone"`,
    );
    expect(purge).toMatch(/removed the data \(--purge\)/);
    expect(purge).toContain("data: gone");
  }, 60_000);
});
