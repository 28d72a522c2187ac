/**
 * The API keys agents get by environment: their names, and a box to store (or remove) one.
 * Stored 0600 on this machine for every thread (a hosted workspace's: sealed by the hub).
 */
import { createSignal, Show } from "solid-js";
import type { AgentKeyScope } from "../../../shared/hub-agent-keys.js";
import { useAgents } from "./agents-store.js";

export function AgentKeysForm(props: { class?: string }) {
  const agents = useAgents();
  const [keyName, setKeyName] = createSignal("OPENAI_API_KEY");
  const [keyValue, setKeyValue] = createSignal("");
  const [keyScope, setKeyScope] = createSignal<AgentKeyScope>("account");
  return (
    <fieldset class={`agents-keys ${props.class ?? ""}`} data-testid="agent-keys">
      <Show
        when={agents.hubKeyNames()}
        fallback={
          <>
            <legend>API keys (stored 0600 on this machine; given to agents by environment)</legend>
            <p class="muted">Set: {agents.keyNames().join(", ") || "none"}</p>
          </>
        }
      >
        {(names) => (
          <>
            <legend>
              API keys (kept sealed by the hub; the agent of a turn gets the keys of who submitted
              it)
            </legend>
            <p class="muted" data-testid="account-keys">
              Yours: {names().account.join(", ") || "none"}
            </p>
            <Show when={names().workspace}>
              {(ws) => (
                <p class="muted" data-testid="workspace-keys">
                  This workspace's (for its owners' turns, over yours): {ws().join(", ") || "none"}
                </p>
              )}
            </Show>
            <Show when={names().workspace}>
              <select
                aria-label="Key for"
                value={keyScope()}
                onChange={(e) => setKeyScope(e.currentTarget.value as AgentKeyScope)}
              >
                <option value="account">for me</option>
                <option value="workspace">for this workspace</option>
              </select>
            </Show>
          </>
        )}
      </Show>
      <input
        aria-label="Key name"
        value={keyName()}
        onInput={(e) => setKeyName(e.currentTarget.value)}
      />
      <input
        aria-label="Key value"
        type="password"
        value={keyValue()}
        placeholder="value (empty removes it)"
        onInput={(e) => setKeyValue(e.currentTarget.value)}
      />
      <button
        type="button"
        class="button"
        onClick={() => {
          void agents.setKey(keyName(), keyValue(), keyScope());
          setKeyValue("");
        }}
      >
        Store key
      </button>
    </fieldset>
  );
}
