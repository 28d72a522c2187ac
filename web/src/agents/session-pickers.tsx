/**
 * The agent session's modes and config options (model, reasoning…) as pickers in the thread's
 * header. A choice is remembered on the thread and applied to the session before its next turn.
 */
import { For, Show } from "solid-js";
import { useAgents } from "./agents-store.js";

export function SessionPickers() {
  const agents = useAgents();
  const thread = () => agents.selected()!;
  const session = () => thread().session;
  const options = () => session()?.options ?? [];
  // Agents that offer a mode option say so there; their modes would be the same choice twice.
  const modes = () => (options().some((o) => o.category === "mode") ? undefined : session()?.modes);
  const isModel = (o: { id: string; category?: string }) =>
    o.category === "model" || o.id === "model";
  const chosen = (o: { id: string; category?: string; current: string }) =>
    (isModel(o) ? thread().settings.model || undefined : thread().settings.options?.[o.id]) ??
    o.current;
  return (
    <span class="agents-session-pickers" data-testid="session-pickers">
      <Show when={modes()}>
        {(m) => (
          <label title="The agent's session mode">
            Mode{" "}
            <select
              data-testid="session-mode"
              value={thread().settings.sessionMode ?? m().current}
              onChange={(e) => void agents.changeSettings({ sessionMode: e.currentTarget.value })}
            >
              <For each={m().available}>
                {(x) => (
                  <option value={x.id} title={x.description}>
                    {x.name}
                  </option>
                )}
              </For>
            </select>
          </label>
        )}
      </Show>
      <For each={options()}>
        {(o) => (
          <label title={o.description ?? o.name}>
            {o.name}{" "}
            <select
              data-testid={`session-option-${o.id}`}
              aria-label={o.name}
              value={chosen(o)}
              onChange={(e) => {
                const value = e.currentTarget.value;
                void agents.changeSettings(
                  isModel(o)
                    ? { model: value }
                    : { options: { ...thread().settings.options, [o.id]: value } },
                );
              }}
            >
              <For each={o.values}>
                {(v) => (
                  <option value={v.value} title={v.description}>
                    {v.name}
                  </option>
                )}
              </For>
            </select>
          </label>
        )}
      </For>
    </span>
  );
}
