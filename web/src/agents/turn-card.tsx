/** One turn: its prompt, status, heartbeat and usage, its replayed log, stop and revert. */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import { TURN_STALLED_MS, type TurnView, turnEnded } from "../../../shared/agents.js";
import { answerOf, revertableFiles } from "../../../shared/turn-log-model.js";
import { Avatar } from "../components/presence-avatars.js";
import { useConnectionState } from "../stores/connection-store.js";
import { usePresence } from "../stores/presence-store.js";
import { useAgents } from "./agents-store.js";
import { LogEntry } from "./log-entry.js";
import { Markdown } from "./markdown.js";
import { RevertTurn } from "./revert-turn.js";

const STATUS_LABEL: Record<TurnView["status"], string> = {
  starting: "starting",
  queued: "queued",
  running: "running",
  finished: "finished",
  failed: "failed",
  cancelled: "cancelled",
};

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

/** A clock that ticks every second. */
function useNow(): () => number {
  const [now, setNow] = createSignal(Date.now());
  const timer = setInterval(() => setNow(Date.now()), 1000);
  onCleanup(() => clearInterval(timer));
  return now;
}

export function TurnCard(props: { turn: TurnView }) {
  const agents = useAgents();
  const readOnly = useConnectionState().readOnly;
  const t = () => props.turn;
  const log = agents.openLog(props.turn.thread, props.turn.turn);
  onCleanup(() => log.stop());
  const now = useNow();
  const presence = usePresence();
  // A hosted workspace's turn names the account that submitted it ("user": plus's one user).
  const submitter = () => {
    const by = t().by;
    return by && by !== "user" ? presence.personOf(by) : undefined;
  };
  const live = () => !turnEnded(t().status);
  const elapsed = () => {
    const start = t().startedAt ?? t().submittedAt;
    const end = t().endedAt ? Date.parse(t().endedAt!) : now();
    return seconds(end - Date.parse(start));
  };
  const beatAge = () => (t().heartbeatAt ? now() - Date.parse(t().heartbeatAt!) : undefined);
  const stalled = () => t().status === "running" && (beatAge() ?? 0) > TURN_STALLED_MS;
  const usage = () => log.model.usage ?? t().usage;
  /** Files the turn wrote that a revert can put back. */
  const written = createMemo(() => revertableFiles(log.model));
  const [copied, setCopied] = createSignal<string>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(answerOf(log.model));
      setCopied("Copied");
    } catch {
      setCopied("Copy refused by the browser");
    }
    setTimeout(() => setCopied(undefined), 2000);
  };
  return (
    <article class="turn" data-testid="turn" data-status={t().status} data-turn={t().turn}>
      <div class="turn-prompt">
        <Markdown text={t().prompt} breaks />
        <For each={t().images}>{(p) => <div class="turn-image">🖼 {p}</div>}</For>
      </div>
      <Show when={t().scheduled}>
        {(run) => (
          <div class="turn-notice" data-testid="turn-scheduled">
            Scheduled run for {new Date(run().due).toLocaleString()}
            {run().count > 1
              ? ` (run once for ${run().count} run times missed while the agents were not running)`
              : ""}
          </div>
        )}
      </Show>
      <Show when={t().interrupts}>
        <div class="turn-notice" data-testid="turn-sent-now">
          Sent now: the turn that was running was stopped, and this one ran next.
        </div>
      </Show>
      <div class="turn-meta">
        <Show when={submitter()}>
          {(p) => (
            <span class="turn-by" data-testid="turn-by" data-name={p().name}>
              <Avatar
                person={p()}
                title={`submitted by ${p().name}`}
                testid="turn-by-avatar"
                small
              />
              {p().name}
            </span>
          )}
        </Show>
        <span class="turn-status" data-testid="turn-status" data-status={t().status}>
          {STATUS_LABEL[t().status]}
          {t().stopping ? " (stopping…)" : ""}
        </span>
        <Show when={t().status !== "queued"}>
          <span class="muted" data-testid="turn-elapsed">
            {elapsed()}
          </span>
        </Show>
        <Show when={t().status === "running"}>
          <span class="turn-beat" classList={{ stalled: stalled() }} data-testid="turn-heartbeat">
            {stalled()
              ? `no heartbeat for ${seconds(beatAge() ?? 0)}`
              : `alive ${seconds(beatAge() ?? 0)} ago`}
          </span>
        </Show>
        <Show when={usage()}>
          {(u) => (
            <span class="muted" data-testid="turn-usage">
              {u().used.toLocaleString()} tokens ·{" "}
              {Math.max(0, Math.round(100 - (100 * u().used) / Math.max(1, u().size)))}% context
              left
            </span>
          )}
        </Show>
        <span class="agents-spacer" />
        <Show when={!live() && log.caughtUp() && answerOf(log.model) !== ""}>
          <button
            type="button"
            class="link-button"
            data-testid="turn-copy"
            title="Copy the agent's answer (markdown)"
            onClick={() => void copy()}
          >
            {copied() ?? "Copy"}
          </button>
        </Show>
        <Show when={!readOnly() && !live()}>
          <button
            type="button"
            class="link-button"
            data-testid="turn-edit"
            title="Put this prompt back in the box to edit and send again"
            onClick={() => agents.setDraft({ text: t().prompt, images: [...t().images] })}
          >
            Edit
          </button>
        </Show>
        <Show when={!readOnly() && (t().status === "failed" || t().status === "cancelled")}>
          <button
            type="button"
            class="button"
            data-testid="turn-retry"
            onClick={() => void agents.submit(t().prompt, [...t().images])}
          >
            Retry
          </button>
        </Show>
        <Show when={!readOnly() && !live() && log.caughtUp() && written().length > 0}>
          <RevertTurn turn={t()} files={written()} />
        </Show>
        <Show when={live() && !readOnly()}>
          <button
            type="button"
            class="button turn-stop"
            data-testid="turn-stop"
            disabled={t().stopping}
            onClick={() => void agents.interrupt(t().turn)}
          >
            Stop
          </button>
        </Show>
      </div>
      <div
        class="turn-log"
        data-testid="turn-log"
        data-events={log.model.count}
        data-source={log.source()}
        data-tail={log.tail()}
      >
        {/* A stored log is shown once it is all here: rendered once, not once per batch. */}
        <Show
          when={log.caughtUp()}
          fallback={<div class="turn-streaming">loading {log.model.count} events…</div>}
        >
          <For each={log.model.items}>{(item) => <LogEntry item={item} turn={t()} />}</For>
        </Show>
        <Show when={live() && t().status === "running"}>
          <div class="turn-streaming" data-testid="turn-streaming">
            generating…
          </div>
        </Show>
      </div>
      <Show when={t().failure}>
        {(f) => (
          <div class="turn-failure" data-testid="turn-failure">
            <strong>{f().code}</strong>: {f().reason}
          </div>
        )}
      </Show>
      <Show when={log.problem()}>
        <div class="turn-failure">{log.problem()}</div>
      </Show>
    </article>
  );
}
