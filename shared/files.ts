/**
 * Files: the requests of the fs service, the events every file mutation publishes (stream
 * WS_FS), the live change feed of watched directories, and the sort order of listings.
 * Shared by the fs service, the gateway (uploads) and the web app.
 */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError, type ErrorPayload } from "./errors.js";
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from "./paths.js";
import { SearchRequestSchemas, type SearchResults } from "./search.js";

/** What a directory entry is (from lstat: a symlink is "symlink", whatever it points to). */
export const EntryTypes = ["file", "dir", "symlink", "other"] as const;
export type EntryType = (typeof EntryTypes)[number];

/** One entry of a listing. */
export interface FileEntry {
  name: string;
  type: EntryType;
  /** Bytes; for a symlink, the size of what it points to (0 when broken). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Symlinks: the link's text and the type of its target ("missing" when it is broken). */
  link?: { target: string; type: EntryType | "missing" };
  /** The entry could not be examined (removed meanwhile, or not permitted). */
  error?: string;
}

/** A listing's sort column. */
export const SortKeys = ["name", "size", "mtime", "type"] as const;
export type SortKey = (typeof SortKeys)[number];

/** Entries per page of a listing (the first page and every later one). */
export const LIST_PAGE_SIZE = 300;
/** Largest page a client may ask for. */
export const MAX_LIST_PAGE = 2000;
/** The most the `read` request returns; bigger files are downloaded over HTTP. */
export const MAX_READ_BYTES = 512 * 1024;
/** The most the `write` request takes; bigger files are uploaded over HTTP. */
export const MAX_WRITE_BYTES = 512 * 1024;
/** At most this many paths in one move, copy or delete. */
export const MAX_PATHS_PER_REQUEST = 1000;

const PathSchema = Type.String({ minLength: 1, maxLength: MAX_PATH_BYTES });
const NameSchema = Type.String({ minLength: 1, maxLength: MAX_NAME_BYTES });
const ClientSchema = Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" });
const PathsSchema = Type.Array(PathSchema, { minItems: 1, maxItems: MAX_PATHS_PER_REQUEST });
const strict = { additionalProperties: false } as const;

/** Every request of the fs service, by `op`. Paths may be absolute, `~/…` or relative to home. */
export const FsRequestSchemas = {
  /** The home directory (and whether a sandbox applies). */
  info: Type.Object({ op: Type.Literal("info") }, strict),
  /**
   * A page of a directory. Without `cursor` the directory is read afresh and a cursor for
   * the following pages comes back; `watch` (a client id) also starts a live watch on it.
   */
  list: Type.Object(
    {
      op: Type.Literal("list"),
      path: PathSchema,
      offset: Type.Integer({ minimum: 0 }),
      limit: Type.Integer({ minimum: 0, maximum: MAX_LIST_PAGE }),
      sort: Type.Union(SortKeys.map((k) => Type.Literal(k))),
      desc: Type.Boolean(),
      hidden: Type.Boolean(),
      filter: Type.String({ maxLength: 200 }),
      cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
      watch: Type.Optional(ClientSchema),
    },
    strict,
  ),
  /** What a path is, following symlinks; `real` is its canonical path. */
  stat: Type.Object({ op: Type.Literal("stat"), path: PathSchema }, strict),
  /** The canonical path of a path (every symlink followed), also of one that does not exist yet. */
  resolve: Type.Object({ op: Type.Literal("resolve"), path: PathSchema }, strict),
  /** Which of `names` exist in `dir` (without following symlinks). */
  exists: Type.Object(
    {
      op: Type.Literal("exists"),
      dir: PathSchema,
      names: Type.Array(NameSchema, { maxItems: MAX_PATHS_PER_REQUEST }),
    },
    strict,
  ),
  /** The start of a file (at most MAX_READ_BYTES), as UTF-8 text or base64. */
  read: Type.Object(
    {
      op: Type.Literal("read"),
      path: PathSchema,
      maxBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_READ_BYTES })),
    },
    strict,
  ),
  /**
   * Writes a whole (small) file; `exclusive` fails when it exists (a new, empty file);
   * `atomic` writes a temp file beside it and renames it over the file, keeping its mode, so
   * a reader never sees half of it (the docs service's saves).
   */
  write: Type.Object(
    {
      op: Type.Literal("write"),
      path: PathSchema,
      content: Type.String({ maxLength: Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 4 }),
      encoding: Type.Union([Type.Literal("utf8"), Type.Literal("base64")]),
      exclusive: Type.Boolean(),
      atomic: Type.Optional(Type.Boolean()),
    },
    strict,
  ),
  /** Creates a directory; `parents` also creates missing parents and accepts an existing one. */
  mkdir: Type.Object(
    { op: Type.Literal("mkdir"), path: PathSchema, parents: Type.Boolean() },
    strict,
  ),
  /** Renames (or moves) one entry to a new path; fails when `to` exists. */
  rename: Type.Object({ op: Type.Literal("rename"), from: PathSchema, to: PathSchema }, strict),
  /** Moves entries into a directory, keeping their names; fails on the first clash. */
  move: Type.Object({ op: Type.Literal("move"), paths: PathsSchema, dir: PathSchema }, strict),
  /** Copies entries (recursively) into a directory; a clash gets a " (copy)" name. */
  copy: Type.Object({ op: Type.Literal("copy"), paths: PathsSchema, dir: PathSchema }, strict),
  /** Deletes entries (directories recursively; a symlink itself, never what it points to). */
  delete: Type.Object({ op: Type.Literal("delete"), paths: PathsSchema }, strict),
  /** Keeps (or starts) a live watch of a directory for a client, for a while. */
  watch: Type.Object({ op: Type.Literal("watch"), path: PathSchema, client: ClientSchema }, strict),
  /** Ends a client's watch of one directory, or of all its directories. */
  unwatch: Type.Object(
    { op: Type.Literal("unwatch"), path: Type.Optional(PathSchema), client: ClientSchema },
    strict,
  ),
  /** Search in files, replace across files, quick open (shared/search.ts). */
  ...SearchRequestSchemas,
} as const;

export type FsOp = keyof typeof FsRequestSchemas;

/**
 * The ops that change no file: the only ones the fs service answers on its read subject
 * (`ws.<wsid>.read.fs`), which is all a viewer may ask. A watch changes no file either: it
 * is a lease on change notices.
 */
export const FS_READ_OPS: ReadonlySet<FsOp> = new Set<FsOp>([
  "info",
  "list",
  "stat",
  "resolve",
  "exists",
  "read",
  "watch",
  "unwatch",
  "search",
  "search-more",
  "search-stop",
  "find-files",
]);
type FsRequests = { [O in FsOp]: Static<(typeof FsRequestSchemas)[O]> };
/** A request of op `O` (by default: any request). */
export type FsRequest<O extends FsOp = FsOp> = FsRequests[O];

/** A directory page. `path` is canonical (symlinks resolved); `display` is `~/…` or absolute. */
export interface ListResult {
  path: string;
  display: string;
  cursor: string;
  /** Entries after hiding and filtering. */
  total: number;
  offset: number;
  entries: FileEntry[];
  /** A watch was asked for but could not be started (the listing itself is fine). */
  watchError?: ErrorPayload;
}

/** What `stat` says about a path. */
export interface StatResult {
  /** The path as asked (absolute, normalised). */
  path: string;
  /** The canonical path: every symlink resolved. */
  real: string;
  display: string;
  /** The entry itself (not followed). */
  entry: FileEntry;
  /** What it is after following symlinks. */
  type: EntryType | "missing";
}

export interface ReadResult {
  path: string;
  size: number;
  mtime: number;
  encoding: "utf8" | "base64";
  content: string;
  /** Only the first `maxBytes` were read. */
  truncated: boolean;
  /** The bytes are not valid UTF-8 text (then `content` is base64). */
  binary: boolean;
}

/** What each op answers with. */
export interface FsResults extends SearchResults {
  info: { home: string; sandbox: string | null };
  list: ListResult;
  stat: StatResult;
  resolve: { real: string; display: string };
  exists: { existing: string[] };
  read: ReadResult;
  write: { path: string; size: number; created: boolean };
  mkdir: { path: string; created: boolean };
  rename: { from: string; to: string };
  move: { moved: { from: string; to: string }[] };
  copy: { copied: { from: string; to: string }[] };
  delete: { deleted: string[] };
  /** `renewed`: the client held this watch already (false: changes before now went unheard). */
  watch: { path: string; expiresInMs: number; renewed: boolean };
  unwatch: { stopped: number };
}

/** The reply to any fs request. */
export type FsReply<O extends FsOp = FsOp> =
  | { ok: true; result: FsResults[O] }
  | { ok: false; error: ErrorPayload };

/** Maximum size of an fs request in bytes. */
export const MAX_FS_REQUEST_BYTES = 800 * 1024;

/** Parses and validates an fs request; throws ERR_FS_REQUEST. */
export function parseFsRequest(raw: Uint8Array | string): FsRequest {
  const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
  if (text.length > MAX_FS_REQUEST_BYTES) {
    throw new CocalcError("ERR_FS_REQUEST", `request is larger than ${MAX_FS_REQUEST_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CocalcError("ERR_FS_REQUEST", "request is not valid JSON");
  }
  const op = (value as { op?: unknown } | null)?.op;
  if (typeof op !== "string" || !Object.hasOwn(FsRequestSchemas, op)) {
    throw new CocalcError("ERR_FS_REQUEST", `unknown op ${JSON.stringify(op ?? null)}`);
  }
  const schema: TSchema = FsRequestSchemas[op as FsOp];
  if (!Value.Check(schema, value)) {
    const err = Value.Errors(schema, value).First();
    throw new CocalcError(
      "ERR_FS_REQUEST",
      `${op}: ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  return value as FsRequest;
}

/** How long a watch lives without being renewed; clients renew at a third of it. */
export const WATCH_LEASE_MS = 60_000;
/** How long changes are gathered before one notification goes out. */
export const WATCH_COALESCE_MS = 100;

/**
 * A notification on the live change feed: something in `dir` changed. `names` are the
 * entries concerned, or null when too many changed (or the directory itself did).
 */
export interface FsChange {
  dir: string;
  names: string[] | null;
  at: string;
}

// ——— events ———

const Kind = Type.Union([Type.Literal("file"), Type.Literal("dir"), Type.Literal("other")]);

export const FileCreated = defineEvent(
  "FileCreated",
  1,
  Type.Object({ path: PathSchema, kind: Kind }, strict),
);
export const FileWritten = defineEvent(
  "FileWritten",
  1,
  Type.Object({ path: PathSchema, size: Type.Integer({ minimum: 0 }) }, strict),
);
export const FileRenamed = defineEvent(
  "FileRenamed",
  1,
  Type.Object({ from: PathSchema, to: PathSchema, kind: Kind }, strict),
);
export const FileCopied = defineEvent(
  "FileCopied",
  1,
  Type.Object({ from: PathSchema, to: PathSchema, kind: Kind }, strict),
);
export const FileDeleted = defineEvent(
  "FileDeleted",
  1,
  Type.Object({ path: PathSchema, kind: Kind }, strict),
);
export const FileUploaded = defineEvent(
  "FileUploaded",
  1,
  Type.Object(
    { path: PathSchema, size: Type.Integer({ minimum: 0 }), replaced: Type.Boolean() },
    strict,
  ),
);
export const FsEvents = [
  FileCreated,
  FileWritten,
  FileRenamed,
  FileCopied,
  FileDeleted,
  FileUploaded,
] as const;
export type FsEvent =
  | EventOf<typeof FileCreated>
  | EventOf<typeof FileWritten>
  | EventOf<typeof FileRenamed>
  | EventOf<typeof FileCopied>
  | EventOf<typeof FileDeleted>
  | EventOf<typeof FileUploaded>;

/** The subject token of each event type: `ws.<wsid>.fs.<kind>`. */
export const FsEventKinds = {
  FileCreated: "created",
  FileWritten: "written",
  FileRenamed: "renamed",
  FileCopied: "copied",
  FileDeleted: "deleted",
  FileUploaded: "uploaded",
} as const satisfies Record<FsEvent["type"], string>;

// ——— sorting ———

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/**
 * Natural, case-insensitive order of names: `file2` before `file10`, `a` next to `A`; exact
 * order breaks ties so the order is total. No allocation: it runs on 100,000 names.
 */
export function compareNames(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let si = i;
      while (si < a.length && a.charCodeAt(si) === 48) si++;
      let sj = j;
      while (sj < b.length && b.charCodeAt(sj) === 48) sj++;
      let ei = si;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      let ej = sj;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      if (ei - si !== ej - sj) return ei - si - (ej - sj);
      for (let k = 0; k < ei - si; k++) {
        const d = a.charCodeAt(si + k) - b.charCodeAt(sj + k);
        if (d !== 0) return d;
      }
      i = ei;
      j = ej;
      continue;
    }
    const d = lower(ca) - lower(cb);
    if (d !== 0) return d;
    i++;
    j++;
  }
  const rest = a.length - i - (b.length - j);
  if (rest !== 0) return rest;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The extension used by the "type" sort: `b.tar.gz` → "gz", `.bashrc` → "". */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/** What the sort needs to know of an entry. */
export interface SortableEntry {
  name: string;
  /** Directories (and symlinks to them) come first. */
  isDir: boolean;
  size?: number;
  mtime?: number;
}

/**
 * The order of a listing: directories first, then by `key` (ascending unless `desc`), ties
 * by name. Size and time need `size` / `mtime`.
 */
export function entryComparator(
  key: SortKey,
  desc: boolean,
): (a: SortableEntry, b: SortableEntry) => number {
  const sign = desc ? -1 : 1;
  return (a, b) => {
    if (a.isDir !== b.isDir) return a.isDir ? -1 : 1;
    let d = 0;
    if (key === "size") d = (a.size ?? 0) - (b.size ?? 0);
    else if (key === "mtime") d = (a.mtime ?? 0) - (b.mtime ?? 0);
    else if (key === "type") d = compareNames(extensionOf(a.name), extensionOf(b.name));
    if (d === 0) d = compareNames(a.name, b.name);
    return sign * d;
  };
}

/** True for names a listing hides unless hidden files are shown. */
export function isHiddenName(name: string): boolean {
  return name.startsWith(".");
}

/**
 * Prefix of the temp files that uploads stream into and atomic writes fill before their
 * rename; listings and the change feed never show them.
 */
export const UPLOAD_TEMP_PREFIX = ".cocalc-upload-";

/**
 * A free name next to `name` given a test for taken names: `a.txt` → `a (1).txt`,
 * `a (1).txt`, … (`suffix` " (copy)" gives `a (copy).txt`, `a (copy 2).txt`, …).
 */
export function nextFreeName(name: string, taken: (n: string) => boolean, suffix = ""): string {
  if (!taken(name)) return name;
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : "";
  for (let i = 1; i < 10_000; i++) {
    const tag = suffix ? (i === 1 ? suffix : `${suffix.slice(0, -1)} ${i})`) : ` (${i})`;
    const candidate = `${stem}${tag}${ext}`;
    if (!taken(candidate)) return candidate;
  }
  throw new CocalcError("ERR_FS_EXISTS", `no free name next to ${JSON.stringify(name)}`);
}
