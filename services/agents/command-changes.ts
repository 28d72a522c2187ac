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
  root: string,
  excluded: Excluded,
  onFile: (path: string, size: number, mtimeMs: number) => Promise<void>,
): Promise<boolean> {
  let entries = 0;
  const dirs = [root];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    let names: import("node:fs").Dirent[];
    try {
      names = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of names) {
      if (++entries > MAX_ENTRIES) return true;
      const p = join(dir, d.name);
      if (excluded(p)) continue;
      if (d.isDirectory()) {
        if (!SKIPPED.has(d.name)) dirs.push(p);
      } else if (d.isFile()) {
        const st = await lstat(p).catch(() => undefined);
        if (st?.isFile()) await onFile(p, st.size, st.mtimeMs);
      }
    }
  }
  return false;
}

export class TreeSnapshot {
  private constructor(
    private readonly root: string,
    private readonly excluded: Excluded,
    private readonly files: Map<string, Seen>,
    private readonly partial: boolean,
  ) {}

  /** Looks at the tree under `root` (a real path) now. */
  static async take(root: string, excluded: Excluded): Promise<TreeSnapshot> {
    const files = new Map<string, Seen>();
    let kept = 0;
    const partial = await walk(root, excluded, async (path, size, mtimeMs) => {
      const seen: Seen = { size, mtimeMs };
      if (size <= MAX_RECORDED_FILE && kept + size <= MAX_KEPT_BYTES) {
        const b = await readFile(path).catch(() => undefined);
        if (b && isText(b)) {
          seen.text = b.toString("utf8");
          kept += b.length;
        } else if (b) seen.binary = true;
      }
      files.set(path, seen);
    });
    return new TreeSnapshot(root, excluded, files, partial);
  }

  /** What changed since, leaving out `recorded` (paths the turn's log has writes of already). */
  async changes(recorded: ReadonlySet<string>): Promise<CommandChanges> {
    const out: CommandChanges = { writes: [], untracked: [], partial: this.partial };
    const now = new Set<string>();
    const later = await walk(this.root, this.excluded, async (path, size, mtimeMs) => {
      now.add(path);
      if (recorded.has(path)) return;
      const before = this.files.get(path);
      if (before && before.size === size && before.mtimeMs === mtimeMs) return;
      const change = before ? "modified" : "created";
      if (size > MAX_RECORDED_FILE) {
        out.untracked.push({ path, change, why: "too-large" });
        return;
      }
      const b = await readFile(path).catch(() => undefined);
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
