/**
 * The port forwards of one remote session: add (local port, remote port, direction, name),
 * status with restart count and last error, an "open" link for forwards that bring a remote
 * service here, and remove. Self-contained: it brings its own store.
 */
import { createMemo, createSignal, For, Show } from "solid-js";
import type { CommandReply } from "../../../shared/commands.js";
import {
  type ForwardDirection,
  type ForwardView,
  forwardSummary,
} from "../../../shared/forwards.js";
import { sessionIdOf } from "../../../shared/remote.js";
import { useConnection } from "../stores/connection-store.js";
import { createForwardsStore, type ForwardsStore } from "./forwards-store.js";
import "./forwards.css";

export interface PortForwardsProps {
  /** The session's target: its forwards are listed and new forwards go to it. */
  session: string;
}

function sidOf(target: string): string | undefined {
  try {
    return sessionIdOf(target);
  } catch {
    return undefined;
  }
}

/** The status line: `up`, `restarting in 4 s: ssh was killed by SIGKILL`, … */
export function forwardStatusText(f: ForwardView): string {
  switch (f.status) {
    case "up":
      return "up";
    case "starting":
      return "starting";
    case "restarting":
      return `restarting${f.error ? `: ${f.error.message}` : ""}`;
    case "failed":
      return `failed${f.error ? `: ${f.error.message}` : ""}`;
    case "stopped":
      return "stopped (the session is not running)";
    default: {
      const never: never = f.status;
      return never;
    }
  }
}

export function PortForwards(props: PortForwardsProps) {
  const store = createForwardsStore(useConnection());
  const forwards = createMemo(() => {
    const sid = sidOf(props.session);
    return Object.values(store.state.forwards)
      .filter((f) => f && f.sid === sid)
      .sort((a, b) => a.local - b.local || a.direction.localeCompare(b.direction));
  });
  const [adding, setAdding] = createSignal(false);
  return (
    <div class="fwd" data-testid="port-forwards">
      <div class="fwd-head">
        <h2>Port forwards</h2>
        <button
          type="button"
          class="button"
          data-testid="forward-add"
          onClick={() => setAdding(!adding())}
        >
          {adding() ? "Cancel" : "Add forward"}
        </button>
      </div>
      <Show when={store.state.problem}>
        <p class="banner banner-warn" role="status">
          Forward status is not updating: {store.state.problem} (retrying)
        </p>
      </Show>
      <Show when={adding()}>
        <ForwardForm store={store} session={props.session} onDone={() => setAdding(false)} />
      </Show>
      <Show
        when={forwards().length > 0}
        fallback={
          <p class="fwd-empty" data-testid="forward-empty">
            No port forwards yet. Add one to reach a service of the remote here (or the reverse).
          </p>
        }
      >
        <ul class="fwd-list">
          <For each={forwards()}>{(f) => <ForwardRow forward={f} store={store} />}</For>
        </ul>
      </Show>
    </div>
  );
}

function Failure(props: { reply: CommandReply | undefined }) {
  return (
    <Show when={props.reply && !props.reply.ok ? props.reply : undefined}>
      {(r) => (
        <p class="fwd-error" role="alert" data-testid="forward-error">
          {(r() as Extract<CommandReply, { ok: false }>).error.message}
        </p>
      )}
    </Show>
  );
}

function ForwardRow(props: { forward: ForwardView; store: ForwardsStore }) {
  const f = () => props.forward;
  const [reply, setReply] = createSignal<CommandReply>();
  const [busy, setBusy] = createSignal(false);
  const remove = async () => {
    setBusy(true);
    setReply(await props.store.remove(f().forward));
    setBusy(false);
  };
  return (
    <li
      class="fwd-item"
      data-testid="forward"
      data-status={f().status}
      data-local={f().local}
      data-forward={f().forward}
    >
      <div class="fwd-ports">
        <span class="fwd-summary">{forwardSummary(f())}</span>
        <Show when={f().name}>
          <span class="fwd-name">{f().name}</span>
        </Show>
        <Show when={f().direction === "remote-to-local"}>
          <a
            class="fwd-open"
            href={`http://localhost:${f().local}/`}
            target="_blank"
            rel="noopener noreferrer"
            data-testid="forward-open"
          >
            open
          </a>
        </Show>
      </div>
      <div class="fwd-status">
        <span class="fwd-state" data-status={f().status} data-testid="forward-status">
          <span class="status-dot" />
          {forwardStatusText(f())}
        </span>
        <Show when={f().restarts > 0}>
          <span class="fwd-meta" data-testid="forward-restarts">
            restarted {f().restarts}×
          </span>
        </Show>
      </div>
      <div class="fwd-actions">
        <button
          type="button"
          class="button"
          disabled={busy()}
          onClick={remove}
          data-testid="forward-remove"
        >
          Remove
        </button>
      </div>
      <Failure reply={reply()} />
    </li>
  );
}

function ForwardForm(props: { store: ForwardsStore; session: string; onDone: () => void }) {
  const [local, setLocal] = createSignal("");
  const [remote, setRemote] = createSignal("");
  const [direction, setDirection] = createSignal<ForwardDirection>("remote-to-local");
  const [name, setName] = createSignal("");
  const [reply, setReply] = createSignal<CommandReply>();
  const [busy, setBusy] = createSignal(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const r = await props.store.add({
      session: props.session,
      local: local().trim(),
      ...(remote().trim() !== "" && { remote: remote().trim() }),
      direction: direction(),
      ...(name().trim() !== "" && { name: name().trim() }),
    });
    setBusy(false);
    setReply(r);
    if (r.ok) props.onDone();
  };
  return (
    <form class="fwd-form" onSubmit={submit} data-testid="forward-form">
      <label class="fwd-field">
        Local port
        <input
          inputmode="numeric"
          required
          placeholder="8080"
          value={local()}
          onInput={(e) => setLocal(e.currentTarget.value)}
          data-testid="forward-local"
        />
      </label>
      <label class="fwd-field">
        Remote port
        <input
          inputmode="numeric"
          placeholder={local() || "same as local"}
          value={remote()}
          onInput={(e) => setRemote(e.currentTarget.value)}
          data-testid="forward-remote"
        />
      </label>
      <label class="fwd-field">
        Direction
        <select
          value={direction()}
          onChange={(e) => setDirection(e.currentTarget.value as ForwardDirection)}
          data-testid="forward-direction"
        >
          <option value="remote-to-local">remote → local (ssh -L)</option>
          <option value="local-to-remote">local → remote (ssh -R)</option>
        </select>
      </label>
      <label class="fwd-field">
        Name (optional)
        <input
          placeholder="e.g. jupyter"
          value={name()}
          maxLength={100}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      <p class="fwd-note">
        remote → local makes a service on the remote's 127.0.0.1 reachable here, local → remote the
        reverse; the remote port defaults to the local one. The forward runs while the session runs
        and is restarted when it dies.
      </p>
      <div class="fwd-form-actions">
        <button type="submit" class="button" disabled={busy()} data-testid="forward-submit">
          Add forward
        </button>
      </div>
      <Failure reply={reply()} />
    </form>
  );
}
