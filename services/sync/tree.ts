/**
 * What sync does to one side's tree, on this machine or (through `cocalc-plus sync-scan`,
 * `sync-apply`, `sync-watch`) on the remote: scan, hash, delete, rename, watch. No SQLite and
 * no NATS here: the remote runs this from the bundle with nothing but Node.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  type Dirent,
  type FSWatcher,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  type Stats,
  unlinkSync,
  watch,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type IgnoreMatcher, pairMatcher, parseIgnore, SYNC_TEMP_DIR } from "./ignore.js";
import type { EntryKind } from "./path-decision.js";

/** One line of a scan: path, kind (f, d, l, or - for gone), size, mtime (ms), link target, .gitignore text. */
export interface ScanLine {
  p: string;
  k: "f" | "d" | "l" | "-";
  s?: number;
  m?: number;
  t?: string;
  g?: string;
}

/** What a scan is asked for: the pair's patterns, the .gitignore files known, and for a partial scan the paths. */
export interface ScanRequest {
  patterns: string;
  gitignores?: [string, string][];
  paths?: string[];
}

export const KIND_CODE: Record<EntryKind, "f" | "d" | "l"> = { file: "f", dir: "d", link: "l" };
export const CODE_KIND: Record<"f" | "d" | "l", EntryKind> = { f: "file", d: "dir", l: "link" };

/** A root as stored (relative to home, or absolute) made absolute on this machine. */
export function absoluteRoot(root: string, home = homedir()): string {
  return root.startsWith("/") ? root : join(home, root);
}

/** Creates the root (a missing root is created, not an error) and the temp dir transfers use. */
export function ensureRoot(abs: string): void {
  mkdirSync(join(abs, SYNC_TEMP_DIR), { recursive: true });
}

/** The folder in the temp dir a watcher writes to, to know it has seen every earlier event. */
const FENCE_DIR = "fence";

/** Removes what interrupted transfers left in the temp dir (a watcher's fence stays). */
export function cleanTemp(abs: string): void {
  const tmp = join(abs, SYNC_TEMP_DIR);
  mkdirSync(tmp, { recursive: true });
  for (const name of readdirSync(tmp)) {
    if (name !== FENCE_DIR) rmSync(join(tmp, name), { recursive: true, force: true });
  }
}

function lineOf(p: string, st: Stats, abs: string): ScanLine | undefined {
  if (st.isFile()) return { p, k: "f", s: st.size, m: Math.floor(st.mtimeMs) };
  // A folder's mtime moves with every entry written in it and says nothing sync uses: it is
  // left out, so a folder is "changed" only when it appears, goes, or changes kind.
  if (st.isDirectory()) return { p, k: "d", s: 0, m: 0 };
  if (st.isSymbolicLink()) {
    let t = "";
    try {
      t = readlinkSync(abs);
    } catch {
      return undefined;
    }
    return { p, k: "l", s: 0, m: Math.floor(st.mtimeMs), t };
  }
  return undefined; // sockets, fifos, devices are not synced
}

const YIELD_EVERY = 2000;

/**
 * Walks the tree (readdir + lstat, nothing read but .gitignore files), skipping what is
 * ignored, and calls `emit` per entry. `paths` restricts it to those paths (each scanned
 * with its subtree; a missing one is reported as gone). Yields to the event loop now and
 * then so a big tree does not stall a server.
 */
export async function scanTree(
  abs: string,
  req: ScanRequest,
  emit: (line: ScanLine) => void,
): Promise<void> {
  const known = new Map(req.gitignores ?? []);
  let count = 0;
  const tick = async () => {
    if (++count % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  };
  const walk = async (dir: string, matcher: IgnoreMatcher): Promise<void> => {
    const absDir = dir === "" ? abs : join(abs, dir);
    let entries: Dirent[];
    try {
      entries = readdirSync(absDir, { withFileTypes: true });
    } catch {
      return; // vanished or unreadable: the next scan sees it again
    }
    let m = matcher;
    if (entries.some((e) => e.name === ".gitignore" && e.isFile())) {
      const gi = dir === "" ? ".gitignore" : `${dir}/.gitignore`;
      try {
        const text = readFileSync(join(absDir, ".gitignore"), "utf8");
        if (!known.has(gi)) m = m.with(safeParse(text, dir));
      } catch {
        // unreadable .gitignore: nothing to add
      }
    }
    for (const e of entries) {
      const p = dir === "" ? e.name : `${dir}/${e.name}`;
      if (dir === "" && e.name === SYNC_TEMP_DIR) continue;
      const isDir = e.isDirectory();
      if (m.matchesSelf(p, isDir)) continue;
      const full = `${absDir}/${e.name}`;
      // A missing entry (gone since the readdir) is skipped without the cost of an exception.
      const st = lstatSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      const line = lineOf(p, st, full);
      if (!line) continue;
      if (e.name === ".gitignore" && line.k === "f") {
        try {
          line.g = readFileSync(full, "utf8");
        } catch {
          // reported without its text
        }
      }
      emit(line);
      await tick();
      if (line.k === "d") await walk(p, m);
    }
  };
  const base = pairMatcher(req.patterns, known);
  if (!req.paths) {
    await walk("", base);
    return;
  }
  for (const p of req.paths) {
    if (base.ignored(p, false) && base.ignored(p, true)) continue;
    const full = join(abs, p);
    let st: Stats;
    try {
      st = lstatSync(full);
    } catch {
      emit({ p, k: "-" });
      continue;
    }
    if (base.ignored(p, st.isDirectory())) continue;
    const line = lineOf(p, st, full);
    if (!line) {
      emit({ p, k: "-" });
      continue;
    }
    if (p.endsWith(".gitignore") && line.k === "f") {
      try {
        line.g = readFileSync(full, "utf8");
      } catch {
        // reported without its text
      }
    }
    emit(line);
    if (line.k === "d") await walk(p, base);
  }
}

function same(a: ScanLine, b: ScanLine): boolean {
  return a.k === b.k && a.s === b.s && a.m === b.m && a.t === b.t && a.g === b.g;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? "" : p.slice(0, i);
}

function addKid(kids: Map<string, Set<string>>, p: string): void {
  const parent = parentOf(p);
  const k = kids.get(parent);
  if (k) k.add(p);
  else kids.set(parent, new Set([p]));
}

/** Most journal paths a cycle rescans one by one; more, and a walk is as fast. */
const MAX_JOURNAL = 5000;

/** How a scan was answered: a whole listing, a walk's differences, or the watcher's journal. */
export type ScanVia = "listing" | "walk" | "journal";

/**
 * One side's tree as last reported, kept in memory between scans. A scan asked for a diff
 * returns only what changed since the previous scan (changed or new entries, and a `-` line
 * for each path gone). With a healthy watcher (`changes`), only the paths it reported since
 * the previous scan are looked at again: a quiet tree costs one round trip and no walk.
 * `full` says the answer is a whole listing (first scan, other patterns).
 */
export class DiffScanner {
  private last: Map<string, ScanLine> | undefined;
  /** Folder → its entries in `last`; built when a journal scan first needs a subtree. */
  private kids: Map<string, Set<string>> | undefined;
  private lastPatterns: string | undefined;
  private watcher: TreeWatcher | undefined;
  /** The last walk began while the watcher ran: its journal covers everything since. */
  private watchedSinceWalk = false;

  /** Starts the watcher whose journal `changes` scans use (once). */
  watch(abs: string, onPaths: (paths: string[]) => void): TreeWatcher {
    if (!this.watcher || this.watcher.closed) {
      this.watcher = new TreeWatcher(abs, onPaths);
      this.watchedSinceWalk = false;
    }
    return this.watcher;
  }

  async scan(
    abs: string,
    req: ScanRequest & { diff?: boolean; changes?: boolean },
  ): Promise<{ lines: ScanLine[]; full: boolean; via: ScanVia }> {
    const lines: ScanLine[] = [];
    if (req.paths) {
      await scanTree(abs, req, (l) => lines.push(l));
      return { lines, full: false, via: "walk" };
    }
    const w = this.watcher && !this.watcher.closed ? this.watcher : undefined;
    const samePatterns = this.last !== undefined && this.lastPatterns === req.patterns;
    if (req.changes && w && samePatterns && this.watchedSinceWalk) {
      const d = await w.drain();
      if (
        d.healthy &&
        d.paths.length <= MAX_JOURNAL &&
        !d.paths.some((p) => p === ".gitignore" || p.endsWith("/.gitignore"))
      ) {
        await this.rescan(abs, req, d.paths, lines);
        return { lines, full: false, via: "journal" };
      }
    }
    // A walk: what the watcher saw so far is covered by it, and it watches what it finds.
    if (w) {
      await w.drain();
      this.watchedSinceWalk = true;
    } else this.watchedSinceWalk = false;
    const before = this.last;
    const diff = req.diff === true && before !== undefined && samePatterns;
    if (!diff) {
      const now = new Map<string, ScanLine>();
      await scanTree(abs, req, (l) => {
        now.set(l.p, l);
        if (l.k === "d") w?.add(l.p);
        lines.push(l);
      });
      this.last = now;
      this.kids = undefined;
      this.lastPatterns = req.patterns;
      return { lines, full: true, via: "listing" };
    }
    // Compared in place as they come: a quiet tree allocates no second map of its entries.
    const size0 = before.size;
    let matched = 0;
    const seen: string[] = [];
    const added = new Set<string>();
    await scanTree(abs, req, (l) => {
      seen.push(l.p);
      if (l.k === "d") w?.add(l.p);
      const b = before.get(l.p);
      if (b) {
        matched++;
        if (same(b, l)) return;
      } else added.add(l.p);
      before.set(l.p, l);
      lines.push(l);
    });
    if (added.size > 0) this.kids = undefined;
    if (matched < size0) {
      const walked = new Set(seen);
      for (const p of before.keys()) {
        if (walked.has(p)) continue;
        before.delete(p);
        lines.push({ p, k: "-" });
      }
      this.kids = undefined;
    }
    return { lines, full: false, via: "walk" };
  }

  /** Looks again at the journal's paths (each with its subtree) and reports the differences. */
  private async rescan(
    abs: string,
    req: ScanRequest,
    journal: readonly string[],
    lines: ScanLine[],
  ): Promise<void> {
    if (journal.length === 0) return;
    const last = this.last!;
    // A path under another journal path is covered by that one's subtree walk.
    const set = new Set(journal);
    const tops = journal.filter((p) => {
      for (let q = parentOf(p); q !== ""; q = parentOf(q)) if (set.has(q)) return false;
      return true;
    });
    const fresh = new Map<string, ScanLine>();
    await scanTree(abs, { ...req, paths: tops }, (l) => {
      if (l.k !== "-") fresh.set(l.p, l);
    });
    const kids = this.kidsIndex();
    const old: string[] = [];
    const collect = (p: string) => {
      if (last.has(p)) old.push(p);
      const k = kids.get(p);
      if (k) for (const c of k) collect(c);
    };
    for (const p of tops) collect(p);
    for (const p of old) {
      if (fresh.has(p)) continue;
      this.forget(p);
      lines.push({ p, k: "-" });
    }
    for (const l of fresh.values()) {
      const b = last.get(l.p);
      if (b && same(b, l)) continue;
      if (!b) {
        addKid(kids, l.p);
      }
      last.set(l.p, l);
      if (l.k === "d") this.watcher?.add(l.p);
      lines.push(l);
    }
  }

  private forget(p: string): void {
    this.last!.delete(p);
    const kids = this.kidsIndex();
    kids.get(parentOf(p))?.delete(p);
    kids.delete(p);
  }

  private kidsIndex(): Map<string, Set<string>> {
    if (this.kids) return this.kids;
    const kids = new Map<string, Set<string>>();
    for (const p of this.last!.keys()) addKid(kids, p);
    this.kids = kids;
    return kids;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function safeParse(text: string, base: string) {
  try {
    return parseIgnore(text, base);
  } catch {
    return [];
  }
}

/** sha256 of a file's bytes, base64url; undefined when it is gone or not a file. */
export function hashFile(full: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(full, "r");
  } catch {
    return undefined;
  }
  try {
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest("base64url");
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** An operation on one side's tree. Deletes name what the scan saw, so a file changed since is kept. */
export type TreeOp =
  | { op: "delete"; p: string; k: "f" | "d" | "l"; s: number; m: number }
  | { op: "rename"; p: string; to: string }
  | { op: "hash"; p: string }
  /**
   * Moves a transferred entry from the stage folder (in the temp dir) into place, only if the
   * path still holds what the scan saw (`expect`; absent when it held nothing). `whole`: a
   * folder that came with its whole subtree. A folder without it is only created.
   */
  | {
      op: "place";
      p: string;
      stage: string;
      k: "f" | "d" | "l";
      whole?: boolean;
      expect?: { k: "f" | "d" | "l"; s: number; m: number };
    }
  /** Removes one stage folder from the temp dir. */
  | { op: "clean-stage"; stage: string }
  | { op: "clean-temp" };

export type TreeOpResult =
  | { p: string; ok: true; h?: string }
  | {
      p: string;
      ok: false;
      why: "changed" | "not-empty" | "exists" | "missing" | "error";
      e?: string;
    };

/** Applies one operation; never throws for an expected failure (it says why instead). */
export function applyOp(abs: string, op: TreeOp): TreeOpResult {
  if (op.op === "clean-temp") {
    cleanTemp(abs);
    return { p: "", ok: true };
  }
  if (op.op === "clean-stage") {
    if (!/^[A-Za-z0-9_-]+$/.test(op.stage))
      return { p: "", ok: false, why: "error", e: "bad stage" };
    rmSync(join(abs, SYNC_TEMP_DIR, op.stage), { recursive: true, force: true });
    return { p: "", ok: true };
  }
  const full = join(abs, op.p);
  try {
    switch (op.op) {
      case "hash": {
        const h = hashFile(full);
        return h === undefined ? { p: op.p, ok: false, why: "missing" } : { p: op.p, ok: true, h };
      }
      case "rename": {
        try {
          lstatSync(join(abs, op.to));
          return { p: op.p, ok: false, why: "exists" };
        } catch {
          // free: go on
        }
        renameSync(full, join(abs, op.to));
        return { p: op.p, ok: true };
      }
      case "place":
        return place(abs, op);
      case "delete": {
        let st: Stats;
        try {
          st = lstatSync(full);
        } catch {
          return { p: op.p, ok: true }; // already gone
        }
        const line = lineOf(op.p, st, full);
        if (!line || line.k !== op.k) return { p: op.p, ok: false, why: "changed" };
        if (op.k === "d") {
          try {
            rmdirSync(full);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOTEMPTY") {
              return { p: op.p, ok: false, why: "not-empty" };
            }
            throw err;
          }
          return { p: op.p, ok: true };
        }
        if (line.s !== op.s || line.m !== op.m) return { p: op.p, ok: false, why: "changed" };
        unlinkSync(full);
        return { p: op.p, ok: true };
      }
      default: {
        const never: never = op;
        return never;
      }
    }
  } catch (err) {
    return { p: op.p, ok: false, why: "error", e: String((err as Error).message ?? err) };
  }
}

/** The kernel's inotify queue length: a watcher that saw this many events may have lost some. */
function inotifyQueue(): number {
  try {
    const n = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8").trim());
    return Number.isFinite(n) && n > 0 ? n : 16384;
  } catch {
    return 16384;
  }
}

function place(abs: string, op: Extract<TreeOp, { op: "place" }>): TreeOpResult {
  const full = join(abs, op.p);
  const cur = lstatSync(full, { throwIfNoEntry: false });
  const now = cur && lineOf(op.p, cur, full);
  const e = op.expect;
  const asScanned = e
    ? !!now && now.k === e.k && (e.k === "d" || (now.s === e.s && now.m === e.m))
    : !cur;
  if (op.k === "d" && !op.whole) {
    if (now?.k === "d") return { p: op.p, ok: true };
    if (!asScanned) return { p: op.p, ok: false, why: "changed" };
    try {
      // A file or link the scan saw gives way to the folder.
      if (cur) unlinkSync(full);
      mkdirSync(full);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        p: op.p,
        ok: false,
        why: code === "EEXIST" || code === "ENOENT" ? "changed" : "error",
      };
    }
    return { p: op.p, ok: true };
  }
  // What the scan saw must still be there: anything else was written since, and wins.
  if (!asScanned) return { p: op.p, ok: false, why: "changed" };
  if (!/^[A-Za-z0-9_-]+$/.test(op.stage))
    return { p: op.p, ok: false, why: "error", e: "bad stage" };
  const staged = join(abs, SYNC_TEMP_DIR, op.stage, op.p);
  const st = lstatSync(staged, { throwIfNoEntry: false });
  if (!st) return { p: op.p, ok: false, why: "missing" };
  try {
    if (!cur && !st.isDirectory()) {
      // A hard link does not replace: a file created since the check above is kept.
      linkSync(staged, full);
      unlinkSync(staged);
    } else {
      if (cur?.isDirectory() && !st.isDirectory()) rmdirSync(full);
      renameSync(staged, full);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTEMPTY" || code === "ENOENT" || code === "ENOTDIR")
      return { p: op.p, ok: false, why: "changed" };
    return { p: op.p, ok: false, why: "error", e: String((err as Error).message ?? err) };
  }
  return { p: op.p, ok: true };
}

/**
 * Watches a tree: one inotify watch per folder (Node's own recursive watch on Linux takes one
 * per file and reports every existing file at start), set up before the constructor returns,
 * so nothing written afterwards is missed. Changed paths go to `onPaths` in batches after
 * `quietMs` without new changes, and into a journal that `drain()` hands out.
 *
 * `drain()` is exact: it writes a file in the temp dir's fence folder and waits for that
 * event; Node reads all watches of a process from one inotify queue in order, so every change
 * made before the call has been journaled by then. The journal is not trusted (a walk is
 * needed) when a watch failed or ended, a folder was replaced under its watch, or so many
 * events came that the kernel's queue may have overflowed (Node drops the overflow notice).
 */
export class TreeWatcher {
  closed = false;
  private readonly pending = new Set<string>();
  private journal = new Set<string>();
  private healthy = true;
  private events = 0;
  private readonly limit = Math.floor(inotifyQueue() / 2);
  private readonly watchers = new Map<string, { w: FSWatcher; id: string }>();
  private timer: NodeJS.Timeout | undefined;
  private fence: FSWatcher | undefined;
  private fenceSeq = 0;
  private fenceWaiters = new Map<string, () => void>();

  constructor(
    private readonly abs: string,
    private readonly onPaths: (paths: string[]) => void,
    private readonly quietMs = 50,
  ) {
    this.openFence();
    this.add("");
  }

  /** Every path changed since the previous drain, and whether the journal can be trusted. */
  /** Watches the fence folder (again, after someone removed it: this drain then walks). */
  private openFence(): void {
    this.fence?.close();
    this.fence = undefined;
    try {
      const fenceDir = join(this.abs, SYNC_TEMP_DIR, FENCE_DIR);
      mkdirSync(fenceDir, { recursive: true });
      const fence = watch(fenceDir, (_event, name) => {
        const n = name?.toString();
        if (!n) return;
        const done = this.fenceWaiters.get(n);
        if (done) {
          this.fenceWaiters.delete(n);
          done();
        }
      });
      fence.on("error", () => {
        this.healthy = false;
        fence.close();
        if (this.fence === fence) this.fence = undefined;
      });
      this.fence = fence;
    } catch {
      this.healthy = false;
    }
  }

  async drain(timeoutMs = 5000): Promise<{ paths: string[]; healthy: boolean }> {
    let fenced = false;
    if (!this.fence && !this.closed) this.openFence();
    if (this.fence) {
      const name = `f${process.pid}-${++this.fenceSeq}`;
      const full = join(this.abs, SYNC_TEMP_DIR, FENCE_DIR, name);
      fenced = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          this.fenceWaiters.delete(name);
          resolve(false);
        }, timeoutMs);
        this.fenceWaiters.set(name, () => {
          clearTimeout(t);
          resolve(true);
        });
        try {
          writeFileSync(full, "");
          unlinkSync(full);
        } catch {
          clearTimeout(t);
          this.fenceWaiters.delete(name);
          resolve(false);
        }
      });
      // No answer: the fence folder went away, or its watch did; a new one for next time.
      if (!fenced && !this.closed) this.openFence();
    }
    const healthy = fenced && this.healthy && !this.closed && this.events < this.limit;
    const paths = [...this.journal];
    this.journal = new Set();
    this.healthy = true;
    this.events = 0;
    return { paths, healthy };
  }

  /** Watches a folder (relative to the root) and those below it; a no-op when it is watched. */
  add(rel: string): void {
    if (this.closed || rel === SYNC_TEMP_DIR || rel.startsWith(`${SYNC_TEMP_DIR}/`)) return;
    const full = rel === "" ? this.abs : join(this.abs, rel);
    const st = lstatSync(full, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return;
    // The inode number alone can be reused at once by a folder made in place of a removed one.
    const id = `${st.ino}:${st.birthtimeMs}`;
    const had = this.watchers.get(rel);
    if (had) {
      if (had.id === id) return;
      // The folder was replaced: the old watch follows the old inode, and what was written
      // before the new watch began is found by rescanning the folder.
      this.drop(rel);
      this.journal.add(rel);
      this.pending.add(rel);
    }
    let w: FSWatcher;
    try {
      w = watch(full, (event, name) => this.changed(rel, event, name));
    } catch {
      this.healthy = false; // gone meanwhile, or out of inotify watches: a walk finds its changes
      return;
    }
    w.on("error", () => {
      this.healthy = false;
      w.close();
      if (this.watchers.get(rel)?.w === w) this.watchers.delete(rel);
    });
    this.watchers.set(rel, { w, id });
    let entries: Dirent[];
    try {
      entries = readdirSync(full, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      // A new folder's path is in the journal already: its rescan walks what it holds.
      if (e.isDirectory()) this.add(rel === "" ? e.name : `${rel}/${e.name}`);
    }
  }

  private changed(rel: string, event: string, name: string | Buffer | null): void {
    if (this.closed) return;
    this.events++;
    if (!name) {
      this.healthy = false;
      return;
    }
    const n = name.toString();
    if (event === "rename" && rel !== "" && n === rel.slice(rel.lastIndexOf("/") + 1)) {
      // Perhaps the watched folder itself went away or moved (Node names it like a child):
      // watch what is at its path now, and look at it again.
      this.journal.add(rel);
      this.pending.add(rel);
      this.drop(rel);
      this.add(rel);
    }
    const p = rel === "" ? n : `${rel}/${n}`;
    if (p === SYNC_TEMP_DIR || p.startsWith(`${SYNC_TEMP_DIR}/`)) return;
    this.pending.add(p);
    this.journal.add(p);
    if (event === "rename") {
      // A folder that appeared is watched too (with what it already holds); one that went
      // away takes its watches along.
      const st = lstatSync(join(this.abs, p), { throwIfNoEntry: false });
      if (st?.isDirectory()) this.add(p);
      else if (this.watchers.has(p)) this.drop(p);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.quietMs);
  }

  private flush(): void {
    this.timer = undefined;
    const paths = [...this.pending];
    this.pending.clear();
    if (paths.length > 0 && !this.closed) this.onPaths(paths);
  }

  private drop(rel: string): void {
    for (const [dir, x] of this.watchers) {
      if (dir === rel || dir.startsWith(`${rel}/`)) {
        x.w.close();
        this.watchers.delete(dir);
      }
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const x of this.watchers.values()) x.w.close();
    this.watchers.clear();
    this.fence?.close();
    for (const done of this.fenceWaiters.values()) done();
    this.fenceWaiters.clear();
  }
}

/** Watches a tree and reports changed paths in batches; returns the closer. */
export function watchTree(
  abs: string,
  onPaths: (paths: string[]) => void,
  quietMs = 50,
): () => void {
  const w = new TreeWatcher(abs, onPaths, quietMs);
  return () => w.close();
}
