/**
 * Notices when a running workspace's container ends by itself: its init exits or is killed
 * (OOM included), or its monitor (conmon) goes away, which podman does not report. Three
 * sources, each only a sign that makes the runtime look (the runtime decides from `podman
 * inspect`): podman's `died` events (at once), the liveness of each container's init and
 * conmon processes in /proc (every `checkMs`; no podman process), and a periodic comparison
 * with `podman ps` (every `reconcileMs`), the safety net for anything missed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { containerName } from "../../shared/launchpad.js";
import type { Logger } from "../runtime/logger.js";
import {
  type ContainerState,
  inspectContainer,
  listContainers,
  type PodmanConfig,
  podmanGlobal,
} from "./system.js";

export interface ContainerWatchOptions {
  podman: PodmanConfig;
  hostId: string;
  log: Logger;
  /** The workspaces this host runs now. */
  running(): string[];
  /** Look at the workspace's container: it may have ended. */
  check(wsid: string): Promise<unknown>;
  /** How often init and conmon are looked for in /proc (default 2 s). */
  checkMs?: number;
  /** How often the running workspaces are compared with `podman ps` (default 30 s). */
  reconcileMs?: number;
}

/** A process as it is now: pid and start time (a reused pid is another process). */
interface Proc {
  pid: number;
  start: string;
}

async function procOf(pid: number): Promise<Proc | undefined> {
  if (!(pid > 0)) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return { pid, start: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

async function same(p: Proc): Promise<boolean> {
  return (await procOf(p.pid))?.start === p.start;
}

/** Whether `pid` is a conmon (the container monitor podman starts for each container). */
export async function isConmon(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/comm`, "utf8")).trim() === "conmon";
  } catch {
    return false;
  }
}

export class ContainerWatch {
  private events: ChildProcess | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Each watched container's id and its processes. */
  private readonly procs = new Map<string, { id: string; init: Proc; conmon?: Proc }>();
  private readonly checking = new Set<string>();
  private stopped = false;
  private restartMs = 500;

  constructor(private readonly o: ContainerWatchOptions) {}

  start(): void {
    this.listen();
    this.timers.push(
      setInterval(() => void this.checkProcesses(), this.o.checkMs ?? 2000),
      setInterval(() => void this.reconcile(), this.o.reconcileMs ?? 30_000),
    );
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    const child = this.events;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    // Checks in flight finish (they hold the workspace's lock), so nothing runs after stop.
    while (this.checking.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  /** A sign about `wsid`: look once (signs that come while a look runs are the same look). */
  private poke(wsid: string, why: string): void {
    if (this.stopped || this.checking.has(wsid)) return;
    this.checking.add(wsid);
    this.o.log.debug({ wsid, why }, "checking the workspace's container");
    this.o
      .check(wsid)
      .catch((err) => this.o.log.warn({ wsid, err }, "container check failed"))
      .finally(() => {
        this.checking.delete(wsid);
        this.procs.delete(wsid);
      });
  }

  /** podman's `died` events of this host's containers, as they happen. */
  private listen(): void {
    if (this.stopped) return;
    const child = spawn(
      this.o.podman.podman,
      [
        ...podmanGlobal(this.o.podman),
        "events",
        "--format",
        "json",
        "--filter",
        `label=cocalc.host=${this.o.hostId}`,
        "--filter",
        "event=died",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.events = child;
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      this.restartMs = 500;
      try {
        const e = JSON.parse(line) as { Status?: string; Attributes?: Record<string, string> };
        const wsid = e.Attributes?.["cocalc.wsid"];
        if (e.Status === "died" && wsid) this.poke(wsid, "podman: died");
      } catch {
        // Not an event line.
      }
    });
    child.on("error", (err) => this.o.log.warn({ err }, "podman events did not start"));
    child.on("exit", (code, signal) => {
      if (this.stopped) return;
      // What happened while nobody listened is found by looking at every container.
      this.o.log.warn(
        { code, signal, stderr: stderr.trim() },
        "podman events ended; restarting it",
      );
      void this.reconcile();
      const t = setTimeout(() => this.listen(), this.restartMs);
      t.unref();
      this.restartMs = Math.min(this.restartMs * 2, 30_000);
    });
  }

  /** Init and conmon of every running workspace still there, from /proc. */
  private async checkProcesses(): Promise<void> {
    for (const wsid of this.o.running()) {
      if (this.stopped || this.checking.has(wsid)) continue;
      let p = this.procs.get(wsid);
      if (!p) {
        const c: ContainerState | undefined = await inspectContainer(
          this.o.podman,
          containerName(this.o.hostId, wsid),
        ).catch(() => undefined);
        const init = c?.running ? await procOf(c.pid) : undefined;
        if (!c || !init) {
          this.poke(wsid, "no running container");
          continue;
        }
        const conmon = c.conmonPid > 0 ? await procOf(c.conmonPid) : undefined;
        p = { id: c.id, init, ...(conmon && { conmon }) };
        this.procs.set(wsid, p);
        if (c.conmonPid > 0 && !conmon) this.poke(wsid, "conmon gone");
        continue;
      }
      if (!(await same(p.init))) this.poke(wsid, "init gone");
      else if (p.conmon && !(await same(p.conmon))) this.poke(wsid, "conmon gone");
    }
    // Forget workspaces that no longer run.
    const running = new Set(this.o.running());
    for (const wsid of this.procs.keys()) if (!running.has(wsid)) this.procs.delete(wsid);
  }

  /** Running workspaces without a running container of their own, by `podman ps`. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      const containers = await listContainers(this.o.podman, `cocalc.host=${this.o.hostId}`);
      for (const wsid of this.o.running()) {
        const c = containers.find((x) => x.labels["cocalc.wsid"] === wsid && x.running);
        if (!c) this.poke(wsid, "podman ps: not running");
      }
    } catch (err) {
      this.o.log.warn({ err }, "podman ps failed");
    }
  }
}
