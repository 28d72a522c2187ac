/**
 * Live watches of directories for the change feed. One fs.watch per directory, shared by
 * every client that looks at it; each client holds a lease it renews, and a directory
 * nobody renewed is no longer watched. Changes are gathered for WATCH_COALESCE_MS and then
 * reported once. This class owns every watcher it opens; stop() closes them all.
 */
import { type FSWatcher, watch } from "node:fs";
import { CocalcError } from "../../shared/errors.js";
import {
  type FsChange,
  UPLOAD_TEMP_PREFIX,
  WATCH_COALESCE_MS,
  WATCH_LEASE_MS,
} from "../../shared/files.js";
import type { Logger } from "../runtime/logger.js";

/** More names than this in one notification are reported as "everything may have changed". */
const MAX_NAMES = 200;
/** How often expired leases are looked for. */
const SWEEP_MS = 5_000;

interface Watched {
  dir: string;
  watcher: FSWatcher;
  leases: Map<string, number>;
  /** Names changed since the last notification; null = too many or unknown. */
  pending: Set<string> | null;
  timer: NodeJS.Timeout | undefined;
}

export interface WatchesOptions {
  publish(change: FsChange): void;
  log: Logger;
  now?: () => number;
  /** At most this many directories are watched at once. */
  maxDirs?: number;
  leaseMs?: number;
}

export class DirectoryWatches {
  private readonly dirs = new Map<string, Watched>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly maxDirs: number;
  private readonly leaseMs: number;
  private stopped = false;

  constructor(private readonly o: WatchesOptions) {
    this.now = o.now ?? Date.now;
    this.maxDirs = o.maxDirs ?? 512;
    this.leaseMs = o.leaseMs ?? WATCH_LEASE_MS;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Starts or renews `client`'s watch of `dir` (a canonical directory path); `renewed` says
   * whether the client held it already (else changes before now were not reported to it).
   */
  watch(dir: string, client: string): { expiresInMs: number; renewed: boolean } {
    if (this.stopped) throw new Error("watches are stopped");
    let w = this.dirs.get(dir);
    const renewed = w?.leases.has(client) ?? false;
    if (!w) {
      if (this.dirs.size >= this.maxDirs) {
        throw new CocalcError(
          "ERR_FS_WATCH",
          `already watching ${this.maxDirs} directories; ${dir} is listed without live updates`,
        );
      }
      w = this.open(dir);
      this.dirs.set(dir, w);
    }
    w.leases.set(client, this.now() + this.leaseMs);
    return { expiresInMs: this.leaseMs, renewed };
  }

  /** Ends `client`'s watch of `dir`, or of every directory; returns how many ended. */
  unwatch(client: string, dir?: string): number {
    let n = 0;
    for (const w of dir === undefined ? [...this.dirs.values()] : [this.dirs.get(dir)]) {
      if (w?.leases.delete(client)) n++;
      if (w && w.leases.size === 0) this.close(w);
    }
    return n;
  }

  /** The directories watched now (for tests and health). */
  watched(): string[] {
    return [...this.dirs.keys()];
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    for (const w of [...this.dirs.values()]) this.close(w);
  }

  private open(dir: string): Watched {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" || code === "EMFILE") {
        throw new CocalcError(
          "ERR_FS_WATCH",
          `the system's limit of watches is reached; ${dir} is listed without live updates`,
        );
      }
      throw err;
    }
    const w: Watched = { dir, watcher, leases: new Map(), pending: new Set(), timer: undefined };
    watcher.on("change", (_type, name) => this.changed(w, typeof name === "string" ? name : null));
    watcher.on("error", (err) => {
      // The directory went away (or cannot be watched any more): say so once, then stop.
      this.o.log.debug({ path: dir, err }, "watch ended");
      this.changed(w, null);
      this.flush(w);
      this.close(w);
    });
    return w;
  }

  private changed(w: Watched, name: string | null): void {
    if (name?.startsWith(UPLOAD_TEMP_PREFIX)) return;
    if (name === null || w.pending === null) w.pending = null;
    else if (w.pending.size >= MAX_NAMES) w.pending = null;
    else w.pending.add(name);
    w.timer ??= setTimeout(() => this.flush(w), WATCH_COALESCE_MS);
  }

  private flush(w: Watched): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    const names = w.pending === null ? null : [...w.pending];
    w.pending = new Set();
    if (names !== null && names.length === 0) return;
    try {
      this.o.publish({ dir: w.dir, names, at: new Date(this.now()).toISOString() });
    } catch (err) {
      this.o.log.warn({ path: w.dir, err }, "change not published");
    }
  }

  private close(w: Watched): void {
    if (this.dirs.get(w.dir) === w) this.dirs.delete(w.dir);
    clearTimeout(w.timer);
    w.timer = undefined;
    w.watcher.close();
  }

  private sweep(): void {
    const now = this.now();
    for (const w of [...this.dirs.values()]) {
      for (const [client, until] of w.leases) if (until <= now) w.leases.delete(client);
      if (w.leases.size === 0) this.close(w);
    }
  }
}
