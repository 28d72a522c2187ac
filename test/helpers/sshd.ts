/**
 * A real OpenSSH server on loopback for remote-session and sync tests, with a second local
 * user as the remote: the user is created if missing, a fresh key pair is authorised for it,
 * and sshd runs with its own host key and config on a free port (never the system's sshd or
 * /root/.ssh). Needs root and /usr/sbin/sshd; otherwise `sshdSkipReason()` says why and the
 * tests skip. Test files that run at once use different users, or share one safely: user
 * creation is retried while another file holds the lock, and keys are appended.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { chown } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../cli/common/version.js";
import { freePort } from "../../services/runtime/ports.js";

/** The remote user of the CLI tests; each test file uses its own user, so files can run at once. */
export const REMOTE_USER = "cocalcremote";
/** The remote user of the sync tests (they only add and remove their own folders). */
export const SYNC_REMOTE_USER = "cocalc-remote";
/**
 * The remote users of the sync tests that connect a session: it installs plus there, which
 * removes every other version (another test's bundle copy), so each has its own.
 */
export const SYNC_CLI_REMOTE_USER = "cocalcsynccli";
export const SYNC_E2E_REMOTE_USER = "cocalce2esync";
export const SSHD = "/usr/sbin/sshd";

/** Why remote tests cannot run here, or undefined when they can. */
export function sshdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0)
    return "remote tests need root (to create a second user and run sshd)";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (spawnSync("ssh", ["-V"], { stdio: "ignore" }).status !== 0)
    return "the ssh client is missing (apt-get install openssh-client)";
  return undefined;
}

export interface Sshd {
  port: number;
  /** The remote user's name. */
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** An ssh config file that logs in as the user with the test key; pass with --ssh-arg=-F<file>. */
  config: string;
  /** --ssh-arg values for cocalc-plus ssh. */
  sshArgs: string[];
  /** `user@127.0.0.1:port`, as `cocalc-plus ssh` takes it. */
  target: string;
  /** `user@127.0.0.1` (the port is in `ssh`). */
  destination: string;
  dir: string;
  /** The client's private key. */
  key: string;
  /** ssh and its options (no destination), through the ControlMaster socket once `master()` ran. */
  ssh: string[];
  /** Starts a ControlMaster for the target (as a session does); later ssh calls reuse it. */
  master(): Promise<void>;
  /** Runs a shell command as the remote user over ssh. */
  run(command: string): { code: number | null; stdout: string; stderr: string };
  /** Runs a shell command as the remote user (not over ssh). */
  asUser(command: string): string;
  /** Makes everything under `path` (in the remote home) belong to the remote user. */
  chownRemote(path: string): Promise<void>;
  /** Paths removed by stop(). */
  cleanup: string[];
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
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

function ensureUser(name: string): { uid: number; gid: number; home: string } {
  userCommand(
    "useradd",
    ["-m", "-s", "/bin/bash", name],
    () => spawnSync("id", ["-u", name], { stdio: "ignore" }).status === 0,
  );
  // sshd refuses a locked account ("!" in shadow) even for key logins: give it a star.
  userCommand("usermod", ["-p", "*", name], () => shadowOf(name) === "*");
  const entry = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!entry) throw new Error(`user ${name} not found after useradd`);
  const [, , uid, gid, , home] = entry.split(":");
  return { uid: Number(uid), gid: Number(gid), home: home! };
}

export async function startSshd(name = REMOTE_USER): Promise<Sshd> {
  // Checkouts that run remote tests at the same time give themselves distinct users.
  const user = `${name}${process.env.COCALC_TEST_USER_SUFFIX ?? ""}`;
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(user)) throw new Error(`bad test user name ${user}`);
  const { uid, gid, home } = ensureUser(user);
  const dir = mkdtempSync(join(tmpdir(), "cocalc-sshd-"));
  run("chmod", ["755", dir]);
  const key = join(dir, "client_key");
  const hostKey = join(dir, "host_key");
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const sshDir = join(home, ".ssh");
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const auth = join(sshDir, "authorized_keys");
  const pub = readFileSync(`${key}.pub`, "utf8").trim();
  // Appended (O_APPEND), never rewritten: test files running at once each add their key.
  const existing = existsSync(auth) ? readFileSync(auth, "utf8") : "";
  appendFileSync(auth, `${existing && !existing.endsWith("\n") ? "\n" : ""}${pub}\n`, {
    mode: 0o600,
  });
  await chown(sshDir, uid, gid);
  await chown(auth, uid, gid);
  run("chmod", ["700", sshDir]);
  const port = await freePort();
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const sshdConfig = join(dir, "sshd_config");
  writeFileSync(
    sshdConfig,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "AuthorizedKeysFile .ssh/authorized_keys",
      `AllowUsers ${user}`,
      "UsePAM no",
      "StrictModes no",
      "MaxSessions 100",
      "MaxStartups 100:30:200",
      "AllowTcpForwarding yes",
      // Lets a test give the remote user another PATH (~/.ssh/environment), e.g. one without node.
      "PermitUserEnvironment yes",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const knownHosts = join(dir, "known_hosts");
  const config = join(dir, "ssh_config");
  writeFileSync(
    config,
    [
      "Host *",
      `  IdentityFile ${key}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${knownHosts}`,
      "  StrictHostKeyChecking accept-new",
      "  BatchMode yes",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", sshdConfig], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  const socket = join(dir, "control.sock");
  const base = [
    "ssh",
    "-p",
    String(port),
    "-i",
    key,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "LogLevel=ERROR",
  ];
  const destination = `${user}@127.0.0.1`;
  const t: Sshd = {
    port,
    user,
    uid,
    gid,
    home,
    config,
    sshArgs: [`--ssh-arg=-F${config}`],
    target: `${destination}:${port}`,
    destination,
    dir,
    key,
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
    asUser: (command) => run("su", ["-s", "/bin/sh", "-c", command, user]),
    async chownRemote(path) {
      // A running pair may remove files meanwhile: those are no failure.
      const r = spawnSync("chown", ["-R", `${uid}:${gid}`, join(home, path)], { encoding: "utf8" });
      const problems = r.stderr
        .split("\n")
        .filter((l) => l.trim() && !/No such file or directory/.test(l));
      if (r.status !== 0 && (problems.length > 0 || r.error))
        throw new Error(`chown -R of ${path} failed: ${problems.join("; ") || r.error}`);
    },
    async stop() {
      if (existsSync(socket)) {
        spawnSync("ssh", ["-o", `ControlPath=${socket}`, "-O", "exit", destination], {
          stdio: "ignore",
          timeout: 10_000,
        });
      }
      child.kill("SIGTERM");
      await new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) r(undefined);
        else child.once("exit", r);
      });
      for (const p of t.cleanup)
        rmSync(p, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Wait until it accepts logins.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sshd exited: ${err}`);
    }
    if (t.run("true").code === 0) return t;
    if (Date.now() > deadline) {
      await t.stop();
      throw new Error(`sshd does not accept logins: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ends what a remote plus left running as `user` (its daemon, nats-server, terminals). */
export function endRemotePlus(user: string): void {
  try {
    execFileSync("pkill", ["-u", user, "-f", "plus.js|nats-server|pty-host"]);
  } catch {
    // none ran
  }
}

/** Why the remote user cannot run Node over a non-interactive ssh, or undefined. */
export function nodeMissingReason(t: Sshd): string | undefined {
  const r = t.run("command -v node && node --version");
  return r.code === 0 ? undefined : `node is not on the PATH of ${t.user} over ssh`;
}

/**
 * Installs the built plus bundle into the remote user's home the way `npm pack` lays it out
 * (`package.json` + `dist/bundle/`), under `~/.cache/cocalc/cocalc-plus/<version>/` as a session
 * would, and returns its plus.js relative to that home.
 */
export async function installBundle(t: Sshd, version = `test-${process.pid}`): Promise<string> {
  const root = PACKAGE_ROOT;
  const rel = `.cache/cocalc/cocalc-plus/${version}`;
  const dest = join(t.home, rel);
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
  execFileSync("chown", ["-R", `${t.uid}:${t.gid}`, join(t.home, ".cache")]);
  return `${rel}/dist/bundle/plus.js`;
}

/**
 * An ssh config for `t` that logs in with a new key protected by `passphrase` (authorized on the
 * remote) and knows no host key (StrictHostKeyChecking ask): ssh must ask for both.
 */
export function askingSshConfig(
  t: Sshd,
  name: string,
  passphrase: string,
): { config: string; knownHosts: string } {
  const key = join(t.dir, `${name}_key`);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-f", key]);
  const pub = readFileSync(`${key}.pub`, "utf8").trim();
  t.asUser(`echo '${pub}' >> "$HOME/.ssh/authorized_keys"`);
  const knownHosts = join(t.dir, `${name}_known_hosts`);
  writeFileSync(knownHosts, "");
  const config = join(t.dir, `${name}_config`);
  writeFileSync(
    config,
    readFileSync(t.config, "utf8")
      .replace(/IdentityFile .*/, `IdentityFile ${key}`)
      .replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${knownHosts}`)
      .replace(/StrictHostKeyChecking .*/, "StrictHostKeyChecking ask"),
  );
  return { config, knownHosts };
}

/** The fingerprint of the test sshd's host key, as ssh prints it. */
export function hostFingerprint(t: Sshd): string {
  const out = run("ssh-keygen", ["-lf", join(t.dir, "host_key.pub")]);
  return /SHA256:[A-Za-z0-9+/]+/.exec(out)![0];
}
