/**
 * Signing in to the thread's agent, in the ways its `initialize` offered: an API key to store,
 * the agent's own sign-in (a button; its address shows here, and the address a browser ends
 * on can be pasted back when the agent runs elsewhere), or a command for a terminal.
 */
import { createSignal, For, Show } from "solid-js";
import { type AgentAuthMethod, shellQuote } from "../../../shared/agents.js";
import { useAgents } from "./agents-store.js";

export function SignInPanel(props: { onClose: () => void; onKeys: () => void }) {
  const agents = useAgents();
  const auth = () => agents.selected()?.auth;
  const signIn = () => agents.selected()?.signIn;
  const methods = (kind: AgentAuthMethod["kind"]) =>
    (auth()?.methods ?? []).filter((m) => m.kind === kind);
  const [pasted, setPasted] = createSignal("");
  const [answer, setAnswer] = createSignal<string>();
  const relay = async (e: Event) => {
    e.preventDefault();
    const r = await agents.signInCallback(pasted());
    if (r) {
      setPasted("");
      setAnswer(`the agent answered ${r.status}${r.text ? `: ${r.text}` : ""}`);
    }
  };
  const nameOf = (id: string) => auth()?.methods.find((m) => m.id === id)?.name ?? id;
  return (
    <section class="agents-sign-in" data-testid="sign-in-panel" aria-label="Sign in">
      <header>
        <strong>Sign in to {auth()?.agent ?? "the agent"}</strong>
        <button type="button" class="link-button" onClick={props.onClose}>
          Close
        </button>
      </header>
      <Show when={methods("agent").length > 0}>
        <div class="agents-sign-in-choices">
          <For each={methods("agent")}>
            {(m) => (
              <button
                type="button"
                class="button primary"
                data-testid={`sign-in-${m.id}`}
                title={m.description}
                disabled={signIn()?.status === "starting" || signIn()?.status === "waiting"}
                onClick={() => {
                  setAnswer(undefined);
                  void agents.signIn(m.id);
                }}
              >
                {m.name}
              </button>
            )}
          </For>
        </div>
      </Show>
      <Show when={methods("key").length > 0}>
        <p class="muted" data-testid="sign-in-keys">
          Or with an API key:{" "}
          <For each={methods("key")}>
            {(m, i) => (
              <>
                {i() > 0 ? " or " : ""}
                <code>{(m.vars ?? []).join(" + ")}</code>
              </>
            )}
          </For>{" "}
          — stored 0600 on this machine, used by every thread.{" "}
          <button type="button" class="link-button" onClick={props.onKeys}>
            Store a key
          </button>
        </p>
      </Show>
      <For each={methods("terminal")}>
        {(m) => (
          <p data-testid="sign-in-terminal">
            {m.name}: run <code>{shellQuote(m.command ?? [])}</code> in a terminal of this
            workspace.
          </p>
        )}
      </For>
      <Show when={signIn()}>
        {(s) => (
          <div
            class="agents-sign-in-progress"
            data-testid="sign-in-progress"
            data-status={s().status}
          >
            <Show when={s().status === "starting"}>
              <p>Starting {nameOf(s().method)}…</p>
            </Show>
            <Show when={s().status === "waiting"}>
              <p>
                <a
                  href={s().url}
                  target="_blank"
                  rel="noopener noreferrer"
                  class="button primary"
                  data-testid="sign-in-url"
                >
                  Open the sign-in page
                </a>{" "}
                <span class="muted">and sign in there; this thread goes on once you have.</span>
              </p>
              <p class="agents-sign-in-address">
                <code>{s().url}</code>
              </p>
              <form class="agents-sign-in-callback" onSubmit={relay}>
                <label>
                  If the browser ends on a page that does not load (the agent runs on another
                  machine, or in a hosted workspace), paste that page's address:
                  <input
                    data-testid="sign-in-callback"
                    value={pasted()}
                    placeholder="http://localhost:…/…"
                    onInput={(e) => setPasted(e.currentTarget.value)}
                  />
                </label>
                <button type="submit" class="button" disabled={pasted().trim() === ""}>
                  Send
                </button>
                <button
                  type="button"
                  class="link-button"
                  onClick={() => void agents.cancelSignIn()}
                >
                  Cancel sign-in
                </button>
              </form>
              <Show when={answer()}>
                <p class="muted" data-testid="sign-in-answer">
                  {answer()}
                </p>
              </Show>
            </Show>
            <Show when={s().status === "signed-in"}>
              <p data-testid="sign-in-done">Signed in with {nameOf(s().method)}.</p>
            </Show>
            <Show when={s().status === "failed"}>
              <p class="turn-failure" data-testid="sign-in-failed">
                {nameOf(s().method)} did not sign in: {s().reason}
              </p>
            </Show>
          </div>
        )}
      </Show>
    </section>
  );
}
