/** The selected thread: its header (export, settings), its latest turns and the composer. */

import {
  createEffect,
  createMemo,
  createSignal,
  For,
  on,
  onCleanup,
  onMount,
  Show,
} from "solid-js";
import { turnMarkdown } from "../../../shared/turn-log-model.js";
import { ClockIcon } from "../components/icons.js";
import { PresenceAvatars } from "../components/presence-avatars.js";
import { useConnectionState } from "../stores/connection-store.js";
import { usePresence } from "../stores/presence-store.js";
import { TURNS_PAGE, useAgents } from "./agents-store.js";
import { Composer } from "./composer.js";
import { ScheduleForm, scheduleSummary } from "./schedule-form.js";
import { SessionPickers } from "./session-pickers.js";
import { SignInPanel } from "./sign-in-panel.js";
import { ThreadActions } from "./thread-actions.js";
import { ThreadSettingsForm } from "./thread-settings-form.js";
import { TurnCard } from "./turn-card.js";

export function ThreadPane() {
  const agents = useAgents();
  const readOnly = useConnectionState().readOnly;
  const thread = () => agents.selected()!;
  const presence = usePresence();
  // Who else has this thread open (in this browser's other tabs too).
  const lookers = createMemo(() =>
    presence.others().filter((p) => p.where.tab === "agents" && p.where.thread === thread().thread),
  );
  const [shown, setShown] = createSignal(TURNS_PAGE);
  const [settingsOpen, setSettingsOpen] = createSignal(false);
  const [scheduleOpen, setScheduleOpen] = createSignal(false);
  const [signInOpen, setSignInOpen] = createSignal<boolean>();
  /** The sign-in shows when asked for, while one runs, and after a turn the agent refused. */
  const signInShown = createMemo(() => {
    if (!thread().auth?.methods.length) return false;
    const asked = signInOpen();
    if (asked !== undefined) return asked;
    const s = thread().signIn?.status;
    if (s === "starting" || s === "waiting") return true;
    return agents.turns().at(-1)?.failure?.code === "ERR_AGENT_AUTH";
  });
  const visible = createMemo(() => agents.turns().slice(-shown()));
  const hidden = () => Math.max(0, agents.turns().length - shown());
  let list!: HTMLDivElement;
  /** The reader is at the bottom of the log: new output keeps it there. */
  const [following, setFollowing] = createSignal(true);
  const [behind, setBehind] = createSignal(false);
  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const toLatest = () => {
    list.scrollTop = list.scrollHeight;
    setFollowing(true);
    setBehind(false);
  };
  onMount(() => {
    toLatest();
    // Whatever grows the log (a new turn, a chunk, a diff): follow it, or offer to jump there.
    // Once a frame: scrolling lays the log out, and a flood of chunks grows it far more often.
    let frame: number | undefined;
    const grown = new MutationObserver(() => {
      if (!following()) {
        setBehind(true);
        return;
      }
      frame ??= requestAnimationFrame(() => {
        frame = undefined;
        if (following()) list.scrollTop = list.scrollHeight;
      });
    });
    grown.observe(list, { childList: true, subtree: true, characterData: true });
    onCleanup(() => {
      grown.disconnect();
      if (frame !== undefined) cancelAnimationFrame(frame);
    });
  });
  // Another thread opens at its latest turn.
  createEffect(
    on(
      () => thread().thread,
      () => queueMicrotask(toLatest),
      { defer: true },
    ),
  );
  /**
   * The reader stops following by scrolling up, and follows again at the bottom. A scroll
   * event while the log grows (before its next frame scrolls along) changes nothing.
   */
  let lastTop = 0;
  const onScroll = () => {
    const top = list.scrollTop;
    const up = top < lastTop - 1;
    lastTop = top;
    if (atBottom()) {
      setFollowing(true);
      setBehind(false);
    } else if (up) setFollowing(false);
  };

  const exportThread = async (withThinking: boolean) => {
    const parts = [`# ${thread().title}`, ""];
    for (const t of agents.turns()) {
      const log = agents.openLog(t.thread, t.turn);
      const deadline = Date.now() + 15_000;
      while (!log.caughtUp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      parts.push(turnMarkdown(t.prompt, t.index, t.status, log.model, withThinking));
      log.stop();
    }
    const blob = new Blob([parts.join("\n")], { type: "text/markdown" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${thread().title.replace(/[^\w.-]+/g, "_")}.md`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  return (
    <section class="agents-main" data-testid="thread-pane">
      <header class="agents-header">
        <h2>{thread().title}</h2>
        <span class="agents-summary">
          {thread().settings.agent} · {thread().settings.mode}
          {thread().settings.model ? ` · ${thread().settings.model}` : ""}
          {thread().settings.network && thread().settings.mode !== "full-access"
            ? " · network"
            : ""}{" "}
          · {thread().settings.cwd}
        </span>
        <Show when={thread().schedule}>
          {(sch) => (
            <span
              class="agents-schedule-chip"
              data-testid="schedule-summary"
              data-paused={sch().schedule.paused ? "yes" : "no"}
              title={`Scheduled prompt: ${sch().schedule.prompt}`}
            >
              <ClockIcon size={12} /> {scheduleSummary(sch())}
            </span>
          )}
        </Show>
        <span class="agents-spacer" />
        <PresenceAvatars
          people={lookers()}
          title={(p) => `${p.name}${p.away ? " (away)" : ""} is looking at this thread`}
          testid="thread-presence"
        />
        <Show when={!readOnly()}>
          <ThreadActions />
        </Show>
        <button type="button" class="button" onClick={() => void exportThread(true)}>
          Export
        </button>
        <button type="button" class="button" onClick={() => void exportThread(false)}>
          Export without thinking
        </button>
        <Show when={!readOnly() && thread().auth?.methods.length}>
          <button
            type="button"
            class="button"
            data-testid="sign-in-toggle"
            onClick={() => setSignInOpen(!signInShown())}
          >
            Sign in
          </button>
        </Show>
        <Show when={!readOnly()}>
          <button
            type="button"
            class="button"
            data-testid="schedule-toggle"
            aria-pressed={scheduleOpen()}
            onClick={() => setScheduleOpen(!scheduleOpen())}
          >
            Schedule
          </button>
        </Show>
        <Show when={!readOnly()}>
          <button
            type="button"
            class="button"
            data-testid="thread-settings-toggle"
            onClick={() => setSettingsOpen(!settingsOpen())}
          >
            Settings
          </button>
        </Show>
      </header>
      <Show when={thread().sessionId || thread().session}>
        <div class="agents-session-bar">
          <Show when={!readOnly() && thread().session}>
            <SessionPickers />
          </Show>
          <span class="agents-spacer" />
          <Show when={thread().sessionId}>
            {(id) => (
              <span class="muted" data-testid="session-id" title={`ACP session ${id()}`}>
                {thread().auth?.agent ?? thread().settings.agent} · session {id()}
              </span>
            )}
          </Show>
        </div>
      </Show>
      <Show when={signInShown() && !readOnly()}>
        <SignInPanel onClose={() => setSignInOpen(false)} onKeys={() => setSettingsOpen(true)} />
      </Show>
      <Show when={settingsOpen() && !readOnly()}>
        <ThreadSettingsForm onDone={() => setSettingsOpen(false)} />
      </Show>
      <Show when={scheduleOpen() && !readOnly()}>
        <ScheduleForm onDone={() => setScheduleOpen(false)} />
      </Show>
      <Show when={agents.lastError()}>
        <div class="agents-error" role="alert">
          {agents.lastError()}
          <button type="button" class="link-button" onClick={() => agents.clearError()}>
            Dismiss
          </button>
        </div>
      </Show>
      <div class="agents-turns" ref={list} onScroll={onScroll} data-testid="turns">
        <Show when={hidden() > 0}>
          <button
            type="button"
            class="button agents-older"
            data-testid="load-older"
            onClick={() => setShown(shown() + TURNS_PAGE)}
          >
            Load older ({hidden()} more)
          </button>
        </Show>
        <For each={visible()}>{(t) => <TurnCard turn={t} />}</For>
        <Show when={agents.turns().length === 0}>
          <p class="muted agents-hint">
            {readOnly()
              ? "No turns yet: they show here as members ask the agent."
              : `Ask the agent something. It works in ${thread().settings.cwd} (${thread().settings.mode}).`}
          </p>
        </Show>
        <Show when={behind()}>
          <button
            type="button"
            class="button primary agents-jump"
            data-testid="jump-to-latest"
            onClick={toLatest}
          >
            ↓ Jump to latest
          </button>
        </Show>
      </div>
      <Composer onSent={() => queueMicrotask(toLatest)} />
    </section>
  );
}
