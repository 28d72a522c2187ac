/**
 * The workspace's apps, live from the `apps` view, newest first and paged: status (running
 * once the port answers; exited with its code; failed with why and the end of its log), port,
 * pid, start time, and Open / Copy link / Stop / Restart / Logs / Remove. Logs show the newest
 * lines of the app's bounded log and page back with "Older".
 */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import type { AppLogPage, AppView } from "../../../shared/apps.js";
import type { Opened } from "./apps-pane.js";
import type { AppsStore } from "./apps-store.js";
import { LAUNCHERS } from "./launchers.js";

const PAGE = 20;
/** How often an open log asks for new lines. */
const LOG_REFRESH_MS = 2000;

/** The status in words: `running`, `exited with code 3`, `failed: port 8888 did not answer…`. */
export function appStatusText(a: AppView): string {
  switch (a.status) {
    case "starting":
      return "starting (waiting for its port to answer)";
    case "running":
      return "running";
    case "exited":
      return a.signal ? `exited, killed by ${a.signal}` : `exited with code ${a.exitCode}`;
    case "failed":
      return `failed: ${a.error?.message ?? "unknown"}`;
    case "stopped":
      return "stopped";
    default: {
      const never: never = a.status;
      return never;
    }
  }
}

const nameOf = (a: AppView) => LAUNCHERS.find((l) => l.kind === a.kind)?.name ?? a.kind;

export function RunningApps(props: {
  store: AppsStore;
  open: (o: Opened) => void;
  copy: (o: Opened) => void;
  /** Where an app opens, in words (its path on plus; its port where it has an origin of its own). */
  where: (a: AppView) => string;
  /** A viewer's page: the apps and their logs are shown, nothing is opened or changed. */
  readOnly: boolean;
}) {
  const [shown, setShown] = createSignal(PAGE);
  const [logOf, setLogOf] = createSignal<string>();
  const [problem, setProblem] = createSignal<string>();
  const apps = createMemo(() =>
    Object.values(props.store.state.apps)
      .filter((a): a is AppView => a !== undefined)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || a.port - b.port),
  );
  const act = async (p: Promise<{ ok: boolean; error?: { message: string } }>) => {
    const r = await p;
    setProblem(r.ok ? undefined : r.error?.message);
  };
  return (
    <div class="apps-running" data-testid="apps-running">
      <Show when={props.store.state.problem}>
        {(m) => (
          <p class="apps-status" data-error="">
            {m()}
          </p>
        )}
      </Show>
      <Show when={problem()}>
        {(m) => (
          <p class="apps-status" data-error="" role="status">
            {m()}
          </p>
        )}
      </Show>
      <Show when={apps().length > 0} fallback={<p class="apps-muted">No app started yet.</p>}>
        <table class="apps-table">
          <thead>
            <tr>
              <th>App</th>
              <th>Port</th>
              <th>Status</th>
              <th>Started</th>
              <th />
            </tr>
          </thead>
          <tbody>
            <For each={apps().slice(0, shown())}>
              {(a) => {
                const o = (): Opened => ({ port: a.port, mount: a.mount });
                const live = () => a.status === "running" || a.status === "starting";
                return (
                  <>
                    <tr
                      data-testid="apps-row"
                      data-app={a.app}
                      data-status={a.status}
                      data-pid={a.pid}
                    >
                      <td>
                        {nameOf(a)}
                        <Show when={a.kind === "command"}>
                          <div class="apps-muted apps-cmdline">{a.command}</div>
                        </Show>
                      </td>
                      <td>
                        <code>{props.where(a)}</code>
                      </td>
                      <td class="apps-state" data-status={a.status}>
                        {appStatusText(a)}
                        <Show when={a.pid}>
                          <span class="apps-muted"> · pid {a.pid}</span>
                        </Show>
                      </td>
                      <td class="apps-muted">{new Date(a.startedAt).toLocaleString()}</td>
                      <td>
                        <div class="apps-actions">
                          <button
                            type="button"
                            class="button"
                            data-testid="apps-row-open"
                            disabled={a.status !== "running" || props.readOnly}
                            onClick={() => props.open(o())}
                          >
                            Open
                          </button>
                          <button
                            type="button"
                            class="button"
                            disabled={a.status !== "running" || props.readOnly}
                            onClick={() => props.copy(o())}
                          >
                            Copy link
                          </button>
                          <Show
                            when={live()}
                            fallback={
                              <button
                                type="button"
                                class="button"
                                data-testid="apps-row-restart"
                                disabled={props.readOnly}
                                onClick={() => void act(props.store.restart(a.app))}
                              >
                                Restart
                              </button>
                            }
                          >
                            <button
                              type="button"
                              class="button"
                              data-testid="apps-row-stop"
                              disabled={props.readOnly}
                              onClick={() => void act(props.store.stop(a.app))}
                            >
                              Stop
                            </button>
                          </Show>
                          <button
                            type="button"
                            class="button"
                            data-testid="apps-row-logs"
                            aria-pressed={logOf() === a.app}
                            onClick={() => setLogOf(logOf() === a.app ? undefined : a.app)}
                          >
                            Logs
                          </button>
                          <Show when={!live()}>
                            <button
                              type="button"
                              class="button"
                              disabled={props.readOnly}
                              onClick={() => void act(props.store.remove(a.app))}
                            >
                              Remove
                            </button>
                          </Show>
                        </div>
                      </td>
                    </tr>
                    <Show when={a.status === "failed" && a.error?.logTail}>
                      <tr>
                        <td colSpan={5}>
                          <pre class="apps-log">{a.error?.logTail}</pre>
                        </td>
                      </tr>
                    </Show>
                    <Show when={logOf() === a.app}>
                      <tr>
                        <td colSpan={5}>
                          <AppLogView store={props.store} app={a.app} />
                        </td>
                      </tr>
                    </Show>
                  </>
                );
              }}
            </For>
          </tbody>
        </table>
        <Show when={apps().length > shown()}>
          <button type="button" class="button" onClick={() => setShown(shown() + PAGE)}>
            Show {Math.min(PAGE, apps().length - shown())} more of {apps().length - shown()}
          </button>
        </Show>
      </Show>
    </div>
  );
}

/** The newest lines of an app's log, refreshed while shown; "Older" pages back. */
function AppLogView(props: { store: AppsStore; app: string }) {
  const [older, setOlder] = createSignal<AppLogPage["lines"]>([]);
  const [page, setPage] = createSignal<AppLogPage>();
  const [error, setError] = createSignal<string>();
  const refresh = async () => {
    try {
      const p = await props.store.log(props.app);
      setPage(p);
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), LOG_REFRESH_MS);
  onCleanup(() => clearInterval(timer));
  const oldest = () => older()[0]?.n ?? page()?.lines[0]?.n;
  const loadOlder = async () => {
    const before = oldest();
    if (before === undefined) return;
    try {
      const p = await props.store.log(props.app, before);
      setOlder([...p.lines, ...older()]);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const lines = () => [...older(), ...(page()?.lines ?? [])];
  return (
    <div class="apps-logview" data-testid="apps-log">
      <Show when={(oldest() ?? 0) > (page()?.first ?? 0)}>
        <button type="button" class="button" onClick={() => void loadOlder()}>
          Older
        </button>
      </Show>
      <Show when={error()}>
        {(m) => (
          <p class="apps-status" data-error="">
            {m()}
          </p>
        )}
      </Show>
      <pre class="apps-log">
        {lines()
          .map((l) => l.text)
          .join("\n") || "(no output yet)"}
      </pre>
    </div>
  );
}
