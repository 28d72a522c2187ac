/** The `remote-sessions` view, watched live, and the remote service's commands. */
import { createSignal, onCleanup } from "solid-js";
import { createStore, produce, reconcile } from "solid-js/store";
import { type Reply, requestReply } from "../../../shared/command-client.js";
import type { CommandReply } from "../../../shared/commands.js";
import type { RemoteSessionView, SessionOptions } from "../../../shared/remote.js";
import { Buckets, ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import { requestSender, sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";

export interface RemoteStore {
  readonly sessions: Readonly<Record<string, RemoteSessionView>>;
  readonly loaded: () => boolean;
  readonly problem: () => string | undefined;
  /** A person's connect: what ssh asks while it connects is asked in the page. */
  connect(
    target: string,
    mode?: { upgrade?: boolean },
    options?: SessionOptions,
  ): Promise<CommandReply>;
  /** Answers what ssh asks (undefined: cancel); the answer is never stored. */
  answer(sid: string, ask: string, answer: string | undefined): Promise<Reply<object>>;
  stop(sid: string): Promise<CommandReply>;
  remove(sid: string): Promise<CommandReply>;
  star(sid: string, starred: boolean): Promise<CommandReply>;
}

export function createRemoteStore(conn: WorkspaceConnection): RemoteStore {
  const [sessions, setSessions] = createStore<Record<string, RemoteSessionView>>({});
  const [loaded, setLoaded] = createSignal(false);
  const [problem, setProblem] = createSignal<string>();
  const stop = watchKv(conn, Buckets.remoteSessions, ">", {
    reset: () => setSessions(reconcile({})),
    entry: (e) => {
      setLoaded(true);
      if (e.operation !== "PUT" || e.length === 0) {
        setSessions(produce((s) => void delete s[e.key]));
        return;
      }
      setSessions(e.key, reconcile(e.json<RemoteSessionView>()));
    },
    problem: (p) => {
      setProblem(p);
      if (p === undefined) setLoaded(true);
    },
  });
  onCleanup(stop);
  const send = (type: string, data: unknown) => sendCommand(conn, ServiceNames.remote, type, data);
  return {
    sessions,
    loaded,
    problem,
    connect: (target, mode, options) =>
      send("ConnectSession", {
        target,
        ...(mode && { mode }),
        ...(options && { options }),
        interactive: true,
      }),
    answer: (sid, ask, answer) =>
      requestReply(
        requestSender(conn),
        workspaceSubjects(conn.wsid).request(ServiceNames.remote),
        { op: "answer", sid, ask, ...(answer !== undefined && { answer }) },
        { timeoutMs: 15_000 },
      ),
    stop: (sid) => send("StopSession", { sid }),
    remove: (sid) => send("RemoveSession", { sid }),
    star: (sid, starred) => send("StarSession", { sid, starred }),
  };
}

export type SortKey = "target" | "starred" | "status" | "lastUsed";

const STATUS_ORDER: Record<RemoteSessionView["status"], number> = {
  running: 0,
  connecting: 1,
  reconnecting: 2,
  failed: 3,
  stopping: 4,
  stopped: 5,
  removing: 6,
};

/** Filters by target and sorts; pure, so the page and its tests agree. */
export function visibleSessions(
  all: readonly RemoteSessionView[],
  filter: string,
  sort: SortKey,
): RemoteSessionView[] {
  const f = filter.trim().toLowerCase();
  const rows = all.filter((s) => f === "" || s.target.toLowerCase().includes(f));
  const byTarget = (a: RemoteSessionView, b: RemoteSessionView) => a.target.localeCompare(b.target);
  const cmp: Record<SortKey, (a: RemoteSessionView, b: RemoteSessionView) => number> = {
    target: byTarget,
    starred: (a, b) => Number(b.starred) - Number(a.starred) || byTarget(a, b),
    status: (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || byTarget(a, b),
    lastUsed: (a, b) => b.lastUsed.localeCompare(a.lastUsed) || byTarget(a, b),
  };
  return rows.sort(cmp[sort]);
}

/** Where the browser goes to open a session: the local gateway adds the token and redirects. */
export function openUrl(sid: string): string {
  return `/api/remote/open/${encodeURIComponent(sid)}`;
}
