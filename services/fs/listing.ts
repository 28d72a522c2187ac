/**
 * Directory listings for directories of any size. A listing reads the names once (opendir
 * with a large buffer: as fast as `ls -f`), keeps them as a snapshot behind a cursor, and
 * examines (lstat) only the entries of the pages asked for. The first page of a name-sorted
 * listing is picked with a bounded heap, so 100,000 names are not fully sorted before the
 * first rows can be shown; the full order is computed when a later page is wanted.
 */
import { type Dirent, opendirSync, type Stats } from "node:fs";
import { lstat, readlink, stat } from "node:fs/promises";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import {
  compareNames,
  type EntryType,
  entryComparator,
  type FileEntry,
  type FsRequest,
  isHiddenName,
  type SortKey,
  UPLOAD_TEMP_PREFIX,
} from "../../shared/files.js";
import { joinPath } from "../../shared/paths.js";
import type { PathResolver, PinnedDir } from "../runtime/paths.js";

/** Snapshots kept for paging, least recently used dropped first. */
const MAX_SNAPSHOTS = 8;
/** A snapshot not used for this long is dropped. */
const SNAPSHOT_TTL_MS = 2 * 60_000;
/** Names read between two yields to the event loop. */
const READ_CHUNK = 4096;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

function typeOf(st: Stats | Dirent): EntryType {
  if (st.isSymbolicLink()) return "symlink";
  if (st.isDirectory()) return "dir";
  if (st.isFile()) return "file";
  return "other";
}

/**
 * One entry of a directory, examined with lstat (a symlink is described, and what it
 * points to is looked up). `dir` is the pinned directory; errors become `error`, not throws.
 */
export async function describeEntry(
  resolver: PathResolver,
  dir: PinnedDir,
  name: string,
  known?: EntryType,
): Promise<FileEntry> {
  let st: Stats;
  try {
    st = await lstat(dir.at(name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return {
      name,
      type: known ?? "other",
      size: 0,
      mtime: 0,
      mode: 0,
      error: code === "ENOENT" ? "removed" : code,
    };
  }
  const entry: FileEntry = {
    name,
    type: typeOf(st),
    size: st.size,
    mtime: Math.round(st.mtimeMs),
    mode: st.mode & 0o7777,
  };
  if (entry.type === "symlink") {
    let target = "";
    try {
      target = await readlink(dir.at(name));
    } catch {}
    entry.link = { target, type: "missing" };
    try {
      let t: Stats;
      if (resolver.sandbox !== null) {
        // Only look at targets inside the sandbox: even their size would tell about outside.
        t = await stat(await resolver.real(joinPath(dir.path, name)));
      } else {
        t = await stat(dir.at(name));
      }
      entry.link.type = typeOf(t);
      entry.size = t.size;
    } catch (err) {
      if (err instanceof CocalcError && err.code === "ERR_FS_OUTSIDE_SANDBOX") {
        entry.error = "points outside the sandbox";
      }
    }
  }
  return entry;
}

const TYPE_CODES: readonly EntryType[] = ["file", "dir", "symlink", "other"];

/**
 * One reading of a directory, kept for paging. Names and flags live in flat arrays, not
 * 100,000 small objects: less to allocate and to collect.
 */
interface Snapshot {
  id: string;
  /** Canonical directory path. */
  path: string;
  params: string;
  /** The client whose listing this is: its next fresh listing replaces it. */
  owner: string | undefined;
  sort: SortKey;
  desc: boolean;
  names: string[];
  /** Index into TYPE_CODES, of the entry itself (lstat). */
  types: Uint8Array;
  /** 1 for directories and symlinks to directories: they sort first. */
  dirs: Uint8Array;
  sizes: Float64Array | undefined;
  mtimes: Float64Array | undefined;
  /** Positions in display order: the first `order.length` are final (the rest not yet sorted). */
  order: number[];
  fullySorted: boolean;
  entries: (FileEntry | undefined)[];
  usedAt: number;
}

function paramsOf(r: FsRequest<"list">): string {
  return JSON.stringify([r.sort, r.desc, r.hidden, r.filter]);
}

/** The display order of a snapshot, as a comparator of indices. */
function orderOf(snap: Snapshot): (a: number, b: number) => number {
  const { names, dirs, sizes, mtimes } = snap;
  if (snap.sort === "name") {
    const sign = snap.desc ? -1 : 1;
    // The common case, without building an object per entry.
    return (a, b) => dirs[b]! - dirs[a]! || sign * compareNames(names[a]!, names[b]!);
  }
  const cmp = entryComparator(snap.sort, snap.desc);
  const item = (i: number) => ({
    name: names[i]!,
    isDir: dirs[i] === 1,
    size: sizes?.[i] ?? 0,
    mtime: mtimes?.[i] ?? 0,
  });
  return (a, b) => cmp(item(a), item(b));
}

/** The k smallest indices of 0..n-1 under `cmp`, sorted: a bounded max-heap, O(n log k). */
export function smallestK(n: number, k: number, cmp: (a: number, b: number) => number): number[] {
  const heap: number[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (cmp(heap[i]!, heap[p]!) <= 0) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && cmp(heap[l]!, heap[m]!) > 0) m = l;
      if (r < heap.length && cmp(heap[r]!, heap[m]!) > 0) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  if (k <= 0) return [];
  for (let i = 0; i < n; i++) {
    if (heap.length < k) {
      heap.push(i);
      up(heap.length - 1);
    } else if (cmp(i, heap[0]!) < 0) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort(cmp);
}

export class Listings {
  private readonly snapshots = new Map<string, Snapshot>();

  constructor(private readonly resolver: PathResolver) {}

  /** Answers a list request: a fresh snapshot without cursor, a page of one with it. */
  async list(r: FsRequest<"list">): Promise<{
    path: string;
    cursor: string;
    total: number;
    offset: number;
    entries: FileEntry[];
  }> {
    this.expire();
    let snap: Snapshot;
    if (r.cursor !== undefined) {
      const found = this.snapshots.get(r.cursor);
      if (!found || found.params !== paramsOf(r)) {
        throw new CocalcError(
          "ERR_FS_CURSOR",
          "this listing has expired; list the directory again",
        );
      }
      snap = found;
      // Most recently used last, so the oldest is dropped first.
      this.snapshots.delete(snap.id);
      this.snapshots.set(snap.id, snap);
    } else {
      snap = await this.read(r);
    }
    snap.usedAt = Date.now();
    const end = Math.min(snap.names.length, r.offset + r.limit);
    if (end > snap.order.length) this.sortFully(snap);
    const entries = await this.resolver.withDir(snap.path, (dir) =>
      Promise.all(
        snap.order.slice(r.offset, end).map(async (i) => {
          snap.entries[i] ??= await describeEntry(
            this.resolver,
            dir,
            snap.names[i]!,
            TYPE_CODES[snap.types[i]!],
          );
          return snap.entries[i]!;
        }),
      ),
    );
    return {
      path: snap.path,
      cursor: snap.id,
      total: snap.names.length,
      offset: r.offset,
      entries,
    };
  }

  private async read(r: FsRequest<"list">): Promise<Snapshot> {
    return this.resolver.withDir(r.path, async (dir) => {
      const names: string[] = [];
      const codes: number[] = [];
      const needle = r.filter.toLowerCase();
      const handle = opendirSync(dir.dirPath, { bufferSize: READ_CHUNK });
      try {
        for (let n = 1; ; n++) {
          const d = handle.readSync();
          if (d === null) break;
          const name = d.name;
          if (n % READ_CHUNK === 0) await yieldToLoop();
          if (name.startsWith(UPLOAD_TEMP_PREFIX)) continue;
          if (!r.hidden && isHiddenName(name)) continue;
          if (needle && !name.toLowerCase().includes(needle)) continue;
          names.push(name);
          codes.push(d.isDirectory() ? 1 : d.isSymbolicLink() ? 2 : d.isFile() ? 0 : 3);
        }
      } finally {
        handle.closeSync();
      }
      const n = names.length;
      const types = Uint8Array.from(codes);
      const snap: Snapshot = {
        id: randomId(),
        path: dir.path,
        params: paramsOf(r),
        owner: r.watch,
        sort: r.sort,
        desc: r.desc,
        names,
        types,
        dirs: types.map((t) => (t === 1 ? 1 : 0)),
        sizes: undefined,
        mtimes: undefined,
        order: [],
        fullySorted: false,
        entries: new Array(n),
        usedAt: Date.now(),
      };
      // Symlinks to directories sort with directories: look at what they point to.
      for (let i = 0; i < n; i++) {
        if (types[i] !== 2) continue;
        const e = await describeEntry(this.resolver, dir, names[i]!, "symlink");
        snap.entries[i] = e;
        if (e.link?.type === "dir") snap.dirs[i] = 1;
      }
      if (r.sort === "size" || r.sort === "mtime") {
        snap.sizes = new Float64Array(n);
        snap.mtimes = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          snap.entries[i] ??= await describeEntry(
            this.resolver,
            dir,
            names[i]!,
            TYPE_CODES[types[i]!],
          );
          snap.sizes[i] = snap.entries[i]!.size;
          snap.mtimes[i] = snap.entries[i]!.mtime;
          if (i % READ_CHUNK === 0) await yieldToLoop();
        }
      }
      const first = Math.min(n, r.offset + r.limit);
      if (first * 4 < n) snap.order = smallestK(n, first, orderOf(snap));
      else this.sortFully(snap);
      // A client's fresh listing replaces its previous one: a busy directory that is listed
      // again and again must not fill memory with copies of itself.
      if (snap.owner !== undefined) {
        for (const [id, old] of this.snapshots) {
          if (old.owner === snap.owner) this.snapshots.delete(id);
        }
      }
      this.snapshots.set(snap.id, snap);
      while (this.snapshots.size > MAX_SNAPSHOTS) {
        this.snapshots.delete(this.snapshots.keys().next().value!);
      }
      return snap;
    });
  }

  private sortFully(snap: Snapshot): void {
    if (snap.fullySorted) return;
    const order = Array.from({ length: snap.names.length }, (_, i) => i);
    order.sort(orderOf(snap));
    snap.order = order;
    snap.fullySorted = true;
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, s] of this.snapshots) {
      if (now - s.usedAt > SNAPSHOT_TTL_MS) this.snapshots.delete(id);
    }
  }

  /** Forgets every snapshot. */
  clear(): void {
    this.snapshots.clear();
  }
}
