/**
 * One forward's ssh process, supervised: started, watched until ssh says the forwarding is in
 * place, restarted with backoff when it dies, stopped on request.
 *
 * Each forward is its own `ssh -N -o ExitOnForwardFailure=yes` with the session's target and
 * options, not a forward added to the session's ControlMaster: OpenSSH keeps a forward that a
 * multiplexing client asked for in the master after that client exits, so no process would
 * own it, and a forward that dies could not be told from one that lives.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import type { ErrorCode } from "../../shared/errors.js";
import {
  type ForwardConfig,
  type ForwardRunEvent,
  listenPort,
  sshForwardArgs,
} from "../../shared/forwards.js";
import type { SessionOptions, SshTarget } from "../../shared/remote.js";
import type { Logger } from "../runtime/logger.js";

export type ForwardRunDecided = {
  [E in ForwardRunEvent as E["type"]]: Pick<E, "type" | "data">;
}[ForwardRunEvent["type"]];

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15_000, 30_000] as const;
/** A forward that stayed up this long starts its backoff from the beginning again. */
const STABLE_MS = 60_000;
/** Starts in a row that never came up before the forward is marked failed (until its session reconnects). */
const MAX_FAILED_STARTS = 8;
const MAX_ERROR_TEXT = 4000;

/** How a forward's ssh reaches the remote: the session's target and options. */
export interface ForwardSsh {
  target: SshTarget;
  options: SessionOptions;
  /** The ssh binary (default: ssh on PATH). */
  binary?: string;
}

/** The argv of a forward's ssh (without the binary). */
export function forwardArgv(ssh: ForwardSsh, config: ForwardConfig): string[] {
  const { target, options } = ssh;
  const args: string[] = [...(options.sshArgs ?? [])];
  if (options.identity) args.push("-i", options.identity);
  if (options.proxyJump) args.push("-J", options.proxyJump);
  if (target.port !== undefined) args.push("-p", String(target.port));
  if (target.user !== undefined) args.push("-l", target.user);
  args.push(
    // debug1 is where ssh says that a forwarding is in place.
    "-v",
    "-N",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    "ConnectTimeout=15",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    ...sshForwardArgs(config),
    "--",
    target.host,
  );
  return args;
}

const UP = /Local forwarding listening on |remote forward success for: listen /;

/** What went wrong, in words and with a code, from ssh's non-debug output. */
export function forwardFailure(
  config: ForwardConfig,
  output: string,
  r: { code: number | null; signal: string | null },
): { code: ErrorCode; message: string } {
  const out = output.trim().slice(-MAX_ERROR_TEXT);
  if (
    /bind.*Address already in use|cannot listen to port|Could not request local forwarding/i.test(
      out,
    )
  )
    return {
      code: "ERR_FORWARD_PORT_IN_USE",
      message: `local port ${config.local} is in use by another program`,
    };
  if (/remote port forwarding failed/i.test(out))
    return {
      code: "ERR_FORWARD_SSH",
      message: `the remote refused to listen on port ${config.remote} (in use there, or forwarding not allowed)`,
    };
  if (/Permission denied|Host key verification failed/i.test(out))
    return { code: "ERR_FORWARD_SSH", message: `ssh login failed: ${lastLine(out)}` };
  if (r.signal) return { code: "ERR_FORWARD_SSH", message: `ssh was killed by ${r.signal}` };
  return {
    code: "ERR_FORWARD_SSH",
    message: `ssh exited with code ${r.code}${out ? `: ${lastLine(out)}` : ""}`,
  };
}

function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines[lines.length - 1] ?? "";
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface ForwardProcessOptions {
  forward: string;
  config: ForwardConfig;
  ssh: ForwardSsh;
  /** Restarts so far (the view's count when plus starts again). */
  restarts: number;
  log: Logger;
  emit(e: ForwardRunDecided): Promise<void>;
}

export class ForwardProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stable: NodeJS.Timeout | undefined;
  private attempt = 0;
  private failedStarts = 0;
  private restarts: number;
  private wanted = false;
  private started = false;
  /** Started since the last stop: a stop is worth an event. */
  private live = false;

  constructor(private readonly o: ForwardProcessOptions) {
    this.restarts = o.restarts;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs the forward (again, after it gave up). */
  start(ssh?: ForwardSsh): void {
    if (ssh) this.o.ssh = ssh;
    if (this.wanted && (this.child || this.retry)) return;
    this.wanted = true;
    this.attempt = 0;
    this.failedStarts = 0;
    this.spawn();
  }

  private emit(e: ForwardRunDecided): void {
    void this.o
      .emit(e)
      .catch((err) =>
        this.o.log.warn({ forward: this.o.forward, err }, "forward event not published"),
      );
  }

  private spawn(): void {
    this.retry = undefined;
    if (!this.wanted) return;
    const { config } = this.o;
    const restarts = this.started ? ++this.restarts : this.restarts;
    this.started = true;
    this.live = true;
    const child = spawn(this.o.ssh.binary ?? "ssh", forwardArgv(this.o.ssh, config), {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    let output = "";
    let up = false;
    let partial = "";
    const markUp = () => {
      if (up || this.child !== child || child.pid === undefined) return;
      up = true;
      this.failedStarts = 0;
      this.o.log.info({ forward: this.o.forward, pid: child.pid, restarts }, "forward up");
      this.emit({ type: "ForwardUp", data: { pid: child.pid, restarts } });
      if (this.stable) clearTimeout(this.stable);
      this.stable = setTimeout(() => {
        this.attempt = 0;
      }, STABLE_MS);
      this.stable.unref();
    };
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      const lines = (partial + d).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (UP.test(line)) markUp();
        // Debug lines say how ssh got there; what went wrong is in the others.
        else if (!line.startsWith("debug")) output = `${output}${line}\n`.slice(-MAX_ERROR_TEXT);
      }
    });
    this.o.log.info({ forward: this.o.forward, pid: child.pid, restarts }, "forward starting");
    if (child.pid !== undefined)
      this.emit({ type: "ForwardStarted", data: { pid: child.pid, restarts } });
    // Where ssh's output is sent elsewhere (-E in the session's ssh options), a local listener tells.
    if (config.direction === "remote-to-local") {
      void (async () => {
        while (
          !up &&
          this.child === child &&
          child.exitCode === null &&
          child.signalCode === null
        ) {
          await new Promise((r) => setTimeout(r, 250));
          if (!up && this.child === child && (await accepts(listenPort(config)))) markUp();
        }
      })();
    }
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: string | null) => {
        if (this.child === child) this.child = undefined;
        resolve();
        if (!this.wanted) return;
        if (this.stable) clearTimeout(this.stable);
        const error = forwardFailure(config, output + partial, { code, signal });
        if (!up) this.failedStarts++;
        if (this.failedStarts >= MAX_FAILED_STARTS) {
          this.wanted = false;
          this.o.log.warn({ forward: this.o.forward, ...error }, "forward failed; giving up");
          this.emit({
            type: "ForwardExited",
            data: { ...(child.pid !== undefined && { pid: child.pid }), code, signal, error },
          });
          return;
        }
        const retryInMs = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
        this.o.log.warn(
          { forward: this.o.forward, pid: child.pid, code, signal, retryInMs },
          "forward exited; restarting",
        );
        this.emit({
          type: "ForwardExited",
          data: {
            ...(child.pid !== undefined && { pid: child.pid }),
            code,
            signal,
            error,
            retryInMs,
          },
        });
        this.retry = setTimeout(() => this.spawn(), retryInMs);
        this.retry.unref();
      };
      child.once("error", (err) => {
        output += String(err);
      });
      child.once("close", (code, signal) => done(code, signal));
    });
  }

  /** Ends the forward's process; `reason` goes into a ForwardStopped event when given. */
  async stop(reason?: string): Promise<void> {
    const wasLive = this.live;
    this.live = false;
    this.wanted = false;
    if (this.retry) clearTimeout(this.retry);
    if (this.stable) clearTimeout(this.stable);
    this.retry = undefined;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    if (reason !== undefined && wasLive)
      await this.o.emit({ type: "ForwardStopped", data: { reason } }).catch(() => undefined);
  }
}
