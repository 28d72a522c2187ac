/**
 * The sync engine of one pair: scan both sides, decide per path against the last synced
 * state, then conflicts (the loser's version renamed beside the path), deletes (only what the
 * state proves was synced, and only if unchanged since the scan), and copies with rsync in
 * batches. Every decision and transfer is reported as an event. Watches on both sides run a
 * cycle for the changed paths; a periodic full rescan is the safety net.
 */
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type BaseEntry,
  baseFrom,
  type CycleKind,
  conflictName,
  type DecidedItem,
  decidePath,
  MAX_DECIDED_ITEMS,
  type PairConfig,
  type PathDecision,
  pairMatcher,
  type SyncEntry,
  type SyncRunEvent,
  type SyncSide,
} from "../../shared/sync.js";
import type { Logger } from "../runtime/logger.js";
import { transfer } from "./rsync.js";
import { LocalSide, RemoteSide, type RemoteTarget, type TreeSide } from "./sides.js";
import type { SyncState } from "./state.js";
import { CODE_KIND, type TreeOp } from "./tree.js";

export interface EngineOptions {
  pair: string;
  config: PairConfig;
  target: RemoteTarget;
  state: SyncState;
  /** The local home (default: the user's). */
  home?: string;
  /** Publishes one event of the pair's log; awaited, so the log is in order. */
  emit(event: Uncommitted<SyncRunEvent>): Promise<void>;
  log: Logger;
  now?: () => Date;
  /** Most files and bytes per rsync run. */
  batchFiles?: number;
  batchBytes?: number;
  /** How often a full rescan runs while watching (default 5 minutes). */
  rescanMs?: number;
}

export interface CycleSummary {
  cycle: number;
  copied: number;
  deleted: number;
  conflicts: number;
  bytes: number;
  synced: number;
}

type Planned = { path: string; d: PathDecision; l?: SyncEntry; r?: SyncEntry; b?: BaseEntry };

function depth(p: string): number {
  let n = 0;
  for (const c of p) if (c === "/") n++;
  return n;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class PairEngine {
  readonly local: LocalSide;
  readonly remote: RemoteSide;
  private config: PairConfig;
  /** Each side's tree as of its last scan, and its .gitignore files. */
  private readonly trees = {
    local: new Map<string, SyncEntry>(),
    remote: new Map<string, SyncEntry>(),
  };
  private readonly gitignores = {
    local: new Map<string, string>(),
    remote: new Map<string, string>(),
  };
  /** The trees above are complete and every path in them was decided: rescans may be diffs. */
  private trusted = false;
  /** Something was left undone (a kept delete, a file rsync skipped): decide everything next time. */
  private leftover = false;
  private fullCycles = 0;
  /**
   * Paths this engine wrote in the last cycle: the next diff may not mention them (a scan
   * before our write saw nothing there), so they are decided again explicitly.
   */
  private dirty = new Set<string>();
  private readonly pendingPaths = new Set<string>();
  private fullWanted = false;
  private checkWanted = false;
  private running: Promise<void> | undefined;
  private stopped = true;
  private closers: (() => void)[] = [];
  private rescanTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private abort = new AbortController();
  private tempCleaned = false;
  private failures = 0;
  /** Settles when the cycle loop is idle (tests and "check now" wait on it). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: EngineOptions) {
    this.config = o.config;
    this.local = new LocalSide(o.config.local, o.home);
    this.remote = new RemoteSide(o.target, o.config.remote);
  }

  private get log() {
    return this.o.log;
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** New ignore patterns or preferred side: the next cycle is a full one. */
  reconfigure(config: PairConfig): void {
    this.config = config;
    this.trusted = false;
    this.fullWanted = true;
    if (!this.stopped) this.kick();
  }

  /** Starts watching both sides and runs a full cycle. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.fullWanted = true;
    this.kick();
    void this.startWatches();
    const rescanMs = this.o.rescanMs ?? 5 * 60_000;
    this.rescanTimer = setInterval(() => {
      this.fullWanted = true;
      this.kick();
    }, rescanMs);
    this.rescanTimer.unref();
  }

  /** Stops watching and cycling; a transfer in flight is stopped (its temp file stays in the temp dir). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.rescanTimer);
    clearTimeout(this.retryTimer);
    for (const c of this.closers) c();
    this.closers = [];
    this.abort.abort();
    await this.running?.catch(() => undefined);
    this.remote.close();
  }

  /** Asks for a deep comparison: every file hashed on both sides. */
  check(): void {
    this.checkWanted = true;
    this.kick();
  }

  /** Resolves when no cycle runs and none is wanted. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async startWatches(): Promise<void> {
    const onPaths = (paths: string[]) => {
      if (this.stopped) return;
      for (const p of paths) this.pendingPaths.add(p);
      this.kick();
    };
    try {
      this.closers.push(await this.local.watch(onPaths));
    } catch (err) {
      this.log.warn({ err: String(err) }, "local watch failed; relying on rescans");
    }
    const watchRemote = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const close = await this.remote.watch(onPaths, (err) => {
          if (this.stopped) return;
          this.log.warn({ err: String(err) }, "remote watch ended; restarting it");
          const t = setTimeout(() => {
            // Changes while it was down are found by a full cycle.
            this.fullWanted = true;
            this.kick();
            void watchRemote();
          }, 2000);
          t.unref();
        });
        if (this.stopped) close();
        else this.closers.push(close);
      } catch (err) {
        this.log.warn({ err: String(err) }, "remote watch failed; retrying");
        const t = setTimeout(() => void watchRemote(), 5000);
        t.unref();
      }
    };
    await watchRemote();
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (!this.stopped && (this.fullWanted || this.checkWanted || this.pendingPaths.size > 0)) {
        this.kick();
        return;
      }
      for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let kind: CycleKind;
      let paths: string[] | undefined;
      if (this.checkWanted) {
        kind = "check";
        this.checkWanted = false;
        this.fullWanted = false;
        this.pendingPaths.clear();
      } else if (this.fullWanted) {
        kind = "full";
        this.fullWanted = false;
        this.pendingPaths.clear();
      } else if (this.pendingPaths.size > 0) {
        paths = [...this.pendingPaths];
        this.pendingPaths.clear();
        // A changed .gitignore or a flood of changes: a full cycle is simpler and as fast.
        if (paths.length > 2000 || paths.some((p) => p.endsWith(".gitignore"))) {
          kind = "full";
          paths = undefined;
        } else kind = "watch";
      } else return;
      try {
        const s = await this.cycle(kind, paths);
        this.failures = 0;
        // Kept conflict copies exist on one side only: bring them across now.
        if (s.conflicts > 0) this.fullWanted = true;
      } catch (err) {
        this.failures++;
        if (this.stopped) return;
        const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6));
        this.log.warn({ err: String(err), retryMs: delay }, "sync cycle failed");
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.fullWanted = true;
          this.kick();
        }, delay);
        this.retryTimer.unref();
        return;
      }
    }
  }

  /** One cycle; `paths` restricts it to those paths and their subtrees. Exposed for tests and benchmarks. */
  async cycle(kind: CycleKind, paths?: string[]): Promise<CycleSummary> {
    const { pair, state } = this.o;
    const n = state.nextCycle(pair);
    try {
      this.leftover = false;
      const summary = await this.runCycle(n, kind, paths);
      // Every tenth rescan takes whole listings anyway: a safety net under the safety net.
      this.trusted = !this.leftover && (kind !== "full" || ++this.fullCycles % 10 !== 0);
      return summary;
    } catch (err) {
      this.trusted = false;
      const e = toErrorPayload(err);
      await this.o
        .emit({
          type: "SyncCycleFailed",
          data: { cycle: n, code: e.code, message: e.message.slice(0, 2000) },
        })
        .catch(() => undefined);
      throw err;
    }
  }

  private async runCycle(n: number, kind: CycleKind, paths?: string[]): Promise<CycleSummary> {
    const { pair, state } = this.o;
    const t0 = Date.now();
    if (!this.tempCleaned) {
      // What a killed transfer left behind goes first; the tree itself never had it.
      await Promise.all([
        this.local.apply([{ op: "clean-temp" }]),
        this.remote.apply([{ op: "clean-temp" }]),
      ]);
      this.tempCleaned = true;
    }
    // Rescans ask only for what changed since the previous one (a quiet tree sends nothing);
    // a check, a first cycle or one after a failure takes whole listings.
    const diff = kind === "full" && this.trusted;
    const req = {
      patterns: this.config.ignore,
      ...(paths ? { paths, gitignores: [...this.gitignoreUnion()] } : { diff }),
    };
    const [ls, rs] = await Promise.all([this.local.scan(req), this.remote.scan(req)]);
    if (!ls.rsync) {
      throw new CocalcError(
        "ERR_SYNC_RSYNC_MISSING",
        "rsync is not installed on this machine; install it (apt-get install rsync)",
      );
    }
    if (!rs.rsync) {
      throw new CocalcError(
        "ERR_SYNC_RSYNC_MISSING",
        `rsync is not installed on ${this.o.target.destination}; install it there (apt-get install rsync)`,
      );
    }
    // Which paths to decide: all of them after a whole listing, else what changed.
    let everything = !this.trusted || kind === "check";
    const changed = new Set<string>([...(paths ?? []), ...this.dirty]);
    this.dirty = new Set();
    for (const [side, res] of [
      ["local", ls],
      ["remote", rs],
    ] as const) {
      const tree = this.trees[side];
      const gi = this.gitignores[side];
      if (res.full) {
        tree.clear();
        gi.clear();
        everything = true;
      }
      for (const l of res.lines) {
        changed.add(l.p);
        if (l.k === "-") {
          tree.delete(l.p);
          gi.delete(l.p);
          // A folder that is gone takes its subtree along.
          const prefix = `${l.p}/`;
          for (const k of tree.keys()) {
            if (k.startsWith(prefix)) {
              tree.delete(k);
              changed.add(k);
            }
          }
          continue;
        }
        tree.set(l.p, {
          kind: CODE_KIND[l.k],
          size: l.s ?? 0,
          mtime: l.m ?? 0,
          ...(l.t !== undefined && { target: l.t }),
        });
        if (l.g !== undefined) gi.set(l.p, l.g);
      }
    }
    const Lt = this.trees.local;
    const Rt = this.trees.remote;
    const matcher = pairMatcher(this.config.ignore, this.gitignoreUnion());
    const big = changed.size > 5000;
    const base = everything || big ? state.load(pair) : state.loadUnder(pair, [...changed]);
    const all = everything
      ? new Set<string>([...Lt.keys(), ...Rt.keys(), ...base.keys()])
      : new Set<string>([...changed, ...[...base.keys()].filter((k) => !big || changed.has(k))]);
    if (!everything && paths) {
      for (const p of paths) {
        const prefix = `${p}/`;
        for (const k of base.keys()) if (k.startsWith(prefix)) all.add(k);
        for (const t of [Lt, Rt]) {
          if (t.get(p)?.kind === "dir")
            for (const k of t.keys()) if (k.startsWith(prefix)) all.add(k);
        }
      }
    }
    const planned: Planned[] = [];
    const hashLocal: string[] = [];
    const hashRemote: string[] = [];
    for (const path of all) {
      const l = Lt.get(path);
      const r = Rt.get(path);
      const b = base.get(path);
      const isDir = (l ?? r ?? b)?.kind === "dir";
      if (matcher.ignored(path, isDir)) continue;
      if (kind === "check") {
        if (l?.kind === "file") hashLocal.push(path);
        if (r?.kind === "file") hashRemote.push(path);
      } else {
        if (l?.kind === "file" && r?.kind === "file" && l.size === r.size && l.mtime !== r.mtime) {
          hashLocal.push(path);
          hashRemote.push(path);
        } else {
          // A touch with the same bytes is not a change: the hash tells.
          if (l?.kind === "file" && b?.hash && l.size === b.size && l.mtime !== b.localMtime)
            hashLocal.push(path);
          if (r?.kind === "file" && b?.hash && r.size === b.size && r.mtime !== b.remoteMtime)
            hashRemote.push(path);
        }
      }
      planned.push({
        path,
        d: { action: "none" },
        ...(l && { l }),
        ...(r && { r }),
        ...(b && { b }),
      });
    }
    await Promise.all([
      this.hashInto(this.local, hashLocal, Lt),
      this.hashInto(this.remote, hashRemote, Rt),
    ]);
    for (const p of planned) {
      p.d = decidePath(p.l, p.r, p.b, this.config.prefer);
    }

    const copies: Record<SyncSide, Planned[]> = { local: [], remote: [] };
    const deletes: Record<SyncSide, Planned[]> = { local: [], remote: [] };
    const conflicts: Planned[] = [];
    const puts: [string, BaseEntry][] = [];
    const forgets: string[] = [];
    const items: DecidedItem[] = [];
    let pendingBytes = 0;
    for (const p of planned) {
      const d = p.d;
      switch (d.action) {
        case "none":
          break;
        case "record":
          puts.push([p.path, baseFrom(p.l!, p.r!)]);
          break;
        case "forget":
          forgets.push(p.path);
          break;
        case "copy": {
          copies[d.from].push(p);
          const e = (d.from === "local" ? p.l : p.r)!;
          pendingBytes += e.size;
          items.push(this.item(p, "copy", d.reason, d.from, e.size));
          break;
        }
        case "delete":
          deletes[d.on].push(p);
          items.push(this.item(p, "delete", d.reason, d.on));
          break;
        case "conflict": {
          conflicts.push(p);
          const e = (d.winner === "local" ? p.l : p.r)!;
          pendingBytes += e.size;
          items.push(this.item(p, "conflict", d.reason, d.winner, e.size));
          break;
        }
        default: {
          const never: never = d;
          return never;
        }
      }
    }
    const pendingFiles = items.length;
    await this.o.emit({
      type: "SyncCycleStarted",
      data: {
        cycle: n,
        kind,
        localEntries: Lt.size,
        remoteEntries: Rt.size,
        pendingFiles,
        pendingBytes,
      },
    });
    for (const chunk of chunks(items, MAX_DECIDED_ITEMS)) {
      await this.o.emit({ type: "SyncDecided", data: { cycle: n, items: chunk } });
    }
    state.write(pair, puts, forgets);

    // Conflicts: the loser's version moves aside on its side, then the winner's is copied over.
    const at = this.now();
    let conflictCount = 0;
    for (const side of ["local", "remote"] as const) {
      const mine = conflicts.filter((p) => p.d.action === "conflict" && p.d.winner !== side);
      if (mine.length === 0) continue;
      const renames = mine.map((p) => ({
        op: "rename" as const,
        p: p.path,
        to: conflictName(p.path, side, at),
      }));
      const results = await this.sideOf(side).apply(renames);
      for (let i = 0; i < mine.length; i++) {
        const p = mine[i]!;
        const r = results[i];
        if (!r?.ok) {
          this.log.warn(
            { path: p.path, why: r && !r.ok ? r.why : "no answer" },
            "conflict copy not kept",
          );
          continue;
        }
        conflictCount++;
        this.dirty.add(p.path);
        this.dirty.add(renames[i]!.to);
        const winner = side === "local" ? "remote" : "local";
        copies[winner].push(p);
        await this.o.emit({
          type: "SyncConflictKept",
          data: {
            cycle: n,
            path: p.path,
            winner,
            keptAs: renames[i]!.to,
            reason: p.d.action === "conflict" ? p.d.reason : "both-changed",
            ...(p.l && { localSize: p.l.size }),
            ...(p.r && { remoteSize: p.r.size }),
            ...(p.l?.hash && { localHash: p.l.hash }),
            ...(p.r?.hash && { remoteHash: p.r.hash }),
          },
        });
      }
    }

    // Deletes: files first, then folders deepest first (a folder goes only when empty).
    let deleted = 0;
    for (const side of ["local", "remote"] as const) {
      const list = deletes[side];
      if (list.length === 0) continue;
      const on = (p: Planned) => (side === "local" ? p.l : p.r)!;
      list.sort((a, b) => {
        const ad = on(a).kind === "dir";
        const bd = on(b).kind === "dir";
        return ad === bd ? depth(b.path) - depth(a.path) : ad ? 1 : -1;
      });
      const ops: TreeOp[] = list.map((p) => {
        const e = (side === "local" ? p.l : p.r)!;
        return {
          op: "delete",
          p: p.path,
          k: e.kind === "file" ? "f" : e.kind === "dir" ? "d" : "l",
          s: e.size,
          m: e.mtime,
        };
      });
      const results = await this.sideOf(side).apply(ops);
      const gone: string[] = [];
      const kept: string[] = [];
      results.forEach((r, i) => {
        const p = list[i]!.path;
        (r?.ok ? gone : kept).push(p);
      });
      deleted += gone.length;
      for (const g of gone) this.dirty.add(g);
      if (kept.length > 0) this.leftover = true;
      state.write(pair, [], gone);
      for (let i = 0; i < Math.max(gone.length, kept.length); i += MAX_DECIDED_ITEMS) {
        await this.o.emit({
          type: "SyncDeleted",
          data: {
            cycle: n,
            on: side,
            paths: gone.slice(i, i + MAX_DECIDED_ITEMS),
            kept: kept.slice(i, i + MAX_DECIDED_ITEMS),
          },
        });
      }
    }

    // Copies, in batches per direction, parents before children.
    let doneFiles = 0;
    let doneBytes = 0;
    let copied = 0;
    const batchFiles = this.o.batchFiles ?? 20_000;
    const batchBytes = this.o.batchBytes ?? 1024 ** 3;
    for (const from of ["local", "remote"] as const) {
      const list = copies[from].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      let i = 0;
      while (i < list.length) {
        if (this.abort.signal.aborted)
          throw new CocalcError("ERR_SYNC_TRANSFER", "sync was stopped");
        const batch: Planned[] = [];
        let bytes = 0;
        while (
          i < list.length &&
          batch.length < batchFiles &&
          (batch.length === 0 || bytes < batchBytes)
        ) {
          const p = list[i++]!;
          batch.push(p);
          bytes += (from === "local" ? p.l : p.r)?.size ?? 0;
        }
        const src = this.sideOf(from);
        const dst = this.sideOf(from === "local" ? "remote" : "local");
        let sinceFiles = 0;
        let sinceBytes = 0;
        let lastEmit = Date.now();
        let emitting = Promise.resolve();
        const t1 = Date.now();
        const flush = (force: boolean) => {
          if (!force && Date.now() - lastEmit < 1000) return;
          if (sinceFiles === 0 && !force) return;
          const data = {
            cycle: n,
            from,
            files: sinceFiles,
            bytes: sinceBytes,
            ms: Date.now() - t1,
            doneFiles,
            doneBytes,
          };
          sinceFiles = 0;
          sinceBytes = 0;
          lastEmit = Date.now();
          emitting = emitting.then(() => this.o.emit({ type: "SyncTransferred", data }));
        };
        const result = await transfer({
          target: this.o.target,
          from: src.rsyncRoot,
          to: dst.rsyncRoot,
          paths: batch.map((p) => p.path),
          signal: this.abort.signal,
          onFile: (_path, size) => {
            doneFiles++;
            doneBytes += size;
            sinceFiles++;
            sinceBytes += size;
            flush(false);
          },
        });
        // Files rsync found identical are not reported; after a clean run they are there too.
        const landed =
          result.code === 0 ? batch : batch.filter((p) => new Set(result.sent).has(p.path));
        doneFiles +=
          landed.length - result.sent.length > 0 ? landed.length - result.sent.length : 0;
        flush(true);
        await emitting;
        state.write(
          pair,
          landed.map((p) => {
            const e = (from === "local" ? p.l : p.r)!;
            // rsync -t gives the copy the source's mtime.
            return [p.path, baseFrom(e, e)] as [string, BaseEntry];
          }),
        );
        copied += landed.length;
        for (const p of landed) this.dirty.add(p.path);
        if (landed.length < batch.length) this.leftover = true;
      }
    }
    const summary: CycleSummary = {
      cycle: n,
      copied,
      deleted,
      conflicts: conflictCount,
      bytes: doneBytes,
      synced: state.count(pair),
    };
    await this.o.emit({
      type: "SyncCycleFinished",
      data: {
        cycle: n,
        copied,
        deleted,
        conflicts: conflictCount,
        bytes: doneBytes,
        ms: Date.now() - t0,
        synced: summary.synced,
      },
    });
    return summary;
  }

  private item(
    p: Planned,
    action: DecidedItem["action"],
    reason: string,
    side: SyncSide,
    size?: number,
  ): DecidedItem {
    return {
      path: p.path,
      action,
      reason,
      side,
      ...(size !== undefined && { size }),
      ...(p.l?.hash && { localHash: p.l.hash }),
      ...(p.r?.hash && { remoteHash: p.r.hash }),
    };
  }

  private gitignoreUnion(): Map<string, string> {
    return new Map([...this.gitignores.local, ...this.gitignores.remote]);
  }

  private sideOf(side: SyncSide): TreeSide {
    return side === "local" ? this.local : this.remote;
  }

  private async hashInto(
    side: TreeSide,
    paths: readonly string[],
    entries: Map<string, SyncEntry>,
  ): Promise<void> {
    if (paths.length === 0) return;
    const results = await side.apply(paths.map((p) => ({ op: "hash" as const, p })));
    results.forEach((r, i) => {
      const e = entries.get(paths[i]!);
      if (e && r.ok && r.h) e.hash = r.h;
    });
  }
}
