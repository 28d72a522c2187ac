/**
 * What a turn changed without telling: files its commands (or the agent's own tools, unreported)
 * created, changed or deleted under the turn's working directory. The tree is looked at when
 * the turn starts (each file's size and mtime, and the text of small files, kept in memory)
 * and again when it ends; a change to a file whose text was kept becomes a FileWritten record
 * like the agent's own writes, so "Revert this turn" covers it. What was not kept (too many
 * files, too big, binary) is listed with why, so the page can say it cannot be put back.
 */
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { MAX_RECORDED_FILE } from "../../shared/agents.js";
import { MAX_LIST_PAGE } from "../../shared/files.js";
import type { WorkspaceFiles } from "./place.js";

/** How a tree is looked at: this machine's file system, or a container's through its fs service. */
export interface TreeAccess {
  /** A folder's entries (none when it cannot be read). */
  list(
    dir: string,
  ): Promise<{ name: string; kind: "dir" | "file" | "other"; size: number; mtimeMs: number }[]>;
  /** A file's bytes (undefined when it cannot be read). */
  read(path: string): Promise<Buffer | undefined>;
}

export const hostTree: TreeAccess = {
  async list(dir) {
    const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const out: Awaited<ReturnType<TreeAccess["list"]>> = [];
    for (const d of names) {
      if (d.isDirectory()) out.push({ name: d.name, kind: "dir", size: 0, mtimeMs: 0 });
      else if (d.isFile()) {
        const st = await lstat(join(dir, d.name)).catch(() => undefined);
        if (st?.isFile())
          out.push({ name: d.name, kind: "file", size: st.size, mtimeMs: st.mtimeMs });
      } else out.push({ name: d.name, kind: "other", size: 0, mtimeMs: 0 });
    }
    return out;
  },
  read: (path) => readFile(path).catch(() => undefined),
};

/** A container workspace's tree, as its user sees it, through its fs service. */
export function containerTree(files: WorkspaceFiles): TreeAccess {
  return {
    async list(dir) {
      const out: Awaited<ReturnType<TreeAccess["list"]>> = [];
      for (let offset = 0; ; offset += MAX_LIST_PAGE) {
        const page = await files.list(dir, offset, MAX_LIST_PAGE).catch(() => undefined);
        if (!page) return out;
        for (const e of page.entries) {
          const kind = e.type === "dir" ? "dir" : e.type === "file" ? "file" : "other";
          out.push({ name: e.name, kind, size: e.size, mtimeMs: e.mtime });
        }
        if (offset + page.entries.length >= page.total || page.entries.length === 0) return out;
      }
    },
    read: (path) => files.readBytes(path).catch(() => undefined),
  };
}

/** Folders not looked into: version control, dependencies, caches. */
const SKIPPED = new Set([".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".cache"]);
/** Entries looked at, at most (a home with a big tree stops there). */
export const MAX_ENTRIES = 20_000;
/** Text kept in memory for one turn, at most. */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;

interface Seen {
  size: number;
  mtimeMs: number;
  /** The file's text when it was kept (small, text, within the budget). */
  text?: string;
  binary?: boolean;
}

export type UntrackedChange = {
  path: string;
  change: "created" | "modified" | "deleted";
  why: "too-large" | "binary" | "not-kept";
};

export interface CommandChanges {
  /** Changes with the text before and after: recorded like the agent's writes. */
  writes: { path: string; before: string | null; after: string; deleted: boolean }[];
  untracked: UntrackedChange[];
  /** The walk stopped at MAX_ENTRIES: changes further on are not seen. */
  partial: boolean;
}

function isText(b: Buffer): boolean {
  return !b.subarray(0, 8192).includes(0);
}

/** Paths never looked at (plus's secrets, its data): true to leave one out with all under it. */
export type Excluded = (path: string) => boolean;

async function walk(
  tree: TreeAccess,
  root: string,
  excluded: Excluded,
  onFile: (path: string, size: number, mtimeMs: number) => Promise<void>,
): Promise<boolean> {
  let entries = 0;
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    for (const d of await tree.list(dir)) {
      if (++entries > MAX_ENTRIES) return true;
      const p = dir === "/" ? `/${d.name}` : join(dir, d.name);
      if (excluded(p)) continue;
      if (d.kind === "dir") {
        if (!SKIPPED.has(d.name)) dirs.push(p);
      } else if (d.kind === "file") await onFile(p, d.size, d.mtimeMs);
    }
  }
  return false;
}

export class TreeSnapshot {
  private constructor(
    private readonly tree: TreeAccess,
    private readonly root: string,
    private readonly excluded: Excluded,
    private readonly files: Map<string, Seen>,
    private readonly partial: boolean,
  ) {}

  /** Looks at the tree under `root` (a real path) now. */
  static async take(tree: TreeAccess, root: string, excluded: Excluded): Promise<TreeSnapshot> {
    const files = new Map<string, Seen>();
    let kept = 0;
    const partial = await walk(tree, root, excluded, async (path, size, mtimeMs) => {
      const seen: Seen = { size, mtimeMs };
      if (size <= MAX_RECORDED_FILE && kept + size <= MAX_KEPT_BYTES) {
        const b = await tree.read(path);
        if (b && isText(b)) {
          seen.text = b.toString("utf8");
          kept += b.length;
        } else if (b) seen.binary = true;
      }
      files.set(path, seen);
    });
    return new TreeSnapshot(tree, root, excluded, files, partial);
  }

  /** What changed since, leaving out `recorded` (paths the turn's log has writes of already). */
  async changes(recorded: ReadonlySet<string>): Promise<CommandChanges> {
    const out: CommandChanges = { writes: [], untracked: [], partial: this.partial };
    const now = new Set<string>();
    const later = await walk(this.tree, this.root, this.excluded, async (path, size, mtimeMs) => {
      now.add(path);
      if (recorded.has(path)) return;
      const before = this.files.get(path);
      if (before && before.size === size && before.mtimeMs === mtimeMs) return;
      const change = before ? "modified" : "created";
      if (size > MAX_RECORDED_FILE) {
        out.untracked.push({ path, change, why: "too-large" });
        return;
      }
      const b = await this.tree.read(path);
      if (!b) return;
      if (!isText(b)) {
        out.untracked.push({ path, change, why: "binary" });
        return;
      }
      const after = b.toString("utf8");
      if (!before) out.writes.push({ path, before: null, after, deleted: false });
      else if (before.text === undefined) out.untracked.push({ path, change, why: "not-kept" });
      else if (before.text !== after)
        out.writes.push({ path, before: before.text, after, deleted: false });
    });
    out.partial ||= later;
    // Gone: deleted (a file looked at before but past the walk's end now is not counted).
    if (!later) {
      for (const [path, seen] of this.files) {
        if (now.has(path) || recorded.has(path)) continue;
        if (seen.text === undefined)
          out.untracked.push({
            path,
            change: "deleted",
            why: seen.binary ? "binary" : seen.size > MAX_RECORDED_FILE ? "too-large" : "not-kept",
          });
        else out.writes.push({ path, before: seen.text, after: "", deleted: true });
      }
    }
    return out;
  }
}
