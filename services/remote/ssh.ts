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

/** Turns ssh's stderr into an error a person understands; the ssh output stays attached. */
export function sshFailure(what: string, r: Pick<SshResult, "code" | "stderr" | "stdout">) {
  const out = redact(tail(`${r.stderr}${r.stdout ? `\n${r.stdout}` : ""}`.trim()));
  const rules: [RegExp, ErrorCode, string][] = [
    [
      /Permission denied|Too many authentication failures/i,
      "ERR_REMOTE_AUTH",
      "authentication failed: the remote refused the key or user",
    ],
    [
      /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i,
      "ERR_REMOTE_AUTH",
      "the remote's host key could not be verified",
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
      /Connection closed|Connection reset|kex_exchange_identification/i,
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
  private common(): string[] {
    const { target, options } = this.o;
    const args: string[] = [...(options.sshArgs ?? [])];
    if (options.identity) args.push("-i", options.identity);
    if (options.proxyJump) args.push("-J", options.proxyJump);
    if (target.port !== undefined) args.push("-p", String(target.port));
    if (target.user !== undefined) args.push("-l", target.user);
    args.push(
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=15",
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=3",
      "-S",
      this.socket,
    );
    return args;
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

  /** Starts the master connection and waits until it accepts commands. */
  async connect(): Promise<void> {
    if (this.masterPid !== undefined && (await this.check())) return;
    // A master left behind by a plus that was killed: end it, so that the one we run is ours.
    if (existsSync(this.socket) && (await this.check()))
      await this.exec(this.argv(["-O", "exit"]), { quiet: true });
    // A socket left by a master that was killed makes a new master run without one.
    rmSync(this.socket, { force: true });
    const args = [
      ...this.common(),
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
    const child = spawn(this.ssh, args, { stdio: ["ignore", "ignore", "pipe"], detached: false });
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
      child.once("exit", (code, signal) => resolve({ code, signal, stdout: "", stderr }));
    });
    const exitedEarly = this.masterExit.then((r) => ({ exited: r }));
    const deadline = Date.now() + MASTER_WAIT_MS;
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
      if (state.exited) throw sshFailure(`cannot connect to ${this.o.label}`, state.exited);
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
