/**
 * A workspace of the hub in the browser, at `/ws/<wsid>/…`: the same app as plus (files,
 * editor, terminals, agents, settings) over the page's own NATS login for this workspace only,
 * which reaches its services on its host through the hub. Until it runs the page says where it
 * stands in words (stopped, with a Start button; starting, with its step; its host offline)
 * and opens it by itself once it runs; once open, a change (stopped, host gone) shows as a bar
 * above it while the app waits to reconnect. A bar on top names the workspace and the
 * account's role in it ("read-only" for a viewer) and opens its Share panel. When the
 * account's access ends (removed), the page says so instead of the app.
 */
import {
  createEffect,
  createMemo,
  createResource,
  createSignal,
  on,
  onCleanup,
  Show,
} from "solid-js";
import type { HubMember } from "../../../shared/hub-workspaces.js";
import { NoticePage } from "../components/notice-page.js";
import { setRouteBase } from "../files/route.js";
import { hubAgentKeys } from "../lib/agent-keys.js";
import type { ConnectionState, WorkspaceConnection } from "../lib/connection.js";
import { messageOf } from "../lib/delay.js";
import { type HubConnection, openHubConnection } from "../lib/hub-connection.js";
import { PERSON_COLORS, type Person } from "../lib/page-person.js";
import { apiFetch } from "../lib/session.js";
import { WorkspaceApp } from "../root.js";
import { createShareStore } from "../stores/hub-share-store.js";
import { watchWorkspaceRow } from "../stores/hub-workspaces-store.js";
import { SharePanel } from "./share-panel.js";
import { type WorkspaceStatus, workspaceStatus } from "./workspace-status.js";
import { act } from "./workspaces-section.js";

/** The workspace id of a `/ws/<wsid>/…` address, or undefined. */
export function workspaceOfPath(path: string): string | undefined {
  const m = /^\/ws\/([A-Za-z0-9_-]{1,64})(\/|$)/.exec(path);
  return m?.[1];
}

/** An account as others see it at work: its email's name, and a colour of its own. */
export function personOf(accountId: string, email?: string): Person {
  let h = 0;
  for (const c of accountId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const name = (email?.split("@")[0] ?? accountId).slice(0, 80) || accountId.slice(0, 80);
  return { name, color: PERSON_COLORS[h % PERSON_COLORS.length]! };
}

/** The hub connection as the workspace app's: this workspace, in its host's domain. */
function hostedConnection(
  hub: HubConnection,
  wsid: string,
  jsDomain: string,
  title: () => string | undefined,
  me: () => { id: string; person: Person } | undefined,
  role: () => string | undefined,
  members: () => readonly HubMember[],
  hostBack: Set<() => void>,
): WorkspaceConnection {
  const state = (): ConnectionState => hub.state();
  return {
    get readOnly() {
      return role() === "viewer";
    },
    get person() {
      return me()?.person;
    },
    get account() {
      return me()?.id;
    },
    memberPerson: (account) => {
      const m = members().find((x) => x.account === account);
      return m && { name: m.name, color: personOf(account).color };
    },
    wsid,
    version: "",
    jsDomain,
    hosted: true,
    agentKeys: hubAgentKeys(wsid),
    readers: hub.readers,
    makeReader: (ask) => hub.makeReader(ask, wsid),
    get title() {
      return title();
    },
    state,
    problem: hub.problem,
    ready: (signal) => hub.ready(signal),
    // The page's connection is the hub's, which a host's outage does not break; the host's
    // services may have started anew meanwhile (watches, attachments gone), so its return
    // counts as a reconnect too.
    onReconnect: (listener) => {
      const off = hub.onReconnect(listener);
      hostBack.add(listener);
      return () => {
        off();
        hostBack.delete(listener);
      };
    },
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
  // Who this is, as the workspace's other people see them on cursors and terminals.
  const [account] = createResource(async () => {
    const res = await apiFetch("/api/hub/me", { cache: "no-store" });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { account: { id: string }; email?: string };
    return { id: body.account.id, person: personOf(body.account.id, body.email) };
  });
  const share = createShareStore(wsid, row);
  const [sharing, setSharing] = createSignal(false);
  const role = () => membership()?.role;
  const status = createMemo(() => workspaceStatus(row.hub(), row.view(), row.host()));
  const running = () => row.view()?.status === "running" && status().label === "Running";
  // Opened once it runs and the JWT reaches its host; kept open from then on.
  const [opened, setOpened] = createSignal<WorkspaceConnection>();
  const hostBack = new Set<() => void>();
  createEffect(
    on(running, (now, before) => {
      if (now && before === false && opened()) for (const listener of [...hostBack]) listener();
    }),
  );
  createEffect(() => {
    const m = membership();
    if (opened() || !running() || m?.jsDomain === undefined) return;
    setOpened(
      hostedConnection(
        hub,
        wsid,
        m.jsDomain,
        () => row.hub()?.title,
        account,
        () => membership()?.role,
        share.members,
        hostBack,
      ),
    );
  });
  const notFound = () => /not.?found|no workspace/i.test(hub.problem() ?? "");
  // Once in, a login refused for this workspace means the account was removed from it.
  const ended = () => opened() !== undefined && notFound();
  createEffect(() => {
    if (ended()) void hub.close();
  });

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
        <Show
          when={!ended()}
          fallback={
            <NoticePage title="Your access ended" testid="hub-ws-page-ended" tone="warn">
              <p>
                You are no longer a member of {row.hub()?.title ?? "this workspace"}: an owner
                removed you. Ask an owner to add you again.
              </p>
              <p>
                <a href="/">Back to your workspaces</a>
              </p>
            </NoticePage>
          }
        >
          <div class="hub-ws-page" data-testid="hub-ws-page" data-role={role()}>
            <div class="hub-ws-bar">
              <a href="/" class="hub-ws-back" title="Your workspaces">
                ←
              </a>
              <span class="hub-ws-bar-title">{row.hub()?.title ?? wsid}</span>
              <Show
                when={role() === "viewer"}
                fallback={
                  <span class="hub-badge" data-testid="hub-ws-role">
                    {role()}
                  </span>
                }
              >
                <span
                  class="hub-badge hub-badge-readonly"
                  data-testid="hub-ws-readonly"
                  title="You view this workspace: you cannot edit, type into terminals or run agents"
                >
                  read-only
                </span>
              </Show>
              <button
                type="button"
                class="button"
                data-testid="hub-ws-share"
                onClick={() => setSharing(!sharing())}
              >
                Share
              </button>
            </div>
            <Show when={sharing()}>
              <div class="hub-ws-share-overlay">
                <SharePanel
                  share={share}
                  me={account()?.id}
                  owner={role() === "owner"}
                  onClose={() => setSharing(false)}
                />
              </div>
            </Show>
            <Show when={!running()}>
              <div class="hub-ws-banner" role="status" data-testid="hub-ws-page-banner">
                <StatusWords wsid={wsid} status={status()} problem={row.problem()} />
              </div>
            </Show>
            <WorkspaceApp connection={conn()} />
          </div>
        </Show>
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
