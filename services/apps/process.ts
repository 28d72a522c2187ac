/**
 * One app's process, supervised: spawned as the leader of a process group of its own (so that
 * stopping it ends everything it started), its output kept in a bounded log, reported running
 * once its port answers HTTP, failed when it does not in time, exited with its code when it
 * ends by itself. It is not restarted: the page shows the exit and offers Restart.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { request } from "node:http";
import { delimiter, join } from "node:path";
import {
  type AppConfig,
  type AppKind,
  AppPrograms,
  type AppRunEvent,
  appArgv,
  appPath,
} from "../../shared/apps.js";
import type { Logger } from "../runtime/logger.js";
import { userEnv } from "../runtime/user-env.js";

export type AppRunDecided = {
  [E in AppRunEvent as E["type"]]: Pick<E, "type" | "data">;
}[AppRunEvent["type"]];

/** The environment variable that marks a process as app `<wsid>.<app>` (found again after a crash). */
export const APP_MARK = "COCALC_PLUS_APP";

/** A bounded log of lines: the oldest fall out past `maxLines` or `maxBytes`. */
export class AppLog {
  private lines: string[] = [];
  private bytes = 0;
  private first = 0;
  private partial = "";

  constructor(
    private readonly maxLines = 5000,
    private readonly maxBytes = 1024 * 1024,
    private readonly maxLine = 4096,
  ) {}

  write(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? "";
    if (this.partial.length > this.maxLine) {
      parts.push(this.partial);
      this.partial = "";
    }
    for (const p of parts) this.push(p.length > this.maxLine ? `${p.slice(0, this.maxLine)}…` : p);
  }

  private push(line: string): void {
    this.lines.push(line);
    this.bytes += line.length + 1;
    while (this.lines.length > this.maxLines || this.bytes > this.maxBytes) {
      this.bytes -= this.lines.shift()!.length + 1;
      this.first++;
    }
  }

  /** Up to `limit` lines before line `before` (default: the newest), oldest first. */
  page(before?: number, limit = 200) {
    const next = this.first + this.lines.length;
    const end = Math.min(before ?? next, next);
    const start = Math.max(this.first, end - Math.max(1, Math.min(limit, 1000)));
    const lines = [];
    for (let n = start; n < end; n++) lines.push({ n, text: this.lines[n - this.first]! });
    if (before === undefined && this.partial !== "") lines.push({ n: next, text: this.partial });
    return { lines, first: this.first, next };
  }

  /** The last lines, as one text of at most `max` characters. */
  tail(max = 4000): string {
    const text = [...this.lines.slice(-40), this.partial].join("\n").trimEnd();
    return text.length > max ? text.slice(-max) : text;
  }
}

/** The full path of `program` on PATH, or undefined. */
export function findProgram(program: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, program);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Jupyter Notebook before 7 takes NotebookApp settings, 7 and later ServerApp ones. */
function notebookSection(binary: string): "NotebookApp" | "ServerApp" {
  const r = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 20_000 });
  const major = Number(/^(\d+)\./.exec(r.stdout?.trim() ?? "")?.[1]);
  return major >= 7 ? "ServerApp" : "NotebookApp";
}

/** The program and argv an app is started with (`binary`: its program found on PATH). */
export function appArgvFor(config: AppConfig, binary: string | undefined): [string, string[]] {
  const section = config.kind === "jupyter-notebook" ? notebookSection(binary!) : "ServerApp";
  const [file, args] = appArgv(config, binary ?? "", section);
  // Jupyter refuses to run as root without this (containers and CI run as root).
  const jupyter = config.kind === "jupyter-notebook" || config.kind === "jupyterlab";
  return [file, jupyter && process.getuid?.() === 0 ? [...args, "--allow-root"] : args];
}

/** The program an app kind needs, found on PATH (undefined: not installed; `command` needs none). */
export function programOf(kind: AppKind): { needed: boolean; path?: string } {
  const program = AppPrograms[kind].program;
  if (program === undefined) return { needed: false };
  const path = findProgram(program);
  return path ? { needed: true, path } : { needed: true };
}

/** Does something answer HTTP on 127.0.0.1:port at `path` (any status counts)? */
function answersHttp(port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

export interface AppProcessOptions {
  wsid: string;
  app: string;
  config: AppConfig;
  log: Logger;
  /** How long the port may take to answer before the app is failed. */
  readyTimeoutMs: number;
  emit(e: AppRunDecided): Promise<void>;
}

/** Ends the process group led by `pid` (TERM, then KILL after `graceMs`); resolves when it is gone. */
export async function endGroup(pid: number, graceMs = 5000): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone in between
    }
    while (alive()) await new Promise((r) => setTimeout(r, 20));
  }
}

export class AppProcess {
  readonly output = new AppLog();
  private child: ChildProcess | undefined;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: AppProcessOptions) {}

  /** Is its process spawned and not yet exited? */
  get alive(): boolean {
    return this.child !== undefined;
  }

  start(binary: string | undefined): void {
    const { config, log } = this.o;
    const [file, args] = appArgvFor(config, binary);
    this.output.write(`$ ${[file, ...args].join(" ")}\n`);
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: config.cwd,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...userEnv(),
          PORT: String(config.port),
          [APP_MARK]: `${this.o.wsid}.${this.o.app}`,
        },
      });
    } catch (err) {
      void this.fail(`could not start ${file}: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    child.stdout!.setEncoding("utf8").on("data", (d: string) => this.output.write(d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => this.output.write(d));
    this.exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        if (child.pid === undefined) {
          this.child = undefined;
          void this.fail(`could not start ${file}: ${err.message}`).finally(resolve);
        }
      });
      child.once("exit", (code, signal) => {
        this.child = undefined;
        this.output.write(`\n[exited ${signal ? `by ${signal}` : `with code ${code}`}]\n`);
        // What it started and left behind goes with it.
        const pid = child.pid;
        if (pid !== undefined) void endGroup(pid, 0);
        if (this.stopping) {
          resolve();
          return;
        }
        log.info({ app: this.o.app, code, signal }, "app exited");
        void this.o
          .emit({ type: "AppExited", data: { code, signal } })
          .catch((err) => log.warn({ err }, "app exit not recorded"))
          .finally(resolve);
      });
    });
    const pid = child.pid;
    if (pid === undefined) return;
    void this.o.emit({ type: "AppSpawned", data: { pid } }).then(
      () => this.waitReady(child, pid),
      (err) => log.warn({ err }, "app start not recorded"),
    );
  }

  private async waitReady(child: ChildProcess, pid: number): Promise<void> {
    const { config } = this.o;
    const path = config.mount === "port" ? appPath("port", config.port) : "/";
    const deadline = Date.now() + this.o.readyTimeoutMs;
    let wait = 100;
    while (this.child === child && !this.stopping) {
      if (await answersHttp(config.port, path)) {
        if (this.child === child && !this.stopping)
          await this.o.emit({ type: "AppRunning", data: { pid } });
        return;
      }
      if (Date.now() > deadline) {
        this.stopping = true;
        await endGroup(pid);
        await this.exited;
        await this.fail(
          `port ${config.port} did not answer HTTP within ${Math.round(this.o.readyTimeoutMs / 1000)} s`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 1000);
    }
  }

  private async fail(message: string): Promise<void> {
    this.output.write(`[${message}]\n`);
    await this.o
      .emit({
        type: "AppFailed",
        data: { code: "ERR_APP_START", message, logTail: this.output.tail() },
      })
      .catch((err) => this.o.log.warn({ err }, "app failure not recorded"));
  }

  /** Kills its process group at once (plus is exiting and cannot wait). */
  killNow(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Ends its process group; resolves once it is gone (nothing is recorded: the caller did). */
  async stop(): Promise<void> {
    this.stopping = true;
    const pid = this.child?.pid;
    if (pid !== undefined) await endGroup(pid);
    await this.exited;
  }
}
