/**
 * A real OpenSSH server on loopback for remote-mode tests, with a second local user as the
 * remote: the user is created if missing, a fresh key pair is authorised for it, and sshd
 * runs with its own host key and config (never the system's sshd or /root/.ssh).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../services/runtime/ports.js";

/** The remote user of the CLI tests; each test file uses its own user, so files can run at once. */
export const REMOTE_USER = "cocalcremote";
const SSHD = "/usr/sbin/sshd";

/** Why remote tests cannot run here, or undefined when they can. */
export function sshdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0)
    return "remote tests need root (to create a second user and run sshd)";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  try {
    execFileSync("ssh", ["-V"], { stdio: "ignore" });
  } catch {
    return "the ssh client is missing (apt-get install openssh-client)";
  }
  return undefined;
}

export interface Sshd {
  port: number;
  user: string;
  home: string;
  /** An ssh config file that logs in as the user with the test key; pass with --ssh-arg=-F<file>. */
  config: string;
  /** --ssh-arg values for cocalc-plus ssh. */
  sshArgs: string[];
  target: string;
  dir: string;
  /** Runs a shell command as the remote user (not over ssh). */
  asUser(command: string): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

export async function startSshd(user = REMOTE_USER): Promise<Sshd> {
  try {
    run("id", ["-u", user]);
  } catch {
    run("useradd", ["-m", "-s", "/bin/bash", user]);
  }
  const home = run("getent", ["passwd", user]).split(":")[5]!;
  // sshd refuses a locked account ("!" in shadow) even for key logins: give it a star.
  run("usermod", ["-p", "*", user]);
  const dir = mkdtempSync(join(tmpdir(), "cocalc-sshd-"));
  run("chmod", ["755", dir]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  const sshDir = join(home, ".ssh");
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const pub = run("cat", [join(dir, "client_key.pub")]);
  writeFileSync(join(sshDir, "authorized_keys"), pub, { mode: 0o600 });
  run("chown", ["-R", `${user}:`, sshDir]);
  run("chmod", ["700", sshDir]);
  const port = await freePort();
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const sshdConfig = join(dir, "sshd_config");
  writeFileSync(
    sshdConfig,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      `AllowUsers ${user}`,
      "UsePAM no",
      "StrictModes no",
      "MaxSessions 100",
      "MaxStartups 100",
      "AllowTcpForwarding yes",
      // Lets a test give the remote user another PATH (~/.ssh/environment), e.g. one without node.
      "PermitUserEnvironment yes",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const config = join(dir, "ssh_config");
  writeFileSync(
    config,
    [
      "Host *",
      `  IdentityFile ${join(dir, "client_key")}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${join(dir, "known_hosts")}`,
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
  // Wait until it accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${err}`);
    try {
      execFileSync("ssh", ["-F", config, "-p", String(port), `${user}@127.0.0.1`, "true"], {
        stdio: "ignore",
        timeout: 5000,
      });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`sshd does not accept logins: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    user,
    home,
    config,
    sshArgs: [`--ssh-arg=-F${config}`],
    target: `${user}@127.0.0.1:${port}`,
    dir,
    asUser: (command) => run("su", ["-s", "/bin/sh", "-c", command, user]),
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => {
        if (child.exitCode !== null) r(undefined);
        else child.once("exit", r);
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
