/**
 * One app's process, supervised: spawned as a tree of its own where apps run (runner.ts: a
 * process group on plus's machine, a cgroup in a launchpad container), so that stopping it
 * ends everything it started; its output kept in a bounded log, reported running
 * once its port answers HTTP, failed when it does not in time, exited with its code when it
 * ends by itself. It is not restarted: the page shows the exit and offers Restart.
 */
import type { ChildProcess } from "node:child_process";
import {
  type AppConfig,
  type AppKind,
  AppPrograms,
  type AppRunEvent,
  appArgv,
  appPath,
} from "../../shared/apps.js";
import type { Logger } from "../runtime/logger.js";
import type { AppChild, AppRunner } from "./runner.js";

export type AppRunDecided = {
  [E in AppRunEvent as E["type"]]: Pick<E, "type" | "data">;
}[AppRunEvent["type"]];

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

/** Jupyter Notebook before 7 takes NotebookApp settings, 7 and later ServerApp ones. */
async function notebookSection(
  runner: AppRunner,
  binary: string,
): Promise<"NotebookApp" | "ServerApp"> {
  const major = Number(/^(\d+)\./.exec((await runner.output(binary, ["--version"])).trim())?.[1]);
  return major >= 7 ? "ServerApp" : "NotebookApp";
}

/** The program and argv an app is started with (`binary`: its program found where it runs). */
export async function appArgvFor(
  runner: AppRunner,
  config: AppConfig,
  binary: string | undefined,
): Promise<[string, string[]]> {
  const section =
    config.kind === "jupyter-notebook" ? await notebookSection(runner, binary!) : "ServerApp";
  const [file, args] = appArgv(config, binary ?? "", section);
  // Jupyter refuses to run as root without this (containers and CI run as root).
  const jupyter = config.kind === "jupyter-notebook" || config.kind === "jupyterlab";
  return [file, jupyter && runner.asRoot ? [...args, "--allow-root"] : args];
}

/** The program an app kind needs, found where apps run (undefined: not installed; `command` needs none). */
export async function programOf(
  runner: AppRunner,
  kind: AppKind,
): Promise<{ needed: boolean; path?: string }> {
  const program = AppPrograms[kind].program;
  if (program === undefined) return { needed: false };
  const path = (await runner.programs([program]))[program];
  return path ? { needed: true, path } : { needed: true };
}

export interface AppProcessOptions {
  runner: AppRunner;
  wsid: string;
  app: string;
  config: AppConfig;
  log: Logger;
  /** How long the port may take to answer before the app is failed. */
  readyTimeoutMs: number;
  emit(e: AppRunDecided): Promise<void>;
}

export class AppProcess {
  readonly output = new AppLog();
  private tree: AppChild | undefined;
  private child: ChildProcess | undefined;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  private starting: Promise<void> = Promise.resolve();

  constructor(private readonly o: AppProcessOptions) {}

  /** Is its process spawned and not yet exited? */
  get alive(): boolean {
    return this.child !== undefined;
  }

  /** Starts it; resolves once it is spawned (or failed to be). */
  start(binary: string | undefined): Promise<void> {
    this.starting = this.launch(binary).catch((err) =>
      this.fail(`could not start it: ${(err as Error).message}`),
    );
    return this.starting;
  }

  private async launch(binary: string | undefined): Promise<void> {
    const { config, log, runner } = this.o;
    const [file, args] = await appArgvFor(runner, config, binary);
    this.output.write(`$ ${[file, ...args].join(" ")}\n`);
    if (this.stopping) return;
    let tree: AppChild;
    try {
      tree = await runner.spawn(`${this.o.wsid}.${this.o.app}`, file, args, {
        cwd: config.cwd,
        env: { PORT: String(config.port) },
      });
    } catch (err) {
      await this.fail(`could not start ${file}: ${(err as Error).message}`);
      return;
    }
    const child = tree.child;
    this.tree = tree;
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
        void tree.end(0);
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
    const pid = tree.pid;
    if (pid === undefined) return;
    void this.o.emit({ type: "AppSpawned", data: { pid } }).then(
      () => this.waitReady(child, pid),
      (err) => log.warn({ err }, "app start not recorded"),
    );
  }

  private async waitReady(child: ChildProcess, pid: number): Promise<void> {
    const { config, runner } = this.o;
    const path = config.mount === "port" ? appPath("port", config.port) : "/";
    const deadline = Date.now() + this.o.readyTimeoutMs;
    let wait = 100;
    while (this.child === child && !this.stopping) {
      if (await runner.answersHttp(config.port, path)) {
        if (this.child === child && !this.stopping)
          await this.o.emit({ type: "AppRunning", data: { pid } });
        return;
      }
      if (Date.now() > deadline) {
        this.stopping = true;
        await this.tree?.end();
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

  /** Kills its process tree at once (the service's process is exiting and cannot wait). */
  killNow(): void {
    this.tree?.killNow();
  }

  /** Ends its process tree; resolves once it is gone (nothing is recorded: the caller did). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting;
    if (this.child !== undefined) await this.tree?.end();
    await this.exited;
  }
}
