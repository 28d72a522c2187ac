/** The `apps` view (every app plus started), the commands that start and stop apps, their logs. */
import { onCleanup } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import type {
  AppLogPage,
  AppProgramsAnswer,
  AppReadRequest,
  AppView,
  StartAppData,
} from "../../../shared/apps.js";
import { requestReply } from "../../../shared/command-client.js";
import type { CommandReply } from "../../../shared/commands.js";
import { Buckets, Keys, ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import { requestSender, sendCommand, unansweredError } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";

export interface AppsState {
  /** Apps by id. */
  apps: Record<string, AppView>;
  /** The watch is failing (shown, not fatal: it retries). */
  problem: string | undefined;
}

export interface AppsStore {
  readonly state: AppsState;
  start(data: StartAppData): Promise<CommandReply>;
  stop(app: string): Promise<CommandReply>;
  restart(app: string): Promise<CommandReply>;
  remove(app: string): Promise<CommandReply>;
  /** A page of an app's output (lines before `before`, default the newest). */
  log(app: string, before?: number): Promise<AppLogPage>;
  /** Which launchers' programs are installed. */
  programs(): Promise<AppProgramsAnswer>;
}

export function createAppsStore(conn: WorkspaceConnection): AppsStore {
  const [state, setState] = createStore<AppsState>({ apps: {}, problem: undefined });
  const stop = watchKv(conn, Buckets.apps, Keys.apps(conn.wsid), {
    reset: () => setState("apps", reconcile({})),
    entry: (e) => {
      if (e.operation !== "PUT" || e.length === 0) {
        setState("apps", e.key, undefined!);
        return;
      }
      const value = e.json<AppView>();
      if (typeof value?.port !== "number" || typeof value.status !== "string") {
        throw new Error("apps view has an unexpected shape");
      }
      setState("apps", e.key, reconcile(value));
    },
    problem: (message) => setState("problem", message),
  });
  onCleanup(stop);
  const send = (type: string, data: unknown) => sendCommand(conn, ServiceNames.apps, type, data);
  const read = async <T>(r: AppReadRequest): Promise<T> => {
    let reply: Awaited<ReturnType<typeof requestReply<{ value: T }>>>;
    try {
      reply = await requestReply<{ value: T }>(
        requestSender(conn),
        workspaceSubjects(conn.wsid).read(ServiceNames.apps),
        r,
        { timeoutMs: 15_000 },
      );
    } catch (err) {
      throw new Error(unansweredError(ServiceNames.apps, err).message);
    }
    if (!reply.ok) throw new Error(reply.error.message);
    return reply.value;
  };
  return {
    state,
    start: (data) => send("StartApp", data),
    stop: (app) => send("StopApp", { app }),
    restart: (app) => send("RestartApp", { app }),
    remove: (app) => send("RemoveApp", { app }),
    log: (app, before) =>
      read<AppLogPage>({ type: "AppLog", app, ...(before !== undefined && { before }) }),
    programs: () => read<AppProgramsAnswer>({ type: "Programs" }),
  };
}
