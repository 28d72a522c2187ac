/**
 * The dashboard's signed-in browsers: each with what it is ("Firefox on Linux"), when it
 * signed in and was last used, this one marked, and any other signed out with one click. The
 * list follows the account's sessions view live (`hub-sessions`, a sign-in or sign-out
 * anywhere shows at once); the gateway adds each browser's last use to it.
 */
import { createEffect, createResource, createSignal, For, on, onCleanup, Show } from "solid-js";
import { createStore } from "solid-js/store";
import { HubBuckets, type SessionListItem, type SessionsView } from "../../../shared/hub.js";
import type { HubConnection } from "../lib/hub-connection.js";
import { watchKvRecords } from "../lib/kv-watch.js";
import { apiFetch, errorMessage } from "../lib/session.js";

const PATH = "/api/hub/sessions";

async function listOf(res: Response): Promise<SessionListItem[]> {
  if (!res.ok) throw new Error(await errorMessage(res));
  return ((await res.json()) as { sessions: SessionListItem[] }).sessions;
}

const isView = (v: unknown): v is SessionsView =>
  typeof v === "object" && v !== null && Array.isArray((v as SessionsView).sessions);

export function SessionsSection(props: { conn: HubConnection; accountId: string }) {
  const [views, setViews] = createStore<Record<string, SessionsView>>({});
  const [problem, setProblem] = createSignal<string>();
  onCleanup(
    watchKvRecords<SessionsView>(
      props.conn,
      HubBuckets.sessions,
      props.accountId,
      {
        set: setViews,
        id: (key) => key,
        valid: isView,
        what: "the list of signed-in browsers",
        problem: setProblem,
      },
      { rebuildCheck: false },
    ),
  );
  const [list, { refetch, mutate }] = createResource(async () =>
    listOf(await apiFetch(PATH, { cache: "no-store" })),
  );
  // Each change of the view (a browser signed in or out anywhere) asks for the list again.
  createEffect(
    on(
      () => views[props.accountId]?.sessions.map((s) => s.id).join(","),
      () => void refetch(),
      { defer: true },
    ),
  );
  const signOut = async (id: string) => {
    setProblem(undefined);
    const res = await apiFetch(`${PATH}/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (!res.ok) return setProblem(await errorMessage(res));
    mutate((l) => l?.filter((s) => s.id !== id));
  };
  return (
    <section class="hub-section" data-testid="hub-sessions">
      <h2>Signed-in browsers</h2>
      <Show
        when={(list() ?? []).length > 0}
        fallback={<p class="muted">{list.loading ? "Loading…" : "None."}</p>}
      >
        <table class="hub-table">
          <thead>
            <tr>
              <th>Browser</th>
              <th>Signed in</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            <For each={list()}>
              {(s) => (
                <tr data-testid="hub-session" data-current={s.current ? "yes" : "no"}>
                  <td>
                    {s.device}
                    <Show when={s.current}>
                      <span class="hub-badge">this browser</span>
                    </Show>
                  </td>
                  <td>{new Date(s.signedIn).toLocaleString()}</td>
                  <td>{s.lastUsed ? new Date(s.lastUsed).toLocaleString() : ""}</td>
                  <td>
                    <Show when={!s.current}>
                      <button
                        type="button"
                        class="button"
                        data-testid="hub-session-sign-out"
                        onClick={() => void signOut(s.id)}
                      >
                        Sign out
                      </button>
                    </Show>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </Show>
      <Show when={problem() ?? (list.error ? String(list.error.message) : undefined)}>
        {(p) => (
          <p class="hub-problem" role="alert" data-testid="hub-sessions-problem">
            {p()}
          </p>
        )}
      </Show>
    </section>
  );
}
