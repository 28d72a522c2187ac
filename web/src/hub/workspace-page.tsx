/**
 * A workspace of the hub in the browser, at `/ws/<wsid>/…`: the same app as plus (files,
 * editor, terminals, agents, settings) over the page's own NATS login for this workspace only,
 * which reaches its services on its host through the hub. Until it runs the page says where it
 * stands in words (stopped, with a Start button; starting, with its step; its host offline)
 * and opens it by itself once it runs; once open, a change (stopped, host gone) shows as a bar
 * above it while the app waits to reconnect.
 */
import { createEffect, createMemo, createSignal, onCleanup, Show } from "solid-js";
import { readerNames } from "../../../shared/hub-permissions.js";
import { NoticePage } from "../components/notice-page.js";
import { setRouteBase } from "../files/route.js";
import type { ConnectionState, WorkspaceConnection } from "../lib/connection.js";
import { messageOf } from "../lib/delay.js";
import { type HubConnection, openHubConnection } from "../lib/hub-connection.js";
import { ReaderSlots } from "../lib/stream-reader.js";
import { WorkspaceApp } from "../root.js";
import { watchWorkspaceRow } from "../stores/hub-workspaces-store.js";
import { type WorkspaceStatus, workspaceStatus } from "./workspace-status.js";
import { act } from "./workspaces-section.js";

/** The workspace id of a `/ws/<wsid>/…` address, or undefined. */
export function workspaceOfPath(path: string): string | undefined {
  const m = /^\/ws\/([A-Za-z0-9_-]{1,64})(\/|$)/.exec(path);
  return m?.[1];
}

/** The hub connection as the workspace app's: this workspace, in its host's domain. */
function hostedConnection(
  hub: HubConnection,
  wsid: string,
  jsDomain: string,
  title: () => string | undefined,
): WorkspaceConnection {
  const state = (): ConnectionState => hub.state();
  return {
    wsid,
    version: "",
    jsDomain,
    hosted: true,
    readers: new ReaderSlots(readerNames(hub.publicKey)),
    get title() {
      return title();
    },
    state,
    problem: hub.problem,
    ready: (signal) => hub.ready(signal),
    onReconnect: (listener) => hub.onReconnect(listener),
    request: (subject, payload, timeoutMs) => hub.request(subject, payload, timeoutMs),
    // The page owns the hub connection: it closes it.
    close: async () => undefined,
  };
}

export function HubWorkspacePage(props: { wsid: string }) {
  const wsid = props.wsid;
  setRouteBase(`/ws/${wsid}`);
  const hub = openHubConnection({ wsid });
  onCleanup(() => void hub.close());
  const [membership, setMembership] = createSignal(hub.membership(wsid));
  onCleanup(hub.onLogin(() => setMembership(hub.membership(wsid))));

  const row = watchWorkspaceRow(hub, wsid);
  const status = createMemo(() => workspaceStatus(row.hub(), row.view(), row.host()));
  const running = () => row.view()?.status === "running" && status().label === "Running";
  // Opened once it runs and the JWT reaches its host; kept open from then on.
  const [opened, setOpened] = createSignal<WorkspaceConnection>();
  createEffect(() => {
    const m = membership();
    if (opened() || !running() || m?.jsDomain === undefined) return;
    setOpened(hostedConnection(hub, wsid, m.jsDomain, () => row.hub()?.title));
  });
  const notFound = () => /not.?found|no workspace/i.test(hub.problem() ?? "");

  return (
    <Show
      when={opened()}
      fallback={
        <Show
          when={!notFound()}
          fallback={
            <NoticePage title="No such workspace" testid="hub-ws-page-missing" tone="warn">
              <p>{hub.problem()}</p>
              <p>
                <a href="/">Back to your workspaces</a>
              </p>
            </NoticePage>
          }
        >
          <NoticePage
            title={row.hub()?.title ?? "Opening the workspace…"}
            testid="hub-ws-page-status"
            tone={status().tone === "bad" ? "warn" : "neutral"}
          >
            <StatusWords wsid={wsid} status={status()} problem={row.problem() ?? hub.problem()} />
            <p>
              <a href="/">Back to your workspaces</a>
            </p>
          </NoticePage>
        </Show>
      }
    >
      {(conn) => (
        <div class="hub-ws-page" data-testid="hub-ws-page">
          <Show when={!running()}>
            <div class="hub-ws-banner" role="status" data-testid="hub-ws-page-banner">
              <StatusWords wsid={wsid} status={status()} problem={row.problem()} />
            </div>
          </Show>
          <WorkspaceApp connection={conn()} />
        </div>
      )}
    </Show>
  );
}

/** Where the workspace stands, what to do, and a Start button when it can start. */
function StatusWords(props: { wsid: string; status: WorkspaceStatus; problem?: string }) {
  const [busy, setBusy] = createSignal(false);
  const [failed, setFailed] = createSignal<string>();
  const start = async () => {
    setBusy(true);
    setFailed(undefined);
    try {
      setFailed(await act(props.wsid, "start"));
    } catch (err) {
      setFailed(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="hub-ws-words">
      <p>
        <span class={`hub-ws-status tone-${props.status.tone}`} data-testid="hub-ws-page-state">
          {props.status.label}
        </span>{" "}
        <span data-testid="hub-ws-page-detail">{props.status.detail ?? ""}</span>
      </p>
      <Show when={props.status.canStart}>
        <button
          type="button"
          class="button"
          data-testid="hub-ws-page-start"
          disabled={busy()}
          onClick={() => void start()}
        >
          {busy() ? "Starting…" : "Start"}
        </button>
      </Show>
      <Show when={failed() ?? props.problem}>
        {(p) => (
          <p class="hub-problem" role="alert">
            {p()}
          </p>
        )}
      </Show>
    </div>
  );
}
