/**
 * File sync between this machine and a remote target: the rules for pair roots, the help
 * text of ignore patterns, and the events, commands and view shared by the sync service, the
 * CLI and the web app. Pure. (Matching ignore patterns and deciding per path are the sync
 * service's: services/sync/ignore.ts and path-decision.ts.)
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";
import { sessionIdOf } from "./remote.js";
import { sha256 } from "./sha256.js";

// ---------------------------------------------------------------------------------------------
// Ignore patterns

/** The short explanation of the pattern syntax shown next to the ignore field. */
export const IGNORE_HELP = [
  "One pattern per line; # starts a comment; .gitignore files in the tree count too.",
  "name          ignores every file or folder called name, at any depth",
  "/name         only at the top of the synced folder",
  "dir/          folders only (and everything in them)",
  "*.log         * is any run of characters except /, ? is one character",
  "a/**/b        ** spans any number of folders",
  "!keep.log     a later ! pattern brings back what an earlier one ignored",
].join("\n");

// ---------------------------------------------------------------------------------------------
// Paths of pair roots

/** Which machine. */
export const SyncSides = ["local", "remote"] as const;
export type SyncSide = (typeof SyncSides)[number];

export function otherSide(side: SyncSide): SyncSide {
  return side === "local" ? "remote" : "local";
}

/**
 * Which way a pair syncs: both (changes go either way, both-sided changes are conflicts), or
 * one way, a mirror: the other side is made a copy of one (its own changes are undone and
 * what only it holds is deleted).
 */
export const SyncDirections = ["both", "to-remote", "to-local"] as const;
export type SyncDirection = (typeof SyncDirections)[number];

/** The side a mirror copies from; undefined for both ways. */
export function mirrorSource(direction: SyncDirection | undefined): SyncSide | undefined {
  return direction === "to-remote" ? "local" : direction === "to-local" ? "remote" : undefined;
}

/** "both ways", "local → remote (mirror)", … */
export function describeDirection(direction: SyncDirection | undefined): string {
  if (direction === "to-remote") return "local → remote (mirror)";
  if (direction === "to-local") return "remote → local (mirror)";
  return "both ways";
}

/**
 * Normalises a pair root as typed by a person. Relative paths and `~/…` are relative to the
 * home directory of the side they are on (the result has no `~`); absolute paths are kept
 * only with `outsideHome`. `home` turns an absolute path inside it back into a relative one.
 * Throws ERR_SYNC_PATH with the reason.
 */
export function normalizeRoot(
  input: string,
  opts: { outsideHome?: boolean; home?: string; side?: SyncSide } = {},
): string {
  const side = opts.side ?? "local";
  const bad = (why: string) =>
    new CocalcError("ERR_SYNC_PATH", `${side} path ${JSON.stringify(input)}: ${why}`);
  if (typeof input !== "string" || input.trim() === "") throw bad("is empty");
  if (input.includes("\0")) throw bad("contains a NUL byte");
  if (input.length > 4096) throw bad("is longer than 4096 characters");
  let p = input.trim();
  let absolute = false;
  if (p === "~") p = "";
  else if (p.startsWith("~/")) p = p.slice(2);
  else if (p.startsWith("~")) throw bad("~user paths are not supported; use ~/ or a relative path");
  else if (p.startsWith("/")) {
    const home = opts.home?.replace(/\/+$/, "");
    if (home && (p === home || p.startsWith(`${home}/`))) p = p.slice(home.length);
    else absolute = true;
  }
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") throw bad("'..' is not allowed");
    parts.push(seg);
  }
  if (absolute) {
    if (!opts.outsideHome) {
      throw bad("is outside the home directory; allow paths outside home explicitly to use it");
    }
    if (parts.length === 0) throw bad("the whole file system cannot be synced");
    return `/${parts.join("/")}`;
  }
  if (parts.length === 0) throw bad("the home directory itself cannot be synced; pick a folder");
  return parts.join("/");
}

/** How a root reads to a person: `~/a/b` or `/abs`. */
export function displayRoot(root: string): string {
  return root.startsWith("/") ? root : `~/${root}`;
}

/** True when `a` is `b` or one contains the other (both normalised roots of the same side). */
export function rootsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** A pair's roots, as another pair is checked against. */
export interface PairRoots {
  pair: string;
  session: string;
  local: string;
  remote: string;
}

/**
 * Throws ERR_SYNC_NESTED when a new pair's local root overlaps another pair's local root, or
 * (on the same session) its remote root overlaps another's remote root.
 */
export function checkNotNested(candidate: Omit<PairRoots, "pair">, others: readonly PairRoots[]) {
  for (const o of others) {
    for (const side of ["local", "remote"] as const) {
      if (side === "remote" && o.session !== candidate.session) continue;
      const a = candidate[side];
      const b = o[side];
      if (!rootsOverlap(a, b)) continue;
      const how =
        a === b
          ? `is already synced by pair ${o.pair}`
          : a.startsWith(`${b}/`)
            ? `is inside ${displayRoot(b)}, synced by pair ${o.pair}`
            : `contains ${displayRoot(b)}, synced by pair ${o.pair}`;
      throw new CocalcError(
        "ERR_SYNC_NESTED",
        `${side} path ${displayRoot(a)} ${how}; pairs may not nest`,
        { pair: o.pair, side },
      );
    }
  }
}

/**
 * The id of the pair of a session and local root: one local folder, one pair. It ends with
 * the session id, so a pair's events (under its session's subjects) are found from the id alone.
 */
export function pairIdFor(session: string, local: string): string {
  return `p${bytesToBase64url(sha256(`${session}\0${local}`)).slice(0, 22)}${sessionIdOf(session)}`;
}

/** The session id a pair id ends with (see `pairIdFor`). */
export function sessionIdOfPair(pair: string): string {
  return pair.slice(23);
}

/** How a conflict is settled: the local version stays, the remote's, or both files. */
export const ConflictKeeps = ["local", "remote", "both"] as const;
export type ConflictKeep = (typeof ConflictKeeps)[number];

/**
 * The side whose version a conflict copy holds (`name.conflict-<side>-<time>.ext` beside
 * `path`, as the sync service names them), or undefined when `keptAs` is not a conflict copy
 * of `path` (a resolution deletes or moves it: nothing else may be named).
 */
export function conflictLoser(path: string, keptAs: string): SyncSide | undefined {
  const bad =
    path === "" ||
    path.startsWith("/") ||
    path.includes("\0") ||
    path.split("/").some((seg) => seg === "" || seg === "." || seg === "..");
  if (bad) return undefined;
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash + 1);
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : "";
  if (!keptAs.startsWith(`${dir}${stem}.conflict-`) || !keptAs.endsWith(ext)) return undefined;
  const middle = keptAs.slice(`${dir}${stem}.conflict-`.length, keptAs.length - ext.length);
  const m = /^(local|remote)-\d{8}T\d{6}Z$/.exec(middle);
  return m ? (m[1] as SyncSide) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Events (stream REMOTE): pair configuration on `remote.<sid>.sync.<pair>.cfg`, the work on `.run`

const PairId = Type.String({ pattern: "^p[A-Za-z0-9_-]{22}s[A-Za-z0-9_-]{1,420}$" });
const Root = Type.String({ minLength: 1, maxLength: 4096 });
const Session = Type.String({ minLength: 1, maxLength: 300, pattern: "^[^\\s\\u0000]+$" });
const Side = Type.Union(SyncSides.map((s) => Type.Literal(s)));
const Direction = Type.Union(SyncDirections.map((d) => Type.Literal(d)));
const Patterns = Type.String({ maxLength: 64 * 1024 });
const Count = Type.Integer({ minimum: 0 });
const Cycle = Type.Integer({ minimum: 1 });
const Reason = Type.String({ maxLength: 2000 });

/** A pair's settings as stored. */
export const PairConfigSchema = Type.Object(
  {
    session: Session,
    /** Normalised roots: relative to each side's home, or absolute (with outsideHome). */
    local: Root,
    remote: Root,
    ignore: Patterns,
    prefer: Side,
    outsideHome: Type.Boolean(),
    /** Absent: both ways (pairs from before one-way modes). */
    direction: Type.Optional(Direction),
  },
  { additionalProperties: false },
);
export type PairConfig = Static<typeof PairConfigSchema>;

export const SyncPairAdded = defineEvent("SyncPairAdded", 1, PairConfigSchema);
export const SyncPairChanged = defineEvent(
  "SyncPairChanged",
  1,
  Type.Object(
    {
      ignore: Type.Optional(Patterns),
      prefer: Type.Optional(Side),
      direction: Type.Optional(Direction),
    },
    { additionalProperties: false },
  ),
);
export const SyncPairPaused = defineEvent(
  "SyncPairPaused",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const SyncPairResumed = defineEvent(
  "SyncPairResumed",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/** The pair is gone; its files stay where they are on both sides. */
export const SyncPairRemoved = defineEvent(
  "SyncPairRemoved",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/** Someone asked for a deep comparison (every file hashed on both sides). */
export const SyncCheckRequested = defineEvent(
  "SyncCheckRequested",
  1,
  Type.Object({}, { additionalProperties: false }),
);

const Keep = Type.Union(ConflictKeeps.map((k) => Type.Literal(k)));
const RelPath = Type.String({ minLength: 1, maxLength: 4096 });

/** Someone settled a conflict: the sync engine carries it out between cycles. */
export const SyncConflictResolveRequested = defineEvent(
  "SyncConflictResolveRequested",
  1,
  Type.Object({ path: RelPath, keptAs: RelPath, keep: Keep }, { additionalProperties: false }),
);

export const CycleKinds = ["full", "watch", "check"] as const;
export type CycleKind = (typeof CycleKinds)[number];

/** A sync cycle began: what each side's scan found. */
export const SyncCycleStarted = defineEvent(
  "SyncCycleStarted",
  1,
  Type.Object(
    {
      cycle: Cycle,
      kind: Type.Union(CycleKinds.map((k) => Type.Literal(k))),
      localEntries: Count,
      remoteEntries: Count,
      /** Paths that differ and will be worked on, and the bytes to move. */
      pendingFiles: Count,
      pendingBytes: Count,
    },
    { additionalProperties: false },
  ),
);

const ActionName = Type.Union(
  ["copy", "delete", "conflict", "record", "forget"].map((a) => Type.Literal(a)),
);
/** One decided path, as the log keeps it. */
export const DecidedItemSchema = Type.Object(
  {
    path: Type.String({ maxLength: 4096 }),
    action: ActionName,
    reason: Type.Optional(Type.String({ maxLength: 40 })),
    /** copy: the side the content comes from; conflict: the winner; delete: the side deleted on. */
    side: Type.Optional(Side),
    size: Type.Optional(Count),
    localHash: Type.Optional(Type.String({ maxLength: 64 })),
    remoteHash: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type DecidedItem = Static<typeof DecidedItemSchema>;
/** Most items one SyncDecided event holds; a large cycle publishes several. */
export const MAX_DECIDED_ITEMS = 500;

/**
 * Files being hashed to compare their bytes (every file in a deep check), before the cycle's
 * plan: how many of how many so far.
 */
export const SyncHashProgress = defineEvent(
  "SyncHashProgress",
  1,
  Type.Object({ cycle: Cycle, hashed: Count, total: Count }, { additionalProperties: false }),
);

/** What was decided for a batch of paths (copies, deletes, conflicts; records are counted only). */
export const SyncDecided = defineEvent(
  "SyncDecided",
  1,
  Type.Object(
    {
      cycle: Cycle,
      items: Type.Array(DecidedItemSchema, { maxItems: MAX_DECIDED_ITEMS }),
    },
    { additionalProperties: false },
  ),
);

/** A batch of files went across with rsync. */
export const SyncTransferred = defineEvent(
  "SyncTransferred",
  1,
  Type.Object(
    {
      cycle: Cycle,
      from: Side,
      files: Count,
      bytes: Count,
      ms: Count,
      /** Progress of the cycle after this batch. */
      doneFiles: Count,
      doneBytes: Count,
      /**
       * Paths not put in place because the destination changed between the scan and the
       * transfer: the change there is kept, and the path is decided again next cycle.
       */
      kept: Type.Optional(
        Type.Array(Type.String({ maxLength: 4096 }), { maxItems: MAX_DECIDED_ITEMS }),
      ),
    },
    { additionalProperties: false },
  ),
);

/** Files deleted on one side because they were deleted on the other. */
export const SyncDeleted = defineEvent(
  "SyncDeleted",
  1,
  Type.Object(
    {
      cycle: Cycle,
      on: Side,
      paths: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: MAX_DECIDED_ITEMS }),
      /** Paths left alone because they changed since the scan, or a folder that was not empty. */
      kept: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: MAX_DECIDED_ITEMS }),
    },
    { additionalProperties: false },
  ),
);

/** Both sides changed a path: the winner's version is at the path, the loser's kept beside it. */
export const SyncConflictKept = defineEvent(
  "SyncConflictKept",
  1,
  Type.Object(
    {
      cycle: Cycle,
      path: Type.String({ maxLength: 4096 }),
      winner: Side,
      keptAs: Type.String({ maxLength: 4096 }),
      reason: Type.String({ maxLength: 40 }),
      localSize: Type.Optional(Count),
      remoteSize: Type.Optional(Count),
      localHash: Type.Optional(Type.String({ maxLength: 64 })),
      remoteHash: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  ),
);

/**
 * A conflict was settled as asked (`ok`), or could not be (a version changed since, the
 * session is down: `message` says), and stays listed.
 */
export const SyncConflictResolved = defineEvent(
  "SyncConflictResolved",
  1,
  Type.Object(
    {
      path: RelPath,
      keptAs: RelPath,
      keep: Keep,
      ok: Type.Boolean(),
      message: Type.Optional(Reason),
    },
    { additionalProperties: false },
  ),
);

export const SyncCycleFinished = defineEvent(
  "SyncCycleFinished",
  1,
  Type.Object(
    {
      cycle: Cycle,
      copied: Count,
      deleted: Count,
      conflicts: Count,
      bytes: Count,
      ms: Count,
      /** Files both sides agree on after the cycle. */
      synced: Count,
    },
    { additionalProperties: false },
  ),
);

export const SyncCycleFailed = defineEvent(
  "SyncCycleFailed",
  1,
  Type.Object(
    { cycle: Cycle, code: Type.String({ maxLength: 60 }), message: Reason },
    { additionalProperties: false },
  ),
);

export const SyncPairEvents = [
  SyncPairAdded,
  SyncPairChanged,
  SyncPairPaused,
  SyncPairResumed,
  SyncPairRemoved,
  SyncCheckRequested,
  SyncConflictResolveRequested,
] as const;
export const SyncRunEvents = [
  SyncHashProgress,
  SyncCycleStarted,
  SyncDecided,
  SyncTransferred,
  SyncDeleted,
  SyncConflictKept,
  SyncConflictResolved,
  SyncCycleFinished,
  SyncCycleFailed,
] as const;
export const SyncEvents = [...SyncPairEvents, ...SyncRunEvents] as const;

export type SyncPairEvent =
  | EventOf<typeof SyncPairAdded>
  | EventOf<typeof SyncPairChanged>
  | EventOf<typeof SyncPairPaused>
  | EventOf<typeof SyncPairResumed>
  | EventOf<typeof SyncPairRemoved>
  | EventOf<typeof SyncCheckRequested>
  | EventOf<typeof SyncConflictResolveRequested>;
export type SyncRunEvent =
  | EventOf<typeof SyncHashProgress>
  | EventOf<typeof SyncCycleStarted>
  | EventOf<typeof SyncDecided>
  | EventOf<typeof SyncTransferred>
  | EventOf<typeof SyncDeleted>
  | EventOf<typeof SyncConflictKept>
  | EventOf<typeof SyncConflictResolved>
  | EventOf<typeof SyncCycleFinished>
  | EventOf<typeof SyncCycleFailed>;
export type SyncEvent = SyncPairEvent | SyncRunEvent;

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.sync`)

export const AddSyncPair = defineCommand(
  "AddSyncPair",
  Type.Object(
    {
      session: Session,
      local: Root,
      /** Default: the same path as local (on the remote, relative to its home). */
      remote: Type.Optional(Root),
      ignore: Type.Optional(Patterns),
      prefer: Type.Optional(Side),
      outsideHome: Type.Optional(Type.Boolean()),
      direction: Type.Optional(Direction),
    },
    { additionalProperties: false },
  ),
);
export const ChangeSyncPair = defineCommand(
  "ChangeSyncPair",
  Type.Object(
    {
      pair: PairId,
      ignore: Type.Optional(Patterns),
      prefer: Type.Optional(Side),
      direction: Type.Optional(Direction),
    },
    { additionalProperties: false },
  ),
);
const PairOnly = Type.Object({ pair: PairId }, { additionalProperties: false });
export const PauseSyncPair = defineCommand("PauseSyncPair", PairOnly);
export const ResumeSyncPair = defineCommand("ResumeSyncPair", PairOnly);
export const RemoveSyncPair = defineCommand("RemoveSyncPair", PairOnly);
export const CheckSyncPair = defineCommand("CheckSyncPair", PairOnly);
/** Settles a listed conflict: keep the local version, the remote's, or both files. */
export const ResolveSyncConflict = defineCommand(
  "ResolveSyncConflict",
  Type.Object(
    { pair: PairId, path: RelPath, keptAs: RelPath, keep: Keep },
    { additionalProperties: false },
  ),
);
export const SyncCommands = [
  AddSyncPair,
  ChangeSyncPair,
  PauseSyncPair,
  ResumeSyncPair,
  RemoveSyncPair,
  CheckSyncPair,
  ResolveSyncConflict,
] as const;
export type AddSyncPairData = Static<typeof AddSyncPair.schema>;

// ---------------------------------------------------------------------------------------------
// Requests (to `ws.<wsid>.req.sync`): nothing here changes anything

/** Most decided paths a preview lists (its counts cover all). */
export const MAX_PREVIEW_ITEMS = 1000;

export const SyncRequestSchema = Type.Union([
  /** Why is this file different? What each side and the synced state hold at one path. */
  Type.Object(
    { op: Type.Literal("status"), pair: PairId, path: RelPath },
    { additionalProperties: false },
  ),
  /** A dry run of a pair before it is added: what its first cycle would do. */
  Type.Object(
    { op: Type.Literal("preview"), pair: AddSyncPair.schema },
    { additionalProperties: false },
  ),
]);
export type SyncRequest = Static<typeof SyncRequestSchema>;

/** A decision as the sync state keeps it: the latest per path. */
export interface RecordedDecision {
  cycle: number;
  at: string;
  action: DecidedItem["action"];
  reason?: string;
  side?: SyncSide;
}

/** An entry at a path, as a scan saw it or as it was synced. */
export interface PathEntryInfo {
  kind: "file" | "dir" | "link";
  size: number;
  /** ms since the epoch (a side's); absent for what was synced. */
  mtime?: number;
  hash?: string;
}

/** What sync knows of one path of a pair. */
export interface SyncPathStatus {
  pair: string;
  path: string;
  /** The pair's patterns (or a .gitignore) leave it out. */
  ignored: boolean;
  /** The pair's engine runs (else only what was recorded is known). */
  running: boolean;
  /** What each side held at its last scan (absent: nothing there). */
  local?: PathEntryInfo;
  remote?: PathEntryInfo;
  scannedAt?: string;
  /** What both held when it was last synced. */
  synced?: PathEntryInfo;
  last?: RecordedDecision;
  /** What a cycle would do now, from the scans and the synced state. */
  next?: { action: string; reason?: string; side?: SyncSide };
}

/** The status of a path in sentences, for the CLI and the page. */
export function explainPathStatus(s: SyncPathStatus): string[] {
  const out: string[] = [];
  const side = (x: SyncSide) => (x === "local" ? "this machine" : "the remote");
  const what = (e: PathEntryInfo | undefined) =>
    !e
      ? "nothing"
      : e.kind === "file"
        ? `a file of ${formatBytes(e.size)}${e.mtime !== undefined ? ` changed ${new Date(e.mtime).toISOString()}` : ""}`
        : e.kind === "dir"
          ? "a folder"
          : "a symlink";
  if (s.ignored) out.push("Ignored by the pair's patterns or a .gitignore: it is not synced.");
  if (s.running) {
    out.push(`This machine holds ${what(s.local)}; the remote holds ${what(s.remote)}.`);
  } else out.push("The pair is not running: only what was recorded is known.");
  out.push(
    s.synced
      ? `When last synced, both held ${what(s.synced)}${s.synced.hash ? ` (sha256 ${s.synced.hash.slice(0, 12)}…)` : ""}.`
      : "It was never synced.",
  );
  if (s.last) {
    const how =
      s.last.action === "copy"
        ? `copied from ${side(s.last.side ?? "local")}`
        : s.last.action === "delete"
          ? `deleted on ${side(s.last.side ?? "local")}`
          : s.last.action === "conflict"
            ? `a conflict: ${side(s.last.side ?? "local")}'s version kept at the path, the other beside it`
            : s.last.action;
    out.push(
      `Last decided in cycle ${s.last.cycle} (${s.last.at}): ${how}${s.last.reason ? ` (${s.last.reason})` : ""}.`,
    );
  }
  if (s.next && !s.ignored) {
    const n = s.next;
    out.push(
      n.action === "none" || n.action === "record"
        ? "Both sides agree now: nothing to do."
        : n.action === "copy"
          ? `The next cycle copies it from ${side(n.side ?? "local")} (${n.reason ?? "changed"}).`
          : n.action === "delete"
            ? `The next cycle deletes it on ${side(n.side ?? "local")} (${n.reason ?? "deleted"}).`
            : n.action === "conflict"
              ? `Both sides changed it: the next cycle keeps ${side(n.side ?? "local")}'s version at the path and the other beside it.`
              : `The next cycle: ${n.action}.`,
    );
  }
  return out;
}

/** What a pair's first cycle would do, found by scanning both sides (nothing is written). */
export interface SyncPreview {
  config: PairConfig;
  /** Entries each side holds now (0: the folder is missing, and would be made). */
  entries: Record<SyncSide, number>;
  /** Files and folders that would be copied to each side, deleted on each side. */
  copies: Record<SyncSide, number>;
  deletes: Record<SyncSide, number>;
  conflicts: number;
  /** Bytes that would move. */
  bytes: number;
  /** The decided paths (copies name the side they come from), at most MAX_PREVIEW_ITEMS. */
  items: DecidedItem[];
  /** How many more there are than listed. */
  more: number;
}

/** What a dry run would do with one path, as the CLI and the page list it. */
export function previewVerb(i: DecidedItem): string {
  if (i.action === "copy") return i.side === "local" ? "copy to the remote" : "copy here";
  if (i.action === "delete") return i.side === "local" ? "delete here" : "delete on the remote";
  return `conflict: both kept (${i.side === "local" ? "this machine's" : "the remote's"} at the path)`;
}

/** "3 files to the remote, 1 deleted here, no conflicts (12 kB)" — a preview in a line. */
export function previewSummary(p: SyncPreview): string {
  const n = (k: number) => `${k} ${k === 1 ? "entry" : "entries"}`;
  const parts = [
    p.copies.remote > 0 && `${n(p.copies.remote)} copied to the remote`,
    p.copies.local > 0 && `${n(p.copies.local)} copied here`,
    p.deletes.remote > 0 && `${n(p.deletes.remote)} deleted on the remote`,
    p.deletes.local > 0 && `${n(p.deletes.local)} deleted here`,
    p.conflicts > 0 &&
      `${p.conflicts} conflict${p.conflicts === 1 ? "" : "s"} (both versions kept)`,
  ].filter((x): x is string => typeof x === "string");
  if (parts.length === 0) return "nothing to change: both folders already agree";
  return `${parts.join(", ")}; ${formatBytes(p.bytes)} to move`;
}

// ---------------------------------------------------------------------------------------------
// The `sync-pairs` view (key `<pair>`)

export const SyncStatuses = ["starting", "syncing", "synced", "paused", "error"] as const;
export type SyncStatus = (typeof SyncStatuses)[number];

/** A conflict as the view lists it (newest first, at most MAX_VIEW_CONFLICTS). */
export interface SyncConflictInfo {
  path: string;
  keptAs: string;
  winner: SyncSide;
  at: string;
  /** Asked to be settled this way; not done yet. */
  resolving?: ConflictKeep;
  /** The last try to settle it failed: why. */
  error?: string;
}
export const MAX_VIEW_CONFLICTS = 50;

export interface SyncPairView extends PairConfig, ShowsRejections {
  pair: string;
  paused: boolean;
  status: SyncStatus;
  /** The running or last cycle. */
  cycle?: {
    n: number;
    kind: CycleKind;
    startedAt: string;
    pendingFiles: number;
    pendingBytes: number;
    doneFiles: number;
    doneBytes: number;
    /** Bytes per second of the cycle so far. */
    rate: number;
  };
  /** Files being hashed before the running cycle's plan (a deep check: all of them). */
  comparing?: { cycle: number; hashed: number; total: number };
  /** Files both sides agreed on at the end of the last cycle. */
  synced?: number;
  lastSyncAt?: string;
  error?: { code: string; message: string; at: string };
  conflicts: SyncConflictInfo[];
  createdAt: string;
  updatedAt: string;
}

/** One line for a pair's state: "all files synced", "12 files (3.4 MB) pending", … */
export function syncSummary(v: SyncPairView): string {
  if (v.paused) return "paused";
  if (v.status === "error") return `error: ${v.error?.message ?? "unknown"}`;
  if (v.status === "synced") return "all files synced";
  if (v.comparing) return `comparing files: ${v.comparing.hashed} of ${v.comparing.total} hashed`;
  if (v.status === "starting" || !v.cycle) return "starting";
  const left = Math.max(0, v.cycle.pendingFiles - v.cycle.doneFiles);
  const bytes = Math.max(0, v.cycle.pendingBytes - v.cycle.doneBytes);
  return `${left} file${left === 1 ? "" : "s"} (${formatBytes(bytes)}) pending`;
}

/** Bytes for people: 0 B, 12 KB, 3.4 MB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
