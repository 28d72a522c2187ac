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
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  type EntryKind,
  type IgnoreMatcher,
  pairMatcher,
  parseIgnore,
  SYNC_TEMP_DIR,
} from "../../shared/sync.js";

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

/** Removes what interrupted transfers left in the temp dir. */
export function cleanTemp(abs: string): void {
  rmSync(join(abs, SYNC_TEMP_DIR), { recursive: true, force: true });
  mkdirSync(join(abs, SYNC_TEMP_DIR), { recursive: true });
}

function lineOf(p: string, st: Stats, abs: string): ScanLine | undefined {
  if (st.isFile()) return { p, k: "f", s: st.size, m: Math.floor(st.mtimeMs) };
  if (st.isDirectory()) return { p, k: "d", s: 0, m: Math.floor(st.mtimeMs) };
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
      let st: Stats;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
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

function signature(l: ScanLine): string {
  return `${l.k}|${l.s ?? 0}|${l.m ?? 0}|${l.t ?? ""}`;
}

/**
 * Scans and, when asked for a diff, returns only what changed since its previous full scan
 * (changed or new entries, and `-` lines for what is gone): a rescan that finds nothing
 * sends nothing. `full` says the answer is a whole listing (first scan, other patterns).
 */
export class DiffScanner {
  private last: Map<string, string> | undefined;
  private lastPatterns: string | undefined;

  async scan(
    abs: string,
    req: ScanRequest & { diff?: boolean },
  ): Promise<{ lines: ScanLine[]; full: boolean }> {
    const lines: ScanLine[] = [];
    if (req.paths) {
      await scanTree(abs, req, (l) => lines.push(l));
      return { lines, full: false };
    }
    const before = this.last;
    const diff = req.diff === true && before !== undefined && this.lastPatterns === req.patterns;
    const sigs = new Map<string, string>();
    // Compared as they come: a quiet tree allocates no list of its entries.
    await scanTree(abs, req, (l) => {
      const sig = signature(l);
      sigs.set(l.p, sig);
      if (!diff || before.get(l.p) !== sig) lines.push(l);
    });
    this.last = sigs;
    this.lastPatterns = req.patterns;
    if (!diff) return { lines, full: true };
    for (const p of before.keys()) if (!sigs.has(p)) lines.push({ p, k: "-" });
    return { lines, full: false };
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

/**
 * Watches a tree and reports changed paths relative to the root, batched: `onPaths` gets each
 * batch after `quietMs` without new changes. One inotify watch per folder (Node's own
 * recursive watch on Linux takes one per file and reports every existing file at start),
 * set up before this returns, so nothing written afterwards is missed. Returns the closer.
 */
export function watchTree(
  abs: string,
  onPaths: (paths: string[]) => void,
  quietMs = 50,
): () => void {
  const pending = new Set<string>();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const flush = () => {
    timer = undefined;
    const paths = [...pending];
    pending.clear();
    if (paths.length > 0 && !closed) onPaths(paths);
  };
  const drop = (rel: string) => {
    for (const [dir, w] of watchers) {
      if (dir === rel || dir.startsWith(`${rel}/`)) {
        w.close();
        watchers.delete(dir);
      }
    }
  };
  const add = (rel: string) => {
    if (closed || watchers.has(rel) || rel === SYNC_TEMP_DIR) return;
    const full = rel === "" ? abs : join(abs, rel);
    let w: FSWatcher;
    try {
      w = watch(full, (event, name) => {
        if (!name) return;
        const p = rel === "" ? name.toString() : `${rel}/${name.toString()}`;
        if (p === SYNC_TEMP_DIR || p.startsWith(`${SYNC_TEMP_DIR}/`)) return;
        pending.add(p);
        if (event === "rename") {
          // A folder that appeared is watched too (with what it already holds); one that
          // went away takes its watches along.
          let isDir = false;
          try {
            isDir = lstatSync(join(abs, p)).isDirectory();
          } catch {
            drop(p);
          }
          if (isDir) add(p);
        }
        clearTimeout(timer);
        timer = setTimeout(flush, quietMs);
      });
    } catch {
      return; // gone already, or out of inotify watches: rescans still find its changes
    }
    w.on("error", () => {
      w.close();
      watchers.delete(rel);
    });
    watchers.set(rel, w);
    let entries: Dirent[];
    try {
      entries = readdirSync(full, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) add(rel === "" ? e.name : `${rel}/${e.name}`);
    }
  };
  add("");
  return () => {
    closed = true;
    clearTimeout(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}
