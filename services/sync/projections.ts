import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets, Keys, syncPairOfSubject } from "../../shared/subjects.js";
import {
  MAX_VIEW_CONFLICTS,
  type SyncConflictInfo,
  type SyncEvent,
  SyncEvents,
  type SyncPairView,
} from "../../shared/sync.js";
import type { Projection } from "../runtime/projection.js";

// The per-path decisions stay in the log; the view only counts progress.
const types = new Set<string>(SyncEvents.map((e) => e.type).filter((t) => t !== "SyncDecided"));

function rate(bytes: number, from: string, to: string): number {
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  return s > 0 ? Math.round(bytes / s) : 0;
}

/** The `sync-pairs` view: settings, status, progress and recent conflicts of every pair. */
export const syncPairsProjection: Projection<SyncPairView, SyncEvent> = {
  name: "sync-pairs",
  bucket: Buckets.syncPairs,
  canHandle: (e): e is SyncEvent => types.has(e.type),
  key: (e) => Keys.syncPair(syncPairOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<SyncEvent>) {
    const at = event.at;
    if (event.type === "SyncPairAdded") {
      return {
        ...event.data,
        pair: syncPairOfSubject(subject)!,
        paused: false,
        status: "starting",
        conflicts: [],
        createdAt: at,
        updatedAt: at,
      };
    }
    if (!view) return null;
    const paused = (v: SyncPairView): SyncPairView => (v.paused ? { ...v, status: "paused" } : v);
    switch (event.type) {
      case "SyncPairChanged":
        return { ...view, ...event.data, updatedAt: at };
      case "SyncPairPaused":
        return { ...view, paused: true, status: "paused", updatedAt: at };
      case "SyncPairResumed":
        return { ...view, paused: false, status: "starting", updatedAt: at };
      case "SyncPairRemoved":
        return null;
      case "SyncCheckRequested":
        return { ...view, status: "syncing", updatedAt: at };
      case "SyncConflictResolveRequested": {
        const { path, keptAs, keep } = event.data;
        return {
          ...view,
          conflicts: view.conflicts.map((c) => {
            if (c.path !== path || c.keptAs !== keptAs) return c;
            const { error: _e, ...rest } = c;
            return { ...rest, resolving: keep };
          }),
        };
      }
      case "SyncHashProgress": {
        const { cycle, hashed, total } = event.data;
        return paused({ ...view, status: "syncing", comparing: { cycle, hashed, total } });
      }
      case "SyncCycleStarted": {
        const { comparing: _c, ...before } = view;
        const d = event.data;
        const status =
          d.pendingFiles > 0 || d.kind === "check" || view.status !== "synced"
            ? "syncing"
            : "synced";
        return paused({
          ...before,
          status,
          cycle: {
            n: d.cycle,
            kind: d.kind,
            startedAt: at,
            pendingFiles: d.pendingFiles,
            pendingBytes: d.pendingBytes,
            doneFiles: 0,
            doneBytes: 0,
            rate: 0,
          },
        });
      }
      case "SyncTransferred": {
        if (!view.cycle || view.cycle.n !== event.data.cycle) return view;
        const doneBytes = event.data.doneBytes;
        return {
          ...view,
          cycle: {
            ...view.cycle,
            doneFiles: Math.min(view.cycle.pendingFiles, event.data.doneFiles),
            doneBytes,
            rate: rate(doneBytes, view.cycle.startedAt, at),
          },
        };
      }
      case "SyncDeleted":
        return view;
      case "SyncConflictKept":
        return {
          ...view,
          conflicts: [
            {
              path: event.data.path,
              keptAs: event.data.keptAs,
              winner: event.data.winner,
              at,
            },
            ...view.conflicts,
          ].slice(0, MAX_VIEW_CONFLICTS),
        };
      case "SyncConflictResolved": {
        const { path, keptAs, ok, message } = event.data;
        const same = (c: SyncConflictInfo) => c.path === path && c.keptAs === keptAs;
        return {
          ...view,
          conflicts: ok
            ? view.conflicts.filter((c) => !same(c))
            : view.conflicts.map((c) => {
                if (!same(c)) return c;
                const { resolving: _r, ...rest } = c;
                return { ...rest, error: message ?? "not settled" };
              }),
        };
      }
      case "SyncCycleFinished": {
        const { error: _error, ...rest } = view;
        return paused({
          ...rest,
          status: "synced",
          synced: event.data.synced,
          lastSyncAt: at,
          ...(view.cycle && {
            cycle: {
              ...view.cycle,
              doneFiles: view.cycle.pendingFiles,
              doneBytes: Math.max(view.cycle.doneBytes, event.data.bytes),
              rate: rate(event.data.bytes, view.cycle.startedAt, at),
            },
          }),
        });
      }
      case "SyncCycleFailed": {
        const { comparing: _c, ...rest } = view;
        return paused({
          ...rest,
          status: "error",
          error: { code: event.data.code, message: event.data.message, at },
        });
      }
      case "SyncDecided":
        return view;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
