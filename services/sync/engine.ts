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
  SYNC_TEMP_DIR,
  type SyncEntry,
  type SyncRunEvent,
  type SyncSide,
} from "../../shared/sync.js";
import type { Logger } from "../runtime/logger.js";
import { transfer } from "./rsync.js";
import { LocalSide, RemoteSide, type RemoteTarget, type TreeSide } from "./sides.js";
import type { SyncState } from "./state.js";
import { CODE_KIND, KIND_CODE, type ScanVia, type TreeOp } from "./tree.js";

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

type Planned = { path: string; d: PathDecision; l?: SyncEntry; r?: SyncEntry; b?: BaseEntry };

function depth(p: string): number {
  let n = 0;
  for (const c of p) if (c === "/") n++;
  return n;
}

/** Sorts a path's folders before what they hold, and each folder's subtree together. */
function treeKey(p: string): string {
  return p.replaceAll("/", "\u0000");
}

function byTree<T extends { path: string }>(items: T[]): T[] {
  const keyed = items.map((x) => [treeKey(x.path), x] as const);
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed.map((k) => k[1]);
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
    this.remote.close();
  }

  /** Asks for a deep comparison: every file hashed on both sides. */
  check(): void {
    this.checkWanted = true;
    this.kick();
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
    // A watch cycle asks each side for what its watcher saw (a quiet tree: one round trip);
    // a rescan asks for what a walk finds changed; a check, a first cycle or one after a
    // failure takes whole listings.
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
    phase("scan");
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
    phase("state-load");
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
    phase("hash");
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
    const whole = this.wholeSubtrees(planned);
    phase("decide");
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
    phase("events");
    state.write(pair, puts, forgets);
    phase("state-write");

    // Conflicts: the loser's version moves aside on its side, then the winner's is copied over.
    const at = this.now();
    let conflictCount = 0;
    /** Paths whose destination entry was moved aside: it holds nothing now. */
    const vacated = new Set<string>();
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
        vacated.add(p.path);
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
    phase("conflicts-deletes");

    // Copies, in batches per direction, parents before children. A folder new on one side
    // goes across whole (one recursive rsync entry instead of one per file).
    const progress = { files: 0, bytes: 0 };
    let copied = 0;
    let keptCount = 0;
    const batchFiles = this.o.batchFiles ?? 200_000;
    const batchBytes = this.o.batchBytes ?? 1024 ** 3;
    let stageSeq = 0;
    for (const from of ["local", "remote"] as const) {
      const list = byTree(copies[from]);
      // Units: a whole folder with everything under it, or one entry.
      const units: { root?: Planned; entries: Planned[]; bytes: number }[] = [];
      for (let i = 0; i < list.length; ) {
        const p = list[i]!;
        const entries = [p];
        let bytes = (from === "local" ? p.l : p.r)?.size ?? 0;
        i++;
        if (whole.has(p.path)) {
          const prefix = `${p.path}/`;
          while (i < list.length && list[i]!.path.startsWith(prefix)) {
            const c = list[i++]!;
            entries.push(c);
            bytes += (from === "local" ? c.l : c.r)?.size ?? 0;
          }
          units.push({ root: p, entries, bytes });
        } else units.push({ entries, bytes });
      }
      // -r recurses into every folder listed, so a folder not going whole needs a run without it;
      // files go with either.
      const plainDir = (u: (typeof units)[number]) =>
        u.root === undefined &&
        (from === "local" ? u.entries[0]!.l : u.entries[0]!.r)?.kind === "dir";
      const needsPlain = units.some(plainDir);
      // Folders that are only created go first: what goes into them is put in place after.
      for (const recursive of [false, true]) {
        const mine = units.filter((u) =>
          recursive
            ? u.root !== undefined || !needsPlain || !plainDir(u)
            : needsPlain && plainDir(u),
        );
        let i = 0;
        while (i < mine.length) {
          if (this.abort.signal.aborted)
            throw new CocalcError("ERR_SYNC_TRANSFER", "sync was stopped");
          const batch: typeof mine = [];
          let files = 0;
          let bytes = 0;
          while (
            i < mine.length &&
            (batch.length === 0 || (files < batchFiles && bytes < batchBytes))
          ) {
            const u = mine[i++]!;
            batch.push(u);
            files += u.entries.length;
            bytes += u.bytes;
          }
          const r = await this.copyBatch(n, from, batch, recursive, `s${n}-${stageSeq++}`, {
            vacated,
            progress,
          });
          copied += r.landed;
          keptCount += r.kept;
        }
      }
    }
    phase("copy");
    const summary: CycleSummary = {
      cycle: n,
      copied,
      deleted,
      conflicts: conflictCount,
      bytes: progress.bytes,
      synced: state.count(pair),
      kept: keptCount,
      via: { local: ls.via, remote: rs.via },
      phases,
    };
    await this.o.emit({
      type: "SyncCycleFinished",
      data: {
        cycle: n,
        copied,
        deleted,
        conflicts: conflictCount,
        bytes: progress.bytes,
        ms: Date.now() - t0,
        synced: summary.synced,
      },
    });
    phase("finish");
    return summary;
  }

  /**
   * Folders that go across whole: new on one side (nothing there on the other, nothing
   * synced before) with everything under them new on that side too. Only without ignore
   * rules: a recursive rsync would take along what they leave out.
   */
  private wholeSubtrees(planned: readonly Planned[]): Set<string> {
    const whole = new Set<string>();
    if (this.config.ignore.trim() !== "" || this.gitignoreUnion().size > 0) return whole;
    const stack: { path: string; from: SyncSide; ok: boolean }[] = [];
    const close = (s: (typeof stack)[number]) => {
      if (s.ok) whole.add(s.path);
    };
    for (const p of byTree([...planned])) {
      while (stack.length > 0 && !p.path.startsWith(`${stack[stack.length - 1]!.path}/`))
        close(stack.pop()!);
      const d = p.d;
      const from = d.action === "copy" && d.reason === "new" ? d.from : undefined;
      for (const s of stack) if (s.from !== from) s.ok = false;
      const e = from === "local" ? p.l : from === "remote" ? p.r : undefined;
      if (from && e?.kind === "dir") stack.push({ path: p.path, from, ok: true });
    }
    while (stack.length > 0) close(stack.pop()!);
    // Only the outermost: what is under a whole folder goes with it.
    for (const p of [...whole]) {
      for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) {
        if (whole.has(p.slice(0, i))) {
          whole.delete(p);
          break;
        }
      }
    }
    return whole;
  }

  /**
   * One rsync run into a stage folder in the receiving side's temp dir, then each entry is put
   * in place there only if the destination still holds what the scan saw: a write made on the
   * receiving side since the scan is never overwritten (the path is decided again next cycle).
   */
  private async copyBatch(
    n: number,
    from: SyncSide,
    batch: readonly { root?: Planned; entries: Planned[] }[],
    recursive: boolean,
    stage: string,
    ctx: { vacated: ReadonlySet<string>; progress: { files: number; bytes: number } },
  ): Promise<{ landed: number; kept: number }> {
    const { pair, state } = this.o;
    const to: SyncSide = from === "local" ? "remote" : "local";
    const src = this.sideOf(from);
    const dst = this.sideOf(to);
    const srcOf = (p: Planned) => (from === "local" ? p.l : p.r);
    const dstOf = (p: Planned) =>
      ctx.vacated.has(p.path) ? undefined : to === "local" ? p.l : p.r;
    const listed = batch.map((u) => u.root ?? u.entries[0]!);
    const updates = listed.some((p) => dstOf(p)?.kind === "file");
    let sinceFiles = 0;
    let sinceBytes = 0;
    let lastEmit = Date.now();
    let emitting = Promise.resolve();
    const t1 = Date.now();
    const flush = (force: boolean, kept: string[] = []) => {
      if (!force && Date.now() - lastEmit < 1000) return;
      if (sinceFiles === 0 && !force) return;
      const data = {
        cycle: n,
        from,
        files: sinceFiles,
        bytes: sinceBytes,
        ms: Date.now() - t1,
        doneFiles: ctx.progress.files,
        doneBytes: ctx.progress.bytes,
      };
      sinceFiles = 0;
      sinceBytes = 0;
      lastEmit = Date.now();
      const events =
        kept.length === 0
          ? [data]
          : chunks(kept, MAX_DECIDED_ITEMS).map((k, i) =>
              i === 0 ? { ...data, kept: k } : { ...data, files: 0, bytes: 0, kept: k },
            );
      for (const d of events)
        emitting = emitting.then(() => this.o.emit({ type: "SyncTransferred", data: d }));
    };
    const result = await transfer({
      target: this.o.target,
      from: src.rsyncRoot,
      to: `${dst.rsyncRoot}${SYNC_TEMP_DIR}/${stage}/`,
      paths: listed.map((p) => p.path),
      recursive,
      // Files already there are the basis of a delta transfer; new ones go whole.
      basis: updates ? "../../" : undefined,
      signal: this.abort.signal,
      onFile: (_path, size) => {
        ctx.progress.files++;
        ctx.progress.bytes += size;
        sinceFiles++;
        sinceBytes += size;
        flush(false);
      },
    });
    await this.o.beforePlace?.({ from, paths: listed.map((p) => p.path) });
    const ops: TreeOp[] = listed.map((p) => {
      const e = srcOf(p)!;
      const k = KIND_CODE[e.kind];
      const d = dstOf(p);
      return {
        op: "place",
        p: p.path,
        stage,
        k,
        ...(recursive && { whole: true }),
        ...(d && { expect: { k: KIND_CODE[d.kind], s: d.size, m: d.mtime } }),
      };
    });
    const results = await dst.apply([...ops, { op: "clean-stage", stage }]);
    const landed: Planned[] = [];
    const kept: string[] = [];
    batch.forEach((u, i) => {
      const r = results[i];
      if (r?.ok) landed.push(...u.entries);
      else {
        this.leftover = true;
        const p = listed[i]!.path;
        this.dirty.add(p);
        if (r && !r.ok && r.why === "changed") kept.push(p);
        else if (r && !r.ok && r.why !== "missing")
          this.log.warn({ path: p, why: r.why, err: r.e }, "transferred entry not put in place");
      }
    });
    if (result.code !== 0) this.leftover = true;
    flush(true, kept);
    await emitting;
    state.write(
      pair,
      landed.map((p) => {
        const e = srcOf(p)!;
        // rsync -t gives the copy the source's mtime.
        return [p.path, baseFrom(e, e)] as [string, BaseEntry];
      }),
    );
    // Our own writes: decided again next cycle (a whole folder's entries come in the scan).
    for (const p of listed) this.dirty.add(p.path);
    return { landed: landed.length, kept: kept.length };
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
