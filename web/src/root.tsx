/**
 * The session gate: asks the gateway who we are, then opens the workspace, or explains why
 * it cannot (not signed in, or the gateway is not reachable).
 */
import { createSignal, Match, onCleanup, Switch } from "solid-js";
import { AgentsProvider } from "./agents/agents-store.js";
import { NoticePage } from "./components/notice-page.js";
import { FilesProvider } from "./files/files-store.js";
import { openConnection, type WorkspaceConnection } from "./lib/connection.js";
import { backoffMs } from "./lib/delay.js";
import {
  fetchSession,
  markSignedOut,
  type Session,
  type SessionResult,
  signedOut,
  signInFromUrl,
} from "./lib/session.js";
import { ConnectionProvider } from "./stores/connection-store.js";
import { PresenceProvider } from "./stores/presence-store.js";
import { ServicesProvider } from "./stores/services-store.js";
import { SettingsProvider } from "./stores/settings-store.js";
import { TerminalsProvider } from "./terminals/terminals-store.js";
import { WorkspaceShell } from "./workspace-shell.js";

export function Root() {
  const [result, setResult] = createSignal<SessionResult>();
  let failures = 0;
  const signingIn = signInFromUrl();
  let timer: ReturnType<typeof setTimeout> | undefined;
  onCleanup(() => clearTimeout(timer));

  async function load() {
    clearTimeout(timer);
    const r = (await signingIn) ?? (await fetchSession());
    setResult(r);
    if (!r.ok && r.reason === "unavailable") {
      failures++;
      timer = setTimeout(load, Math.max(1000, backoffMs(failures)));
    }
  }
  void load();

  const session = () => {
    const r = result();
    return r?.ok ? r.session : undefined;
  };
  const unavailable = () => {
    const r = result();
    return r && !r.ok && r.reason === "unavailable" ? r.message : undefined;
  };

  return (
    <Switch fallback={<NoticePage title="Connecting…" testid="session-loading" />}>
      <Match when={signedOut() || (result() && !result()?.ok && !unavailable())}>
        <NoticePage title="Not signed in" testid="signed-out" tone="warn">
          <p>
            {(() => {
              const r = result();
              return r && !r.ok && r.reason === "signed-out" && r.message
                ? r.message
                : "Not signed in: open the URL with ?token=… that cocalc-plus printed";
            })()}
          </p>
          <p class="muted">
            <code>cocalc-plus token</code> prints it again.
          </p>
        </NoticePage>
      </Match>
      <Match when={session()}>
        {(s) => <Workspace session={s()} onSignedOut={markSignedOut} />}
      </Match>
      <Match when={unavailable()}>
        {(message) => (
          <NoticePage title="cocalc-plus is not reachable" testid="session-unavailable" tone="warn">
            <p>{message()}</p>
            <p class="muted">Retrying…</p>
            <button type="button" class="button" onClick={() => void load()}>
              Retry now
            </button>
          </NoticePage>
        )}
      </Match>
    </Switch>
  );
}

function Workspace(props: { session: Session; onSignedOut: () => void }) {
  const connection = openConnection({
    session: props.session,
    refreshSession: fetchSession,
    onSignedOut: props.onSignedOut,
  });
  onCleanup(() => void connection.close());
  return <WorkspaceApp connection={connection} />;
}

/** The workspace's stores and shell over a connection: plus's own, or a hosted one's. */
export function WorkspaceApp(props: { connection: WorkspaceConnection }) {
  return (
    <ConnectionProvider connection={props.connection}>
      <SettingsProvider>
        <ServicesProvider>
          <PresenceProvider>
            <TerminalsProvider>
              <AgentsProvider>
                <FilesProvider>
                  <WorkspaceShell />
                </FilesProvider>
              </AgentsProvider>
            </TerminalsProvider>
          </PresenceProvider>
        </ServicesProvider>
      </SettingsProvider>
    </ConnectionProvider>
  );
}
