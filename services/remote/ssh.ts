/**
 * The OpenSSH client: one ControlMaster connection per target, and every other command
 * (probe, install, start, stop, forwards) multiplexed over its control socket. The master
 * is a child of this process, so ending a session ends its ssh, tunnels included.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { CocalcError, type ErrorCode } from "../../shared/errors.js";
import type { SessionOptions, SshTarget } from "../../shared/remote.js";

/** Unix socket paths are limited to about 104 bytes. */
const MAX_SOCKET_PATH = 100;
const MAX_OUTPUT = 32 * 1024;
/** ConnectTimeout is 15 s; authentication and a jump host get as long again. */
const MASTER_WAIT_MS = 45_000;

export interface SshResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Quotes `s` for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Removes what looks like a token from output that is shown or stored. */
export function redact(text: string): string {
  return text.replace(/token=[A-Za-z0-9_-]+/g, "token=[secret]");
}

function tail(text: string): string {
  return text.length > MAX_OUTPUT ? text.slice(-MAX_OUTPUT) : text;
}

/** What the remote says when a write found its disk (or the user's quota) full. */
const DISK_FULL = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/i;
/** What ssh says when it does not trust the remote's host key. */
export const HOST_KEY_FAILED =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i;

/** Turns ssh's stderr into an error a person understands; the ssh output stays attached. */
export function sshFailure(what: string, r: Pick<SshResult, "code" | "stderr" | "stdout">) {
  const out = redact(tail(`${r.stderr}${r.stdout ? `\n${r.stdout}` : ""}`.trim()));
  // Said first, in the headline: every later line of the output follows from it.
  if (DISK_FULL.test(out)) {
    const quota = /Disk quota exceeded|EDQUOT/i.test(out);
    return new CocalcError(
      "ERR_REMOTE_DISK_FULL",
      `the remote's ${quota ? "disk quota is used up (Disk quota exceeded)" : "disk is full (No space left on device)"}: ${what}; free space there (\`df -h ~\` on the remote shows what is left) and connect again`,
      { sshOutput: out },
    );
  }
  const rules: [RegExp, ErrorCode, string][] = [
    [
      /Permission denied|Too many authentication failures/i,
      "ERR_REMOTE_AUTH",
      "authentication failed: the remote refused the key or user",
    ],
    [
      HOST_KEY_FAILED,
      "ERR_REMOTE_HOST_KEY",
      "ssh could not verify the remote's host key (it is unknown, or it changed)",
    ],
    [
      /Could not resolve hostname|Name or service not known/i,
      "ERR_REMOTE_UNREACHABLE",
      "host unreachable: the host name does not resolve",
    ],
    [
      /Connection refused/i,
      "ERR_REMOTE_UNREACHABLE",
      "host unreachable: nothing accepts SSH connections on that port",
    ],
    [
      /timed out|No route to host|Network is unreachable/i,
      "ERR_REMOTE_UNREACHABLE",
      "host unreachable: the connection timed out",
    ],
    [
      /Connection closed|Connection reset|kex_exchange_identification|banner exchange|Broken pipe/i,
      "ERR_REMOTE_UNREACHABLE",
      "host unreachable: the connection was closed during the handshake",
    ],
  ];
  for (const [re, code, words] of rules) {
    if (re.test(out)) return new CocalcError(code, `${what}: ${words}`, { sshOutput: out });
  }
  return new CocalcError(
    "ERR_REMOTE_SSH",
    `${what}: ssh exited with code ${r.code}${out ? "" : " and no output"}`,
    { sshOutput: out },
  );
}

/** What ssh said about a host key it did not accept, read from its output. */
export interface HostKeyReport {
  /** The key changed (else: ssh has none for the host). */
  changed: boolean;
  /** The type of the key the remote presents, as ssh names it (ED25519, ECDSA, RSA). */
  keyType?: string;
  /** Its fingerprint as ssh prints it (SHA256:…). */
  fingerprint?: string;
  /** Where the old key is: `file:line` (a changed key). */
  offending?: string;
  /** ssh's own command that removes the old key (a changed key). */
  removeCommand?: string;
  /** The host as known_hosts names it (`[host]:port` for another port than 22). */
  host?: string;
}

const KEY_TYPES: Record<string, string> = {
  "ssh-ed25519": "ED25519",
  "ssh-rsa": "RSA",
  "rsa-sha2-256": "RSA",
  "rsa-sha2-512": "RSA",
};

/**
 * Reads a host key failure from ssh's output; `verbose` is the output of the same login with
 * -v, which names the key the remote presents ("Server host key: …") when ssh's failure does not.
 */
export function readHostKeyReport(out: string, verbose = ""): HostKeyReport {
  const report: HostKeyReport = { changed: /REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(out) };
  const sent =
    /The fingerprint for the (\S+) key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)/.exec(
      out,
    );
  if (sent) {
    report.keyType = sent[1]!;
    report.fingerprint = sent[2]!;
  } else {
    // A jump host's key comes first: the last one is the host whose key failed.
    const seen = [...verbose.matchAll(/Server host key: (\S+) (SHA256:[A-Za-z0-9+/]+)/g)].pop();
    if (seen) {
      const type = seen[1]!;
      report.keyType = KEY_TYPES[type] ?? (type.startsWith("ecdsa-") ? "ECDSA" : type);
      report.fingerprint = seen[2]!;
    }
  }
  const offending = /Offending \S+ key in (.+?):(\d+)\s*$/m.exec(out);
  if (offending) report.offending = `${offending[1]}:${offending[2]}`;
  const remove = /remove with:\s*\n\s*(ssh-keygen [^\n]+)/.exec(out);
  if (remove) report.removeCommand = remove[1]!.trim();
  const host =
    /Host key for (\S+) has changed/.exec(out) ??
    /No \S+ host key is known for (\S+) and/.exec(out);
  if (host) report.host = host[1]!;
  return report;
}

/** The host's public key file of a key type, where its admin finds the fingerprint. */
function hostKeyFile(keyType: string | undefined): string {
  const name = { ED25519: "ed25519", ECDSA: "ecdsa", RSA: "rsa" }[keyType ?? ""] ?? "ed25519";
  return `/etc/ssh/ssh_host_${name}_key.pub`;
}

/**
 * The error of a host key ssh did not accept: which key the remote presents (its fingerprint),
 * how to check that it is the host's, and the commands that accept it.
 */
export function hostKeyFailure(
  what: string,
  report: HostKeyReport,
  o: { host: string; accept: string; proxyJump?: string; sshOutput: string },
): CocalcError {
  const host = report.host ?? o.host;
  const key =
    report.fingerprint !== undefined
      ? `${report.keyType ? `${report.keyType} key ` : ""}${report.fingerprint}`
      : "a key ssh did not show";
  const check = `check that ${report.fingerprint ?? "it"} is the host's key (on the host, \`ssh-keygen -lf ${hostKeyFile(report.keyType)}\` prints it)`;
  const jump = o.proxyJump !== undefined ? ` (or of the jump host ${o.proxyJump})` : "";
  const message = report.changed
    ? `${what}: the host key of ${host}${jump} has changed: it is now the ${key}, not the one in ${report.offending ?? "known_hosts"}. Someone may be intercepting the connection, or the host was reinstalled; if you know it was, ${check}, remove the old key with \`${report.removeCommand ?? `ssh-keygen -R ${shq(host)}`}\`, then accept the new one by connecting once in a terminal with \`${o.accept}\` and answering yes, and connect again`
    : `${what}: the host key of ${host}${jump} is unknown to ssh: the remote presents the ${key}. ${check.charAt(0).toUpperCase()}${check.slice(1)}, then accept it by connecting once in a terminal with \`${o.accept}\` and answering yes, and connect again`;
  return new CocalcError("ERR_REMOTE_HOST_KEY", message, {
    sshOutput: o.sshOutput,
    ...(report.fingerprint !== undefined && { fingerprint: report.fingerprint }),
  });
}

/** The ssh output attached to an error made by sshFailure, if any. */
export function sshOutputOf(err: unknown): string | undefined {
  if (err instanceof CocalcError && typeof err.details?.sshOutput === "string")
    return err.details.sshOutput;
  return undefined;
}

export interface SshClientOptions {
  target: SshTarget;
  /** The canonical target text, for messages. */
  label: string;
  options: SessionOptions;
  /** Where the control socket lives (one per target). */
  controlDir: string;
  /** Called with each ssh command line before it runs (--verbose-ssh). */
  onCommand?: (line: string) => void;
  /** The ssh binary (default: ssh on PATH). */
  ssh?: string;
}

/** A control socket path short enough for a Unix socket. */
export function controlPath(controlDir: string, label: string): string {
  const name = createHash("sha256").update(label).digest("hex").slice(0, 16);
  let dir = controlDir;
  if (join(dir, name).length > MAX_SOCKET_PATH) {
    dir = join(tmpdir(), `cocalc-plus-ssh-${process.getuid?.() ?? "u"}`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, name);
}

export class SshClient {
  readonly socket: string;
  private master: ChildProcess | undefined;
  private masterExit: Promise<SshResult> | undefined;

  constructor(private readonly o: SshClientOptions) {
    this.socket = controlPath(o.controlDir, o.label);
  }

  get ssh(): string {
    return this.o.ssh ?? "ssh";
  }

  /** Options every ssh command gets: the user's own first (ssh uses the first value it sees). */
  private common(socket = true, batch = true): string[] {
    const { target, options } = this.o;
    const args: string[] = [...(options.sshArgs ?? [])];
    if (options.identity) args.push("-i", options.identity);
    if (options.proxyJump) args.push("-J", options.proxyJump);
    if (target.port !== undefined) args.push("-p", String(target.port));
    if (target.user !== undefined) args.push("-l", target.user);
    args.push(
      "-o",
      batch ? "BatchMode=yes" : "BatchMode=no",
      ...(batch ? [] : ["-o", "NumberOfPasswordPrompts=3"]),
      "-o",
      "ConnectTimeout=15",
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=3",
      ...(socket ? ["-S", this.socket] : ["-S", "none"]),
    );
    return args;
  }

  /**
   * The ssh command a person runs in a terminal to log in as this session does, where ssh may
   * ask (a host key, a password): the session's options, without BatchMode or the control socket.
   */
  interactiveCommand(): string {
    const { target, options } = this.o;
    const args = ["-o", "BatchMode=no", "-o", "StrictHostKeyChecking=ask"];
    args.push(...(options.sshArgs ?? []));
    if (options.identity) args.push("-i", options.identity);
    if (options.proxyJump) args.push("-J", options.proxyJump);
    if (target.port !== undefined) args.push("-p", String(target.port));
    args.push(target.user !== undefined ? `${target.user}@${target.host}` : target.host, "true");
    return this.describe(args);
  }

  /** The host as known_hosts names it. */
  private knownHostsName(): string {
    const { host, port } = this.o.target;
    return port !== undefined && port !== 22 ? `[${host}]:${port}` : host;
  }

  /**
   * The error of a master that exited: a host key ssh did not accept is explained with the
   * key's fingerprint, which an unknown key's failure does not print: a second login with -v
   * (no control socket, nothing run when it fails) reads it from ssh's debug output.
   */
  private async masterFailure(what: string, r: SshResult): Promise<CocalcError> {
    if (!HOST_KEY_FAILED.test(r.stderr)) return sshFailure(what, r);
    let report = readHostKeyReport(r.stderr);
    if (report.fingerprint === undefined) {
      const args = [
        "-v",
        ...this.common(false),
        "-o",
        "ControlMaster=no",
        "--",
        this.o.target.host,
        "true",
      ];
      const probe = await this.exec(args, { quiet: true });
      report = readHostKeyReport(r.stderr, probe.stderr);
    }
    return hostKeyFailure(what, report, {
      host: this.knownHostsName(),
      accept: this.interactiveCommand(),
      ...(this.o.options.proxyJump !== undefined && { proxyJump: this.o.options.proxyJump }),
      sshOutput: redact(tail(r.stderr.trim())),
    });
  }

  /**
   * The ssh program and options of a command another program runs (sync's agent, rsync's -e),
   * without the host: through the master while it runs; without one (the session reconnects, or
   * is stopped) ssh logs in by itself with the session's own options. Never holds a secret: the
   * options name files (an identity), not their contents.
   */
  commandWithoutHost(): string[] {
    return [this.ssh, ...this.common(), "-o", "ControlMaster=no", "--"];
  }

  /** The argv of an ssh command through the master; `--` keeps the host from being read as an option. */
  argv(extra: string[], command?: string): string[] {
    return [
      ...this.common(),
      "-o",
      "ControlMaster=no",
      ...extra,
      "--",
      this.o.target.host,
      ...(command !== undefined ? [command] : []),
    ];
  }

  /** The command line as a person would type it (for --verbose-ssh and --dry-run). */
  describe(args: string[]): string {
    return [this.ssh, ...args.map((a) => (/^[A-Za-z0-9_./@:=,+-]+$/.test(a) ? a : shq(a)))].join(
      " ",
    );
  }

  /** The pid of the master, if it runs. */
  get masterPid(): number | undefined {
    return this.master && this.master.exitCode === null && this.master.signalCode === null
      ? this.master.pid
      : undefined;
  }

  /** Settles when the master exits. */
  get exited(): Promise<SshResult> | undefined {
    return this.masterExit;
  }

  /** Is a master (ours, or one left by an earlier plus) answering on the socket? */
  async check(): Promise<boolean> {
    const r = await this.exec(this.argv(["-O", "check"]), { quiet: true });
    return r.code === 0;
  }

  /**
   * Starts the master connection and waits until it accepts commands. With `askpass` (a
   * person connects and can answer), ssh may ask for a password, a passphrase, a code or
   * whether to trust a new host key, through the askpass program of that environment; without
   * it ssh never asks (BatchMode) and fails instead.
   */
  async connect(
    o: { askpass?: { env: Record<string, string>; waitMs: number } } = {},
  ): Promise<void> {
    if (this.masterPid !== undefined && (await this.check())) return;
    // A master left behind by a plus that was killed: end it, so that the one we run is ours.
    if (existsSync(this.socket) && (await this.check()))
      await this.exec(this.argv(["-O", "exit"]), { quiet: true });
    // A socket left by a master that was killed makes a new master run without one.
    rmSync(this.socket, { force: true });
    const args = [
      ...this.common(true, o.askpass === undefined),
      "-o",
      "ControlMaster=yes",
      "-o",
      "ControlPersist=no",
      "-o",
      "ExitOnForwardFailure=no",
      "-N",
      "--",
      this.o.target.host,
    ];
    this.o.onCommand?.(this.describe(args));
    const child = spawn(this.ssh, args, {
      stdio: ["ignore", "ignore", "pipe"],
      detached: false,
      ...(o.askpass && { env: { ...process.env, ...o.askpass.env } }),
    });
    this.master = child;
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr = tail(stderr + d);
    });
    this.masterExit = new Promise<SshResult>((resolve) => {
      child.once("error", (err) =>
        resolve({ code: 127, signal: null, stdout: "", stderr: `${stderr}${String(err)}` }),
      );
      // Its last words may still be on their way when it exits (and a ProxyCommand it started
      // may hold its stderr open): they are waited for, a second at most.
      child.once("exit", (code, signal) => {
        const done = () => resolve({ code, signal, stdout: "", stderr });
        const err = child.stderr;
        if (!err || err.readableEnded || err.destroyed) return done();
        const timer = setTimeout(done, 1000);
        err.once("close", () => {
          clearTimeout(timer);
          done();
        });
      });
    });
    const exitedEarly = this.masterExit.then((r) => ({ exited: r }));
    // A person may take a while to answer what ssh asks.
    const deadline = Date.now() + MASTER_WAIT_MS + (o.askpass?.waitMs ?? 0);
    for (let i = 0; ; i++) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw sshFailure(
          `cannot connect to ${this.o.label}: no control connection after ${MASTER_WAIT_MS / 1000} s`,
          {
            code: null,
            stderr,
            stdout: "",
          },
        );
      }
      const state = await Promise.race([
        exitedEarly,
        new Promise<{ exited?: undefined }>((r) => setTimeout(() => r({}), i < 200 ? 15 : 200)),
      ]);
      if (state.exited)
        throw await this.masterFailure(`cannot connect to ${this.o.label}`, state.exited);
      // The master makes its socket once it is logged in: watch for it without spawning ssh.
      if (!existsSync(this.socket)) continue;
      if (await this.check()) return;
    }
  }

  /** Runs `command` through the master in the remote user's shell; `input` goes to its stdin. */
  run(
    command: string,
    opts: { input?: string | Readable; quiet?: boolean } = {},
  ): Promise<SshResult> {
    return this.exec(this.argv([], command), opts);
  }

  /** Runs a command and throws sshFailure(what) unless it exits with 0. */
  async must(what: string, command: string, input?: string | Readable): Promise<SshResult> {
    const r = await this.run(command, input === undefined ? {} : { input });
    if (r.code !== 0) throw sshFailure(what, r);
    return r;
  }

  /** Adds `127.0.0.1:localPort → remote 127.0.0.1:remotePort` to the master. */
  async forward(localPort: number, remotePort: number): Promise<void> {
    const spec = `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`;
    const r = await this.exec(this.argv(["-O", "forward", "-L", spec]));
    if (r.code !== 0) {
      const out = redact(`${r.stderr}${r.stdout}`.trim());
      throw new CocalcError(
        "ERR_REMOTE_PORT",
        `cannot forward local port ${localPort} to the remote port ${remotePort}${/bind|in use|failed/i.test(out) ? ": the local port is in use" : ""}`,
        { sshOutput: out },
      );
    }
  }

  /** Removes a forward that `forward` added (the daemon moved to another port). */
  async cancelForward(localPort: number, remotePort: number): Promise<void> {
    const spec = `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`;
    await this.exec(this.argv(["-O", "cancel", "-L", spec]));
  }

  /** Ends the master (and with it every forward), ours or one left behind. */
  async close(): Promise<void> {
    const child = this.master;
    if (await this.check()) await this.exec(this.argv(["-O", "exit"]), { quiet: true });
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const done = await Promise.race([
        this.masterExit?.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
      ]);
      if (!done) child.kill("SIGKILL");
      await this.masterExit;
    }
    this.master = undefined;
  }

  private exec(
    args: string[],
    opts: { input?: string | Readable; quiet?: boolean } = {},
  ): Promise<SshResult> {
    if (!opts.quiet) this.o.onCommand?.(this.describe(args));
    return new Promise((resolve) => {
      const child = spawn(this.ssh, args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8");
      child.stderr.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        stdout += d;
      });
      child.stderr.on("data", (d: string) => {
        stderr = tail(stderr + d);
      });
      child.stdin.on("error", () => undefined);
      child.once("error", (err) =>
        resolve({ code: 127, signal: null, stdout, stderr: `${stderr}${String(err)}` }),
      );
      child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
      if (opts.input === undefined) child.stdin.end();
      else if (typeof opts.input === "string") child.stdin.end(opts.input);
      else opts.input.pipe(child.stdin);
    });
  }
}
