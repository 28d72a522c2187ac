/**
 * A thread's settings (agent, model, mode, working directory, network, environment) and the
 * API keys agents get by environment.
 */
import { createMemo, createSignal, For, Show } from "solid-js";
import {
  type AgentKind,
  AgentModes,
  looksLikeSecret,
  type ThreadSettings,
} from "../../../shared/agents.js";
import { AgentKeysForm } from "./agent-keys-form.js";
import { useAgents } from "./agents-store.js";

function envText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

/** NAME=value lines (blank lines and lines without a name are skipped). */
function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (line.trim() && i > 0) vars[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return vars;
}

/** What "network" means for the chosen mode, in the form. */
function networkNote(mode: ThreadSettings["mode"], on: boolean): string {
  if (mode === "full-access")
    return "Full access: the agent and its commands use this machine's network.";
  return on
    ? "On: the agent and its commands can reach this machine's services and the local network (plus's keys stay hidden)."
    : "Off: commands have no network; the agent reaches only the internet (its model's API), through plus's proxy.";
}

export function ThreadSettingsForm(props: { onDone: () => void }) {
  const agents = useAgents();
  const s = () => agents.selected()!.settings;
  const [title, setTitle] = createSignal(agents.selected()!.title);
  const [agent, setAgent] = createSignal<AgentKind>(s().agent);
  const [command, setCommand] = createSignal(s().command);
  const [model, setModel] = createSignal(s().model);
  const [mode, setMode] = createSignal(s().mode);
  const [cwd, setCwd] = createSignal(s().cwd);
  const [env, setEnv] = createSignal(envText(s().env));
  const [network, setNetwork] = createSignal(s().network === true);
  /** Secret-looking names typed into the Environment: offered as API keys instead. */
  const secrets = createMemo(() =>
    Object.entries(parseEnv(env()))
      .filter(([name, value]) => value !== "" && looksLikeSecret(name))
      .map(([name]) => name),
  );
  const [nudge, setNudge] = createSignal(false);
  const [storing, setStoring] = createSignal(false);
  const send = async () => {
    const change: Partial<ThreadSettings> = {
      agent: agent(),
      command: command(),
      model: model(),
      mode: mode(),
      cwd: cwd(),
      env: parseEnv(env()),
      network: network(),
    };
    const reply = await agents.changeSettings(change, title());
    if (reply.ok) props.onDone();
  };
  const save = async (e: Event) => {
    e.preventDefault();
    // The environment is kept in the thread's history: secrets go to the key store instead.
    if (secrets().length > 0) return setNudge(true);
    await send();
  };
  /** Stores each secret-looking variable as an API key, takes it out of the box, then saves. */
  const storeSecrets = async () => {
    setStoring(true);
    try {
      const vars = parseEnv(env());
      for (const name of secrets()) {
        if (!(await agents.setKey(name, vars[name]!))) return;
        delete vars[name];
      }
      setEnv(envText(vars));
      setNudge(false);
      await send();
    } finally {
      setStoring(false);
    }
  };
  return (
    <form class="agents-settings" data-testid="thread-settings" onSubmit={save}>
      <label>
        Title <input value={title()} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        Agent
        <select value={agent()} onChange={(e) => setAgent(e.currentTarget.value as AgentKind)}>
          <For each={agents.agents()}>{(a) => <option value={a.kind}>{a.name}</option>}</For>
          <Show when={!agents.agents().some((a) => a.kind === "codex")}>
            <option value="codex">Codex (not installed)</option>
          </Show>
          <Show when={!agents.agents().some((a) => a.kind === "claude")}>
            <option value="claude">Claude Code (not installed)</option>
          </Show>
          <option value="custom">Custom command</option>
        </select>
      </label>
      <Show when={agent() === "custom"}>
        <label>
          Command
          <input
            data-testid="agent-command"
            value={command()}
            placeholder="/path/to/agent --acp"
            onInput={(e) => setCommand(e.currentTarget.value)}
          />
        </label>
      </Show>
      <label>
        Model{" "}
        <input
          value={model()}
          placeholder="the agent's default"
          onInput={(e) => setModel(e.currentTarget.value)}
        />
      </label>
      <label>
        Mode
        <select
          value={mode()}
          onChange={(e) => setMode(e.currentTarget.value as ThreadSettings["mode"])}
        >
          <For each={AgentModes}>{(m) => <option value={m}>{m}</option>}</For>
        </select>
      </label>
      <label>
        Working directory <input value={cwd()} onInput={(e) => setCwd(e.currentTarget.value)} />
      </label>
      <label class="agents-network">
        <input
          type="checkbox"
          data-testid="thread-network"
          checked={network() || mode() === "full-access"}
          disabled={mode() === "full-access"}
          onChange={(e) => setNetwork(e.currentTarget.checked)}
        />
        Network
        <span class="muted" data-testid="network-note">
          {networkNote(mode(), network())}
        </span>
      </label>
      <label class="wide">
        Environment (NAME=value per line; stored with the thread, so no secrets)
        <textarea
          data-testid="thread-env"
          value={env()}
          onInput={(e) => setEnv(e.currentTarget.value)}
        />
      </label>
      <Show when={secrets().length > 0}>
        <div
          class="agents-secret-offer wide"
          classList={{ nudged: nudge() }}
          role="alert"
          data-testid="env-secrets"
        >
          <p>
            <strong>{secrets().join(", ")}</strong> {secrets().length === 1 ? "looks" : "look"} like
            a secret, and the environment is stored in the thread's history in clear, so it is not
            accepted here. Store {secrets().length === 1 ? "it" : "them"} as an API key instead:
            kept in a 0600 file on this machine, and given to the agent by environment the same way.
          </p>
          <button
            type="button"
            class="button primary"
            data-testid="store-env-secrets"
            disabled={storing()}
            onClick={() => void storeSecrets()}
          >
            Store as API {secrets().length === 1 ? "key" : "keys"} and save
          </button>
        </div>
      </Show>
      <div class="agents-settings-actions wide">
        <button type="submit" class="button primary" data-testid="save-settings">
          Save
        </button>
        <button type="button" class="button" onClick={props.onDone}>
          Cancel
        </button>
      </div>
      <AgentKeysForm class="wide" />
    </form>
  );
}
