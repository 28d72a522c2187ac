/**
 * A nats-server child on a config file, supervised: spawned and awaited until it accepts
 * clients, restarted with backoff when it dies, restarted on demand (a JetStream stuck after
 * a full disk), stopped. Plus's server and the hub's operator-mode server are each one; what
 * differs between them (the config, the log's levels, the name) is given.
 *
 * Emits "exit" (code, signal), "restarted" (pid) after every restart, and "line" (each line
 * it logs).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { connect as tcpConnect } from "node:net";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "./logger.js";

const READY_TIMEOUT_MS = 30_000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000] as const;

export interface NatsProcessOptions {
  binary: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  /** Where it accepts clients once ready (probed before it counts as ready). */
  host: string;
  port: number;
  /** What it is called in the log and in errors ("nats-server"). */
  name: string;
  /** The level its line goes to our log at. */
  levelOf(line: string): "warn" | "info" | "debug";
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tcpReady(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export class NatsProcess extends EventEmitter {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private readonly recent: string[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** Once it was ready: a death before that is the failure of its start, told to the caller. */
  private started = false;

  constructor(
    private readonly p: NatsProcessOptions,
    protected readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines it logged, for an error message. */
  protected lastLines(n: number): string {
    return this.recent.slice(-n).join("\n");
  }

  /** Sends `signal` to the running child; false when none runs. */
  protected signal(signal: NodeJS.Signals): boolean {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return false;
    return child.kill(signal);
  }

  /** Spawns the server now (not after a turn of the event loop) and waits until it is ready. */
  protected spawnAndWait(): Promise<void> {
    let child: ChildProcess;
    try {
      child = spawn(this.p.binary, ["-c", this.p.configFile], {
        env: this.p.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      return Promise.reject(err);
    }
    this.child = child;
    let ready = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const onLine = (line: string) => {
      if (!line) return;
      this.recent.push(line);
      if (this.recent.length > 40) this.recent.shift();
      if (line.includes("Server is ready")) ready = true;
      this.emit("line", line);
      this.log[this.p.levelOf(line)]({ nats: line }, this.p.name);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        buf += chunk;
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) onLine(l);
      });
    }
    child.once("error", (err) => {
      this.recent.push(String(err));
      exited = { code: null, signal: null };
    });
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      this.onExit(child, code, signal);
    });
    return (async () => {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (exited) break;
        if (ready && (await tcpReady(this.p.host, this.p.port))) {
          this.log.info({ pid: child.pid, port: this.p.port }, `${this.p.name} ready`);
          this.started = true;
          return;
        }
        await sleep(ready ? 20 : 5);
      }
      if (!exited) child.kill("SIGKILL");
      throw new CocalcError(
        "ERR_NATS_SERVER_START",
        `${this.p.name} ${exited ? `exited (code ${exited.code}, signal ${exited.signal})` : "did not become ready"}:\n${this.lastLines(15)}`,
      );
    })();
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.emit("exit", code, signal);
    if (this.stopping || !this.started) return;
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)]!;
    this.failures++;
    this.log.error({ code, signal, restartInMs: delay }, `${this.p.name} died; restarting`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.spawnAndWait().then(
        () => {
          this.emit("restarted", this.child?.pid);
          // A server that stays up for a minute resets the backoff.
          setTimeout(() => {
            if (this.child === child) return;
            this.failures = 0;
          }, 60_000).unref();
        },
        (err) => this.log.error({ err }, `${this.p.name} restart failed`),
      );
    }, delay);
  }

  /**
   * Stops the running server and starts it again on the same config; resolves once it is
   * ready (then emits "restarted"). A JetStream that hit a full disk stays stuck after space
   * is freed (2.9.10: it no longer answers, and ignores SIGTERM), so after `graceMs` it is
   * killed: nats-server writes each message before acking, so nothing acked is lost.
   */
  async restart(graceMs = 2000): Promise<void> {
    if (this.stopping) return;
    const child = this.child;
    // Its exit is ours, not a crash: onExit ignores a child that is no longer this.child.
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await done;
      clearTimeout(timer);
    }
    if (this.stopping) return;
    this.log.warn({ pid: child?.pid }, `${this.p.name} restarted`);
    await this.spawnAndWait();
    this.emit("restarted", this.pid);
  }

  /** Stops the server: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  }
}
