/**
 * What to do with one path, from what each side holds there and what both held after it was
 * last synced; and the name a losing version of a conflict is kept under.
 */
import { otherSide, type SyncSide } from "../../shared/sync.js";

export const EntryKinds = ["file", "dir", "link"] as const;
export type EntryKind = (typeof EntryKinds)[number];

/** What a scan saw at a path. `mtime` in whole milliseconds. */
export interface SyncEntry {
  kind: EntryKind;
  size: number;
  mtime: number;
  /** sha256 (base64url) of a file's bytes, when it was computed. */
  hash?: string;
  /** A symlink's target. */
  target?: string;
}

/** What both sides held after the last sync of a path: one content, each side's own mtime. */
export interface BaseEntry {
  kind: EntryKind;
  size: number;
  hash?: string;
  target?: string;
  localMtime: number;
  remoteMtime: number;
}

export type DecisionReason =
  | "new"
  | "changed"
  | "deleted"
  | "restored"
  | "both-new"
  | "both-changed"
  | "kind-differs"
  | "not-in-source";

export type PathDecision =
  /** Nothing to do. */
  | { action: "none" }
  /** Both sides agree; remember it as synced. */
  | { action: "record" }
  /** Both sides are gone; forget the path. */
  | { action: "forget" }
  | { action: "copy"; from: SyncSide; reason: "new" | "changed" | "restored" }
  /**
   * Deleted on the other side, unchanged here since the last sync; or (a mirror) on the
   * copy's side, where the source holds nothing.
   */
  | { action: "delete"; on: SyncSide; reason: "deleted" | "not-in-source" }
  /** Both changed: the winner's version goes to both sides, the loser's is kept beside it. */
  | {
      action: "conflict";
      winner: SyncSide;
      reason: "both-new" | "both-changed" | "kind-differs";
    };

/** True when two entries hold the same content (mtimes decide only when a hash is missing). */
export function sameContent(a: SyncEntry, b: SyncEntry): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "dir":
      return true;
    case "link":
      return a.target === b.target;
    case "file":
      if (a.size !== b.size) return false;
      if (a.hash !== undefined && b.hash !== undefined) return a.hash === b.hash;
      return a.mtime === b.mtime;
    default: {
      const never: never = a.kind;
      return never;
    }
  }
}

/** True when a side's entry differs from what was synced last (a touch alone is no change when hashes tell). */
export function changedSinceBase(e: SyncEntry, base: BaseEntry, side: SyncSide): boolean {
  if (e.kind !== base.kind) return true;
  switch (e.kind) {
    case "dir":
      return false;
    case "link":
      return e.target !== base.target;
    case "file": {
      if (e.size !== base.size) return true;
      const mtime = side === "local" ? base.localMtime : base.remoteMtime;
      if (e.mtime === mtime) return false;
      return !(e.hash !== undefined && base.hash !== undefined && e.hash === base.hash);
    }
    default: {
      const never: never = e.kind;
      return never;
    }
  }
}

/** True when an entry is exactly what the base recorded for its side (nothing to write down). */
function matchesBase(e: SyncEntry, base: BaseEntry, side: SyncSide): boolean {
  if (e.kind !== base.kind) return false;
  if (e.kind === "link") return e.target === base.target;
  if (e.kind === "dir") return true;
  return (
    e.size === base.size && e.mtime === (side === "local" ? base.localMtime : base.remoteMtime)
  );
}

/**
 * Decides what to do with one path from both sides' entries and the last synced state.
 * A delete is decided only when the base proves the file was synced and the other side did
 * not change it since; a delete against a change restores the changed version.
 */
export function decidePath(
  local: SyncEntry | undefined,
  remote: SyncEntry | undefined,
  base: BaseEntry | undefined,
  prefer: SyncSide,
  /** A mirror's source: the other side is made a copy of it. Undefined: both ways. */
  source?: SyncSide,
): PathDecision {
  if (!local && !remote) return base ? { action: "forget" } : { action: "none" };
  if (source) return mirrorPath(local, remote, base, source);
  if (local && remote) {
    if (sameContent(local, remote)) {
      const unchanged =
        base !== undefined &&
        matchesBase(local, base, "local") &&
        matchesBase(remote, base, "remote");
      return unchanged ? { action: "none" } : { action: "record" };
    }
    if (local.kind !== remote.kind) {
      if (base && !changedSinceBase(local, base, "local")) {
        return { action: "copy", from: "remote", reason: "changed" };
      }
      if (base && !changedSinceBase(remote, base, "remote")) {
        return { action: "copy", from: "local", reason: "changed" };
      }
      return { action: "conflict", winner: prefer, reason: "kind-differs" };
    }
    if (!base) return { action: "conflict", winner: prefer, reason: "both-new" };
    const lc = changedSinceBase(local, base, "local");
    const rc = changedSinceBase(remote, base, "remote");
    if (lc && !rc) return { action: "copy", from: "local", reason: "changed" };
    if (rc && !lc) return { action: "copy", from: "remote", reason: "changed" };
    if (lc && rc) return { action: "conflict", winner: prefer, reason: "both-changed" };
    // Neither changed by size and mtime, yet the bytes differ (a deep check found it): the
    // side that still has the synced bytes takes the other's.
    if (local.hash !== undefined && remote.hash !== undefined && local.hash !== remote.hash) {
      if (base.hash === local.hash) return { action: "copy", from: "remote", reason: "changed" };
      if (base.hash === remote.hash) return { action: "copy", from: "local", reason: "changed" };
      return { action: "conflict", winner: prefer, reason: "both-changed" };
    }
    // Neither changed since the last sync (a touch with the same bytes): both hold the base.
    return { action: "record" };
  }
  const present: SyncSide = local ? "local" : "remote";
  const entry = (local ?? remote)!;
  if (!base) return { action: "copy", from: present, reason: "new" };
  if (changedSinceBase(entry, base, present)) {
    return { action: "copy", from: present, reason: "restored" };
  }
  return { action: "delete", on: present, reason: "deleted" };
}

/**
 * A mirror: the source's entry goes to the copy's side whatever happened there; what only the
 * copy's side holds is deleted there. Never a conflict.
 */
function mirrorPath(
  local: SyncEntry | undefined,
  remote: SyncEntry | undefined,
  base: BaseEntry | undefined,
  source: SyncSide,
): PathDecision {
  const from = source === "local" ? local : remote;
  const to = source === "local" ? remote : local;
  const copySide = otherSide(source);
  if (!from) {
    return { action: "delete", on: copySide, reason: base ? "deleted" : "not-in-source" };
  }
  if (!to) {
    const restored = base !== undefined && !changedSinceBase(from, base, source);
    return { action: "copy", from: source, reason: restored ? "restored" : "new" };
  }
  if (sameContent(from, to)) {
    const unchanged =
      base !== undefined && matchesBase(from, base, source) && matchesBase(to, base, copySide);
    return unchanged ? { action: "none" } : { action: "record" };
  }
  return { action: "copy", from: source, reason: "changed" };
}

/** The base entry after both sides agree on `local`/`remote`. */
export function baseFrom(local: SyncEntry, remote: SyncEntry): BaseEntry {
  const hash = local.hash ?? remote.hash;
  return {
    kind: local.kind,
    size: local.size,
    ...(hash !== undefined && { hash }),
    ...(local.target !== undefined && { target: local.target }),
    localMtime: local.mtime,
    remoteMtime: remote.mtime,
  };
}

/** The name a losing version is kept under: `name.conflict-<side>-<time>.ext`. */
export function conflictName(path: string, loser: SyncSide, at: Date): string {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash + 1);
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : "";
  const time = at
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/[-:]/g, "");
  return `${dir}${stem}.conflict-${loser}-${time}${ext}`;
}
