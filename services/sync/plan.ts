/**
 * The plan of a sync cycle, pure: from both sides' scanned entries and the last synced state,
 * which paths to hash, then what each path needs (copy, delete, conflict, record, forget),
 * and how the copies go across (whole folders, rsync runs). The engine does the I/O around it.
 */
import type { CycleKind, DecidedItem, SyncSide } from "../../shared/sync.js";
import type { IgnoreMatcher } from "./ignore.js";
import {
  type BaseEntry,
  baseFrom,
  decidePath,
  type PathDecision,
  type SyncEntry,
} from "./path-decision.js";

/** Both sides' trees as of their last scan, and the last synced state of the paths decided. */
export interface CycleSides {
  local: ReadonlyMap<string, SyncEntry>;
  remote: ReadonlyMap<string, SyncEntry>;
  base: ReadonlyMap<string, BaseEntry>;
}

/** One path of a cycle: its decision and what each side and the state hold there. */
export interface PlannedPath {
  path: string;
  d: PathDecision;
  l?: SyncEntry;
  r?: SyncEntry;
  b?: BaseEntry;
}

export interface CyclePlan {
  /** Entries to copy, by the side they are copied from (a conflict's winner is added once its loser moved aside). */
  copies: Record<SyncSide, PlannedPath[]>;
  /** Entries to delete, by the side they are on: files first, then folders deepest first. */
  deletes: Record<SyncSide, PlannedPath[]>;
  conflicts: PlannedPath[];
  /** Paths both sides agree on, to remember as synced. */
  record: [string, BaseEntry][];
  /** Paths gone from both sides, to forget. */
  forget: string[];
  /** Every copy, delete and conflict, as the log reports it. */
  items: DecidedItem[];
  pendingBytes: number;
  /** Folders that go across whole (see `wholeSubtrees`). */
  whole: Set<string>;
}

/**
 * The paths among `candidates` that are not ignored, and the files each side must hash before
 * they are decided: every file in a check; else where size and mtime cannot tell (same size,
 * other mtime, against the other side or against the state).
 */
export function pathsToDecide(
  candidates: Iterable<string>,
  sides: CycleSides,
  matcher: IgnoreMatcher,
  kind: CycleKind,
): { paths: string[]; hash: Record<SyncSide, string[]> } {
  const paths: string[] = [];
  const hash: Record<SyncSide, string[]> = { local: [], remote: [] };
  for (const path of candidates) {
    const l = sides.local.get(path);
    const r = sides.remote.get(path);
    const b = sides.base.get(path);
    const isDir = (l ?? r ?? b)?.kind === "dir";
    if (matcher.ignored(path, isDir)) continue;
    if (kind === "check") {
      if (l?.kind === "file") hash.local.push(path);
      if (r?.kind === "file") hash.remote.push(path);
    } else {
      if (l?.kind === "file" && r?.kind === "file" && l.size === r.size && l.mtime !== r.mtime) {
        hash.local.push(path);
        hash.remote.push(path);
      } else {
        // A touch with the same bytes is not a change: the hash tells.
        if (l?.kind === "file" && b?.hash && l.size === b.size && l.mtime !== b.localMtime)
          hash.local.push(path);
        if (r?.kind === "file" && b?.hash && r.size === b.size && r.mtime !== b.remoteMtime)
          hash.remote.push(path);
      }
    }
    paths.push(path);
  }
  return { paths, hash };
}

/**
 * What the cycle does with each path (hashes already in the entries). `wholeFolders`: new
 * folders may go across whole, which only holds where no ignore rule is in play (a recursive
 * rsync would take along what they leave out).
 */
export function planCycle(
  paths: readonly string[],
  sides: CycleSides,
  prefer: SyncSide,
  wholeFolders: boolean,
  /** A mirror's source (see decidePath); undefined: both ways. */
  source?: SyncSide,
): CyclePlan {
  const plan: CyclePlan = {
    copies: { local: [], remote: [] },
    deletes: { local: [], remote: [] },
    conflicts: [],
    record: [],
    forget: [],
    items: [],
    pendingBytes: 0,
    whole: new Set(),
  };
  const planned: PlannedPath[] = [];
  for (const path of paths) {
    const l = sides.local.get(path);
    const r = sides.remote.get(path);
    const b = sides.base.get(path);
    const p: PlannedPath = {
      path,
      d: decidePath(l, r, b, prefer, source),
      ...(l && { l }),
      ...(r && { r }),
      ...(b && { b }),
    };
    planned.push(p);
    const d = p.d;
    switch (d.action) {
      case "none":
        break;
      case "record":
        plan.record.push([p.path, baseFrom(p.l!, p.r!)]);
        break;
      case "forget":
        plan.forget.push(p.path);
        break;
      case "copy": {
        plan.copies[d.from].push(p);
        const e = entryOn(p, d.from)!;
        plan.pendingBytes += e.size;
        plan.items.push(decidedItem(p, "copy", d.reason, d.from, e.size));
        break;
      }
      case "delete":
        plan.deletes[d.on].push(p);
        plan.items.push(decidedItem(p, "delete", d.reason, d.on));
        break;
      case "conflict": {
        plan.conflicts.push(p);
        const e = entryOn(p, d.winner)!;
        plan.pendingBytes += e.size;
        plan.items.push(decidedItem(p, "conflict", d.reason, d.winner, e.size));
        break;
      }
      default: {
        const never: never = d;
        return never;
      }
    }
  }
  // A folder goes only when empty: files first, then folders deepest first.
  for (const side of ["local", "remote"] as const) {
    plan.deletes[side].sort((a, b) => {
      const ad = entryOn(a, side)!.kind === "dir";
      const bd = entryOn(b, side)!.kind === "dir";
      return ad === bd ? depth(b.path) - depth(a.path) : ad ? 1 : -1;
    });
  }
  if (wholeFolders) plan.whole = wholeSubtrees(planned);
  return plan;
}

/** What a side holds at a planned path. */
export function entryOn(p: PlannedPath, side: SyncSide): SyncEntry | undefined {
  return side === "local" ? p.l : p.r;
}

/**
 * Folders that go across whole: new on one side (nothing there on the other, nothing
 * synced before) with everything under them new on that side too.
 */
function wholeSubtrees(planned: readonly PlannedPath[]): Set<string> {
  const whole = new Set<string>();
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
    const e = from ? entryOn(p, from) : undefined;
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

/** What one rsync entry carries: a whole folder (`root`) with everything under it, or one entry. */
export interface CopyUnit {
  root?: PlannedPath;
  entries: PlannedPath[];
  bytes: number;
}

/** One rsync run: its units, and whether it recurses into the folders it lists. */
export interface CopyRun {
  recursive: boolean;
  units: CopyUnit[];
}

/**
 * The copies from one side as rsync runs, parents before children, each run holding at most
 * `maxFiles` files and `maxBytes` bytes (or one unit that is larger).
 */
export function copyRuns(
  copies: readonly PlannedPath[],
  from: SyncSide,
  whole: ReadonlySet<string>,
  maxFiles: number,
  maxBytes: number,
): CopyRun[] {
  const list = byTree([...copies]);
  const units: CopyUnit[] = [];
  for (let i = 0; i < list.length; ) {
    const p = list[i]!;
    const entries = [p];
    let bytes = entryOn(p, from)?.size ?? 0;
    i++;
    if (whole.has(p.path)) {
      const prefix = `${p.path}/`;
      while (i < list.length && list[i]!.path.startsWith(prefix)) {
        const c = list[i++]!;
        entries.push(c);
        bytes += entryOn(c, from)?.size ?? 0;
      }
      units.push({ root: p, entries, bytes });
    } else units.push({ entries, bytes });
  }
  // -r recurses into every folder listed, so a folder not going whole needs a run without it;
  // files go with either.
  const plainDir = (u: CopyUnit) =>
    u.root === undefined && entryOn(u.entries[0]!, from)?.kind === "dir";
  const needsPlain = units.some(plainDir);
  const runs: CopyRun[] = [];
  // Folders that are only created go first: what goes into them is put in place after.
  for (const recursive of [false, true]) {
    const mine = units.filter((u) =>
      recursive ? u.root !== undefined || !needsPlain || !plainDir(u) : needsPlain && plainDir(u),
    );
    let i = 0;
    while (i < mine.length) {
      const run: CopyUnit[] = [];
      let files = 0;
      let bytes = 0;
      while (i < mine.length && (run.length === 0 || (files < maxFiles && bytes < maxBytes))) {
        const u = mine[i++]!;
        run.push(u);
        files += u.entries.length;
        bytes += u.bytes;
      }
      runs.push({ recursive, units: run });
    }
  }
  return runs;
}

function decidedItem(
  p: PlannedPath,
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
