/**
 * The sync engine of one pair: each cycle scans both sides, plans what every path needs
 * against the last synced state (plan.ts, pure), reports the plan, and carries it out
 * (apply.ts): conflicts, deletes, then copies with rsync. Watches on both sides run a cycle
 * for the changed paths; a periodic full rescan is the safety net.
 */
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type ConflictKeep,
  type CycleKind,
  conflictLoser,
  MAX_DECIDED_ITEMS,
  mirrorSource,
  type PairConfig,
  type PathEntryInfo,
  type SyncPathStatus,
  type SyncRunEvent,
  type SyncSide,
} from "../../shared/sync.js";
import type { Logger } from "../runtime/logger.js";
import { type ApplyContext, applyDeletes, chunks, copyAll, keepConflicts } from "./apply.js";
import { pairMatcher } from "./ignore.js";
import { type BaseEntry, decidePath, type SyncEntry } from "./path-decision.js";
import { pathsToDecide, planCycle } from "./plan.js";
import {
  entryOfLine,
  hashInto,
  LocalSide,
  RemoteSide,
  type RemoteTarget,
  type ScanResult,
  type TreeSide,
} from "./sides.js";
import type { SyncState } from "./state.js";
import type { ScanVia, TreeOp, TreeOpResult } from "./tree.js";

/** Files hashed per request to a side (the progress of a deep check moves per batch). */
const HASH_BATCH = 2000;
/** Fewer files to hash than this: no progress is told (it is over at once). */
const HASH_PROGRESS_FROM = 5000;

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
  /**
   * Most files and bytes per rsync run (default 200,000 files, 1 GiB). Large runs: every run
   * costs a file-list exchange and a placing pass, and progress is reported per file anyway;
   * a kill loses only the staged files of the run it cut.
   */
  batchFiles?: number;
  batchBytes?: number;
  /** How often a full rescan runs while watching (default 5 minutes). */
  rescanMs?: number;
  /**
   * Called after a batch went across and before it is put in place on the receiving side
   * (an observation point: a write made here is one made while the transfer ran).
   */
  beforePlace?: (batch: { from: SyncSide; paths: readonly string[] }) => Promise<void>;
}

export interface CycleSummary {
  cycle: number;
  copied: number;
  deleted: number;
  conflicts: number;
  bytes: number;
  synced: number;
  /** Paths not put in place because the destination changed after the scan. */
  kept: number;
  /** How each side answered the scan. */
  via: { local: ScanVia; remote: ScanVia };
  /** Milliseconds per phase of the cycle. */
  phases: Record<string, number>;
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
  /** When both sides were last scanned. */
  private scannedAt: string | undefined;
  /** Conflicts someone settled: carried out before the next cycle. */
  private readonly resolutions: { path: string; keptAs: string; keep: ConflictKeep }[] = [];
  private running: Promise<void> | undefined;
  /** The watches being set up by start(); the first cycle follows. */
  private starting: Promise<void> | undefined;
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
    // The first walk runs once the watches are in place: their journals then cover
    // everything after it, and later cycles need not walk.
    const starting = this.startWatches().finally(() => {
      if (this.starting === starting) this.starting = undefined;
      this.fullWanted = true;
      this.kick();
    });
    this.starting = starting;
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
    await this.remote.close();
  }

  /** Asks for a deep comparison: every file hashed on both sides. */
  check(): void {
    this.checkWanted = true;
    this.kick();
  }

  /**
   * Settles a conflict (`keptAs`: the copy of the losing version beside `path`): keep the
   * version at the path (the copy is deleted on both sides), the copy's version (it is moved
   * over the path on its own side, and goes across with the next cycle), or both files.
   */
  resolve(path: string, keptAs: string, keep: ConflictKeep): void {
    this.resolutions.push({ path, keptAs, keep });
    this.kick();
  }

  /** What each side held at one path at the last scan, what was synced, and what is next. */
  status(path: string): Omit<SyncPathStatus, "pair" | "path"> {
    const { pair, state } = this.o;
    const l = this.trees.local.get(path);
    const r = this.trees.remote.get(path);
    const b = state.get(pair, path);
    const matcher = pairMatcher(this.config.ignore, this.gitignoreUnion());
    const ignored = matcher.ignored(path, (l ?? r ?? b)?.kind === "dir");
    const d = decidePath(l, r, b, this.config.prefer, mirrorSource(this.config.direction));
    const side =
      d.action === "copy"
        ? d.from
        : d.action === "delete"
          ? d.on
          : d.action === "conflict"
            ? d.winner
            : undefined;
    const last = state.lastDecision(pair, path);
    return {
      ignored,
      running: !this.stopped,
      ...(l && { local: entryInfo(l) }),
      ...(r && { remote: entryInfo(r) }),
      ...(this.scannedAt && { scannedAt: this.scannedAt }),
      ...(b && { synced: entryInfo(b) }),
      ...(last && { last }),
      next: {
        action: d.action,
        ...("reason" in d && { reason: d.reason }),
        ...(side && { side }),
      },
    };
  }

  /** Resolves when no cycle runs and none is wanted (after the first one, when starting). */
  async idle(): Promise<void> {
    if (this.starting) await this.starting;
    if (!this.running) return;
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
      this.log.warn({ err }, "local watch failed; relying on rescans");
    }
    const watchRemote = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const close = await this.remote.watch(onPaths, (err) => {
          if (this.stopped) return;
          this.log.warn({ err }, "remote watch ended; restarting it");
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
        this.log.warn({ err }, "remote watch failed; retrying");
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
      const wanted =
        this.fullWanted ||
        this.checkWanted ||
        this.pendingPaths.size > 0 ||
        this.resolutions.length > 0;
      if (!this.stopped && wanted) {
        this.kick();
        return;
      }
      for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      while (this.resolutions.length > 0 && !this.stopped) {
        await this.settle(this.resolutions.shift()!);
      }
      let kind: CycleKind;
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
        // The notifications only wake the loop: each side's journal says what changed.
        this.pendingPaths.clear();
        kind = "watch";
      } else return;
      try {
        const s = await this.cycle(kind);
        this.failures = 0;
        // Kept conflict copies exist on one side only: bring them across now.
        if (s.conflicts > 0) this.fullWanted = true;
      } catch (err) {
        this.failures++;
        if (this.stopped) return;
        const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6));
        this.log.warn({ err, retryMs: delay }, "sync cycle failed");
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

  private async settle(r: { path: string; keptAs: string; keep: ConflictKeep }): Promise<void> {
    const { path, keptAs, keep } = r;
    const loser = conflictLoser(path, keptAs);
    const emit = (ok: boolean, message?: string) =>
      this.o.emit({
        type: "SyncConflictResolved",
        data: { path, keptAs, keep, ok, ...(message !== undefined && { message }) },
      });
    if (!loser) return emit(false, `${keptAs} is not a conflict copy of ${path}`);
    const op = (side: SyncSide, p: string): TreeOp | undefined => {
      const e = this.trees[side].get(p);
      if (!e) return undefined;
      return {
        op: "delete",
        p,
        k: e.kind === "file" ? "f" : e.kind === "dir" ? "d" : "l",
        s: e.size,
        m: e.mtime,
      };
    };
    const failed = (side: SyncSide, results: TreeOpResult[]) => {
      const bad = results.find((x) => !x.ok);
      if (!bad || bad.ok) return undefined;
      const why =
        bad.why === "changed"
          ? "changed since sync last looked (it looks again now; try once more)"
          : bad.why === "exists"
            ? "is in the way"
            : bad.why === "missing"
              ? "is gone"
              : (bad.e ?? bad.why);
      return `${bad.p} on the ${side === "local" ? "local" : "remote"} side ${why}`;
    };
    try {
      if (keep !== "both") {
        const sides: SyncSide[] = ["local", "remote"];
        if (keep === loser) {
          // The copy's version goes over the path on the copy's own side; the next cycle takes
          // it across, and the copy's twin on the other side (if it went across) goes.
          const over = op(loser, path);
          const ops: TreeOp[] = [...(over ? [over] : []), { op: "rename", p: keptAs, to: path }];
          const results = await this[loser].apply(ops);
          const why = failed(loser, results);
          if (why) {
            this.fullWanted = true;
            return await emit(false, why);
          }
        } else {
          // The version at the path stays: the copy goes, wherever it is.
          for (const side of sides) {
            const del = op(side, keptAs);
            if (!del) continue;
            const why = failed(side, await this[side].apply([del]));
            if (why) {
              this.fullWanted = true;
              return await emit(false, why);
            }
          }
        }
        this.dirty.add(path);
        this.dirty.add(keptAs);
        this.fullWanted = true;
      }
      await emit(true);
    } catch (err) {
      this.fullWanted = true;
      await emit(false, (err as Error).message).catch(() => undefined);
    }
  }

  /**
   * One cycle. "watch": each side reports what its watcher saw since the previous cycle (a
   * side whose watcher is not healthy walks its tree instead); "full": both trees are walked;
   * "check": whole listings and every file hashed. Exposed for tests and benchmarks.
   */
  async cycle(kind: CycleKind): Promise<CycleSummary> {
    const { pair, state } = this.o;
    const n = state.nextCycle(pair);
    try {
      this.leftover = false;
      const summary = await this.runCycle(n, kind);
      this.log.debug(
        { cycle: n, kind, via: summary.via, phases: summary.phases, copied: summary.copied },
        "sync cycle done",
      );
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

  private async runCycle(n: number, asked: CycleKind): Promise<CycleSummary> {
    const { pair, state } = this.o;
    // Journals are only worth asking once the trees are known: before, a watch cycle walks.
    const kind: CycleKind = asked === "watch" && !this.trusted ? "full" : asked;
    const t0 = Date.now();
    const phases: Record<string, number> = {};
    let mark = t0;
    const phase = (name: string) => {
      const now = Date.now();
      phases[name] = (phases[name] ?? 0) + now - mark;
      mark = now;
    };
    if (!this.tempCleaned) {
      // What a killed transfer left behind goes first; the tree itself never had it.
      await Promise.all([
        this.local.apply([{ op: "clean-temp" }]),
        this.remote.apply([{ op: "clean-temp" }]),
      ]);
      this.tempCleaned = true;
    }
    const [ls, rs] = await this.scan(kind);
    this.scannedAt = this.now().toISOString();
    phase("scan");
    const { everything, changed } = this.takeScans(kind, ls, rs);
    const { base, candidates } = this.loadBase(everything, changed);
    phase("state-load");
    const sides = { local: this.trees.local, remote: this.trees.remote, base };
    const matcher = pairMatcher(this.config.ignore, this.gitignoreUnion());
    const { paths, hash } = pathsToDecide(candidates, sides, matcher, kind);
    await this.hashBoth(n, hash);
    phase("hash");
    const wholeFolders = this.config.ignore.trim() === "" && this.gitignoreUnion().size === 0;
    const plan = planCycle(
      paths,
      sides,
      this.config.prefer,
      wholeFolders,
      mirrorSource(this.config.direction),
    );
    phase("decide");
    await this.o.emit({
      type: "SyncCycleStarted",
      data: {
        cycle: n,
        kind,
        localEntries: sides.local.size,
        remoteEntries: sides.remote.size,
        pendingFiles: plan.items.length,
        pendingBytes: plan.pendingBytes,
      },
    });
    for (const chunk of chunks(plan.items, MAX_DECIDED_ITEMS)) {
      await this.o.emit({ type: "SyncDecided", data: { cycle: n, items: chunk } });
    }
    phase("events");
    state.write(pair, plan.record, plan.forget);
    state.recordDecisions(pair, n, this.now().toISOString(), plan.items);
    phase("state-write");
    const work = this.applyContext(n);
    const conflicts = await keepConflicts(work, plan);
    const deleted = await applyDeletes(work, plan);
    phase("conflicts-deletes");
    const copy = await copyAll(work, plan, conflicts.vacated);
    phase("copy");
    const summary: CycleSummary = {
      cycle: n,
      copied: copy.copied,
      deleted,
      conflicts: conflicts.kept,
      bytes: copy.bytes,
      synced: state.count(pair),
      kept: copy.kept,
      via: { local: ls.via, remote: rs.via },
      phases,
    };
    await this.o.emit({
      type: "SyncCycleFinished",
      data: {
        cycle: n,
        copied: copy.copied,
        deleted,
        conflicts: conflicts.kept,
        bytes: copy.bytes,
        ms: Date.now() - t0,
        synced: summary.synced,
      },
    });
    phase("finish");
    return summary;
  }

  /**
   * Both sides' scans. A watch cycle asks each side for what its watcher saw (a quiet tree:
   * one round trip); a rescan asks for what a walk finds changed; a check, a first cycle or
   * one after a failure takes whole listings.
   */
  private async scan(kind: CycleKind): Promise<[ScanResult, ScanResult]> {
    const req =
      kind === "watch"
        ? {
            patterns: this.config.ignore,
            gitignores: [...this.gitignoreUnion()],
            changes: true,
            diff: true,
          }
        : { patterns: this.config.ignore, diff: kind !== "check" && this.trusted };
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
    return [ls, rs];
  }

  /**
   * Brings each side's tree up to date with its scan. Returns which paths to decide: all of
   * them after a whole listing (`everything`), else what changed, with our own last writes.
   */
  private takeScans(
    kind: CycleKind,
    ls: ScanResult,
    rs: ScanResult,
  ): { everything: boolean; changed: Set<string> } {
    let everything = !this.trusted || kind === "check";
    const changed = new Set<string>(this.dirty);
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
      // Differences name every path gone (a folder's entries each), so no subtree search here.
      for (const l of res.lines) {
        changed.add(l.p);
        if (l.k === "-") {
          tree.delete(l.p);
          gi.delete(l.p);
          continue;
        }
        tree.set(l.p, entryOfLine(l));
        if (l.g !== undefined) gi.set(l.p, l.g);
      }
    }
    return { everything, changed };
  }

  /** The last synced state of the paths to decide, and those paths. */
  private loadBase(
    everything: boolean,
    changed: ReadonlySet<string>,
  ): { base: Map<string, BaseEntry>; candidates: Set<string> } {
    const { pair, state } = this.o;
    const big = changed.size > 5000;
    const base = everything || big ? state.load(pair) : state.loadUnder(pair, [...changed]);
    const candidates = everything
      ? new Set<string>([...this.trees.local.keys(), ...this.trees.remote.keys(), ...base.keys()])
      : new Set<string>([...changed, ...[...base.keys()].filter((k) => !big || changed.has(k))]);
    return { base, candidates };
  }

  private applyContext(cycle: number): ApplyContext {
    const o = this.o;
    return {
      cycle,
      pair: o.pair,
      state: o.state,
      target: o.target,
      sides: { local: this.local, remote: this.remote },
      emit: (e) => o.emit(e),
      log: this.log,
      signal: this.abort.signal,
      now: this.now(),
      ...(o.batchFiles !== undefined && { batchFiles: o.batchFiles }),
      ...(o.batchBytes !== undefined && { batchBytes: o.batchBytes }),
      ...(o.beforePlace && { beforePlace: o.beforePlace }),
      dirty: this.dirty,
      leftOver: () => {
        this.leftover = true;
      },
    };
  }

  private gitignoreUnion(): Map<string, string> {
    return new Map([...this.gitignores.local, ...this.gitignores.remote]);
  }

  /**
   * Hashes both sides' files in batches; when there are many (a deep check), the log says
   * how far it is, at most twice a second.
   */
  private async hashBoth(n: number, hash: Record<SyncSide, string[]>): Promise<void> {
    const total = hash.local.length + hash.remote.length;
    if (total === 0) return;
    let hashed = 0;
    let said = 0;
    const tell = async (force: boolean) => {
      if (total < HASH_PROGRESS_FROM) return;
      const now = Date.now();
      if (!force && now - said < 500) return;
      said = now;
      await this.o.emit({ type: "SyncHashProgress", data: { cycle: n, hashed, total } });
    };
    await tell(true);
    const side = async (s: TreeSide, paths: string[], tree: Map<string, SyncEntry>) => {
      for (let i = 0; i < paths.length; i += HASH_BATCH) {
        const batch = paths.slice(i, i + HASH_BATCH);
        await hashInto(s, batch, tree);
        hashed += batch.length;
        await tell(false);
      }
    };
    await Promise.all([
      side(this.local, hash.local, this.trees.local),
      side(this.remote, hash.remote, this.trees.remote),
    ]);
    await tell(true);
  }
}

function entryInfo(e: SyncEntry | BaseEntry): PathEntryInfo {
  return {
    kind: e.kind,
    size: e.size,
    ...("mtime" in e && { mtime: e.mtime }),
    ...(e.hash !== undefined && { hash: e.hash }),
  };
}
