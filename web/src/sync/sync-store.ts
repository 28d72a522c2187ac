/** The `sync-pairs` view (every pair, or one session's) and the commands that change pairs. */
import { onCleanup } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import { type Reply, requestReply } from "../../../shared/command-client.js";
import type { CommandReply } from "../../../shared/commands.js";
import { Buckets, ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import type {
  AddSyncPairData,
  ConflictKeep,
  SyncDirection,
  SyncPairView,
  SyncPathStatus,
  SyncPreview,
  SyncSide,
} from "../../../shared/sync.js";
import { requestSender, sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";

export interface SyncState {
  /** Pairs by id. */
  pairs: Record<string, SyncPairView>;
  /** The watch is failing (shown, not fatal: it retries). */
  problem: string | undefined;
}

export interface SyncStore {
  readonly state: SyncState;
  add(data: AddSyncPairData): Promise<CommandReply>;
  change(
    pair: string,
    change: { ignore?: string; prefer?: SyncSide; direction?: SyncDirection },
  ): Promise<CommandReply>;
  pause(pair: string): Promise<CommandReply>;
  resume(pair: string): Promise<CommandReply>;
  remove(pair: string): Promise<CommandReply>;
  check(pair: string): Promise<CommandReply>;
  resolve(pair: string, path: string, keptAs: string, keep: ConflictKeep): Promise<CommandReply>;
  /** Why is this file different: what sync knows of one path of a pair. */
  status(pair: string, path: string): Promise<Reply<{ result: SyncPathStatus }>>;
  /** A dry run of a pair not added yet: what its first cycle would do. */
  preview(data: AddSyncPairData): Promise<Reply<{ result: SyncPreview }>>;
}

export function createSyncStore(conn: WorkspaceConnection): SyncStore {
  const [state, setState] = createStore<SyncState>({
    pairs: {},
    problem: undefined,
  });
  const stop = watchKv(conn, Buckets.syncPairs, ">", {
    reset: () => setState("pairs", reconcile({})),
    entry: (e) => {
      const key = e.key;
      if (e.operation !== "PUT" || e.length === 0) {
        setState("pairs", key, undefined!);
        return;
      }
      const value = e.json<SyncPairView>();
      if (typeof value?.local !== "string" || typeof value.session !== "string") {
        throw new Error("sync view has an unexpected shape");
      }
      setState("pairs", key, reconcile(value));
    },
    problem: (message) => setState("problem", message),
  });
  onCleanup(stop);
  const send = (type: string, data: unknown) => sendCommand(conn, ServiceNames.sync, type, data);
  return {
    state,
    add: (data) => send("AddSyncPair", data),
    change: (pair, change) => send("ChangeSyncPair", { pair, ...change }),
    pause: (pair) => send("PauseSyncPair", { pair }),
    resume: (pair) => send("ResumeSyncPair", { pair }),
    remove: (pair) => send("RemoveSyncPair", { pair }),
    check: (pair) => send("CheckSyncPair", { pair }),
    status: (pair, path) =>
      requestReply(
        requestSender(conn),
        workspaceSubjects(conn.wsid).request(ServiceNames.sync),
        { op: "status", pair, path },
        { timeoutMs: 30_000 },
      ),
    preview: (data) =>
      requestReply(
        requestSender(conn),
        workspaceSubjects(conn.wsid).request(ServiceNames.sync),
        { op: "preview", pair: data },
        { timeoutMs: 300_000 },
      ),
    resolve: (pair, path, keptAs, keep) =>
      send("ResolveSyncConflict", { pair, path, keptAs, keep }),
  };
}
