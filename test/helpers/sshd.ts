/**
 * A real sshd on loopback with a second local user as the remote, for remote-session and
 * sync tests. Needs root (to create the user and run sshd) and /usr/sbin/sshd; otherwise
 * `skipReason()` says why and the tests skip. Our own sshd on a free port with a temp host
 * key and config; the client key pair lives in a temp dir; /root/.ssh is never touched.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../cli/version.js";
import { freePort } from "../../services/runtime/ports.js";

export const SSHD = "/usr/sbin/sshd";
/** The remote user the tests log in as. */
export const REMOTE_USER = "cocalc-remote";

/** Why sshd tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: cannot create the remote user or run sshd";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (spawnSync("ssh", ["-V"], { stdio: "ignore" }).status !== 0)
    return "ssh is missing (apt-get install openssh-client)";
  return undefined;
}

export interface RemoteUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Runs a user-database command, retrying while another test file holds the lock. */
function userCommand(cmd: string, args: string[], ok: () => boolean): void {
  for (let attempt = 0; ; attempt++) {
    if (ok()) return;
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status === 0 || ok()) return;
    if (attempt >= 50) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    spawnSync("sleep", ["0.1"]);
  }
}

function shadowOf(name: string): string | undefined {
  return readFileSync("/etc/shadow", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`))
    ?.split(":")[1];
}

function ensureUser(name: string): RemoteUser {
  userCommand(
    "useradd",
    ["-m", "-s", "/bin/bash", name],
    () => spawnSync("id", ["-u", name], { stdio: "ignore" }).status === 0,
  );
  // A new account is locked ("!" password); without PAM sshd refuses locked accounts even
  // for keys. "*" is "no password" without the lock.
  userCommand("usermod", ["-p", "*", name], () => shadowOf(name) === "*");
  const entry = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!entry) throw new Error(`user ${name} not found after useradd`);
  const [, , uid, gid, , home] = entry.split(":");
  return { name, uid: Number(uid), gid: Number(gid), home: home! };
}

export interface TestSshd {
  user: RemoteUser;
  port: number;
  dir: string;
  /** The client's private key. */
  key: string;
  destination: string;
  /** ssh and its options (no destination), through the ControlMaster socket once `master()` ran. */
  ssh: string[];
  /** Starts a ControlMaster for the target (as a session does); later ssh calls reuse it. */
  master(): Promise<void>;
  /** Runs a shell command as the remote user over ssh. */
  run(command: string): { code: number | null; stdout: string; stderr: string };
  /** Paths removed by stop(). */
  cleanup: string[];
  /** Makes everything under `path` (in the remote home) belong to the remote user. */
  chownRemote(path: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<TestSshd> {
  const user = ensureUser(REMOTE_USER);
  const dir = await mkdtemp(join(tmpdir(), "cocalc-sshd-"));
  const key = join(dir, "id_ed25519");
  const hostKey = join(dir, "host_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  const pub = readFileSync(`${key}.pub`, "utf8").trim();
  const sshDir = join(user.home, ".ssh");
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const auth = join(sshDir, "authorized_keys");
  // Appended (O_APPEND), never rewritten: test files running at once each add their key.
  const existing = existsSync(auth) ? readFileSync(auth, "utf8") : "";
  appendFileSync(auth, `${existing && !existing.endsWith("\n") ? "\n" : ""}${pub}\n`, {
    mode: 0o600,
  });
  await chown(sshDir, user.uid, user.gid);
  await chown(auth, user.uid, user.gid);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "AuthorizedKeysFile .ssh/authorized_keys",
      `AllowUsers ${user.name}`,
      "StrictModes no",
      "MaxSessions 100",
      "MaxStartups 100:30:200",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const sshd: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let sshdErr = "";
  sshd.stderr!.on("data", (d) => {
    sshdErr += d.toString();
  });
  const socket = join(dir, "control.sock");
  const base = [
    "ssh",
    "-p",
    String(port),
    "-i",
    key,
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    "-o",
    "LogLevel=ERROR",
  ];
  const destination = `${user.name}@127.0.0.1`;
  const t: TestSshd = {
    user,
    port,
    dir,
    key,
    destination,
    ssh: base,
    cleanup: [],
    async master() {
      const r = spawnSync(
        base[0]!,
        [
          ...base.slice(1),
          "-M",
          "-N",
          "-f",
          "-o",
          `ControlPath=${socket}`,
          "-o",
          "ControlPersist=yes",
          destination,
        ],
        { encoding: "utf8", timeout: 20_000 },
      );
      if (r.status !== 0) throw new Error(`ssh ControlMaster failed: ${r.stderr}`);
      t.ssh = [...base, "-o", `ControlPath=${socket}`];
    },
    run(command) {
      const r = spawnSync(t.ssh[0]!, [...t.ssh.slice(1), destination, command], {
        encoding: "utf8",
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    async chownRemote(path) {
      execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, join(user.home, path)]);
    },
    async stop() {
      if (existsSync(socket)) {
        spawnSync("ssh", ["-o", `ControlPath=${socket}`, "-O", "exit", destination], {
          stdio: "ignore",
          timeout: 10_000,
        });
      }
      sshd.kill("SIGTERM");
      for (const p of t.cleanup) rmSync(p, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
  // Wait until it answers.
  for (let i = 0; i < 100; i++) {
    const r = t.run("true");
    if (r.code === 0) return t;
    if (sshd.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await t.stop();
  throw new Error(`sshd did not come up: ${sshdErr}`);
}

/** Why the remote user cannot run Node over a non-interactive ssh, or undefined. */
export function nodeMissingReason(t: TestSshd): string | undefined {
  const r = t.run("command -v node && node --version");
  return r.code === 0 ? undefined : `node is not on the PATH of ${t.user.name} over ssh`;
}

/**
 * Installs the built plus bundle into the remote user's home the way `npm pack` lays it out
 * (`package.json` + `dist/bundle/`), under `~/.cache/cocalc/cocalc-plus/<version>/` as a session
 * would, and returns its plus.js relative to that home.
 */
export async function installBundle(t: TestSshd, version = `test-${process.pid}`): Promise<string> {
  const root = PACKAGE_ROOT;
  const rel = `.cache/cocalc/cocalc-plus/${version}`;
  const dest = join(t.user.home, rel);
  // One copy per test process: another one may be running from its own copy right now.
  t.cleanup.push(dest);
  mkdirSync(join(dest, "dist", "bundle"), { recursive: true });
  execFileSync("cp", ["-a", `${join(root, "dist", "bundle")}/.`, join(dest, "dist", "bundle")]);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    name: string;
    version: string;
    type: string;
  };
  writeFileSync(
    join(dest, "package.json"),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, type: pkg.type })}\n`,
  );
  execFileSync("chown", ["-R", `${t.user.uid}:${t.user.gid}`, join(t.user.home, ".cache")]);
  return `${rel}/dist/bundle/plus.js`;
}
