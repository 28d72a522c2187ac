/**
 * The Agents tab: the open chat room's threads on the left; the selected thread's turns
 * (the latest ones, "load older" for more), its settings and the composer on the right.
 * Each visible turn replays its own log; a turn scrolled out of the page lets it go.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createMemo, createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import {
  type AgentKind,
  AgentModes,
  looksLikeSecret,
  type ThreadSettings,
  TURN_STALLED_MS,
  type TurnView,
  turnEnded,
} from "../../../shared/agents.js";
import { joinPath } from "../../../shared/paths.js";
import { EmptyState } from "../components/empty-state.js";
import { AgentIcon } from "../components/icons.js";
import { useFiles } from "../files/files-store.js";
import { TURNS_PAGE, useAgents } from "./agents-store.js";
import { lineDiff } from "./diff.js";
import { type LogItem, turnMarkdown } from "./log-model.js";
import { Markdown } from "./markdown.js";
import "./agents.css";

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

/** A clock that ticks every second while `on` says so. */
function useNow(): () => number {
  const [now, setNow] = createSignal(Date.now());
  const timer = setInterval(() => setNow(Date.now()), 1000);
  onCleanup(() => clearInterval(timer));
  return now;
}

export function AgentsPane() {
  const agents = useAgents();
  return (
    <div class="agents" data-testid="agents">
      <Show when={agents.roomPath()} fallback={<NewRoom />}>
        <ThreadList />
        <Show
          when={agents.selected()}
          fallback={
            <div class="agents-main">
              <EmptyState
                icon={<AgentIcon size={28} />}
                title="No agent threads"
                detail="Start a thread to ask an agent to work in this workspace."
              />
            </div>
          }
        >
          <ThreadPane />
        </Show>
      </Show>
    </div>
  );
}

function NewRoom() {
  const agents = useAgents();
  const files = useFiles();
  const [name, setName] = createSignal("agents");
  const [error, setError] = createSignal<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    const session = files.session();
    if (!session) return setError("the file service is not ready yet");
    const path = joinPath(session.home, `${name().trim() || "agents"}.chat`);
    try {
      const file = `${name().trim() || "agents"}.chat`;
      const { existing } = await session.fs.call({
        op: "exists",
        dir: session.home,
        names: [file],
      });
      if (!existing.includes(file)) {
        await session.fs.call({
          op: "write",
          path,
          content: `${JSON.stringify({ type: "cocalc-chat", v: 1 })}\n`,
          encoding: "utf8",
          exclusive: true,
        });
      }
      agents.openRoom(path);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="agents-empty">
      <EmptyState
        icon={<AgentIcon size={28} />}
        title="No chat room open"
        detail="Open a .chat file in Files, or create a chat room."
      />
      <form class="agents-new-room" onSubmit={create}>
        <input
          aria-label="Chat room name"
          data-testid="room-name"
          value={name()}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button type="submit" class="button" data-testid="create-room">
          Create chat room
        </button>
      </form>
      <Show when={error()}>
        <p class="agents-error">{error()}</p>
      </Show>
    </div>
  );
}

/** A thread row's height (one line; fixed in agents.css, so rows need no measuring). */
const THREAD_ROW_HEIGHT = 34;

/** A room can hold thousands of threads: only the rows in view are rendered. */
function ThreadList() {
  const agents = useAgents();
  const files = useFiles();
  const create = () =>
    void agents.createThread(`Thread ${agents.threads().length + 1}`, files.session()?.home ?? "/");
  let scroller: HTMLDivElement | undefined;
  const virtualizer = createVirtualizer({
    get count() {
      return agents.threads().length;
    },
    getScrollElement: () => scroller ?? null,
    estimateSize: () => THREAD_ROW_HEIGHT,
    overscan: 10,
  });
  const items = () => virtualizer.getVirtualItems();
  const rows = createMemo(() =>
    items().flatMap((v) => {
      const t = agents.threads()[v.index];
      return t ? [t] : [];
    }),
  );
  return (
    <aside class="agents-threads" aria-label="Threads">
      <div class="agents-room" title={agents.roomPath()}>
        {agents.roomPath()?.split("/").pop()}
      </div>
      <button
        type="button"
        class="button agents-new-thread"
        data-testid="new-thread"
        onClick={create}
      >
        New thread
      </button>
      <div
        class="agents-thread-scroll"
        data-testid="thread-list"
        data-count={agents.threads().length}
        ref={(el) => {
          scroller = el;
        }}
      >
        <ul style={{ height: `${virtualizer.getTotalSize()}px` }}>
          {/* Rows are keyed by thread, so scrolling moves them instead of rebuilding them. */}
          <For each={rows()}>
            {(t, i) => (
              <li style={{ transform: `translateY(${items()[i()]?.start ?? 0}px)` }}>
                <button
                  type="button"
                  class="agents-thread"
                  classList={{ selected: agents.selected()?.thread === t.thread }}
                  data-testid="thread"
                  data-thread={t.thread}
                  title={t.title}
                  onClick={() => agents.select(t.thread)}
                >
                  <span class="agents-dot" data-busy={t.running ? "yes" : "no"} />
                  <span class="agents-thread-title">{t.title}</span>
                  <Show when={t.queue.length > 0}>
                    <span class="agents-queue">+{t.queue.length}</span>
                  </Show>
                </button>
              </li>
            )}
          </For>
        </ul>
      </div>
    </aside>
  );
}

function ThreadPane() {
  const agents = useAgents();
  const thread = () => agents.selected()!;
  const [shown, setShown] = createSignal(TURNS_PAGE);
  const [settingsOpen, setSettingsOpen] = createSignal(false);
  const visible = createMemo(() => agents.turns().slice(-shown()));
  const hidden = () => Math.max(0, agents.turns().length - shown());
  let list!: HTMLDivElement;

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
        <span class="agents-spacer" />
        <button type="button" class="button" onClick={() => void exportThread(true)}>
          Export
        </button>
        <button type="button" class="button" onClick={() => void exportThread(false)}>
          Export without thinking
        </button>
        <button
          type="button"
          class="button"
          data-testid="thread-settings-toggle"
          onClick={() => setSettingsOpen(!settingsOpen())}
        >
          Settings
        </button>
      </header>
      <Show when={settingsOpen()}>
        <ThreadSettingsForm onDone={() => setSettingsOpen(false)} />
      </Show>
      <Show when={agents.lastError()}>
        <div class="agents-error" role="alert">
          {agents.lastError()}
          <button type="button" class="link-button" onClick={() => agents.clearError()}>
            Dismiss
          </button>
        </div>
      </Show>
      <div class="agents-turns" ref={list}>
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
            Ask the agent something. It works in {thread().settings.cwd} ({thread().settings.mode}).
          </p>
        </Show>
      </div>
      <Composer onSent={() => queueMicrotask(() => (list.scrollTop = list.scrollHeight))} />
    </section>
  );
}

function TurnCard(props: { turn: TurnView }) {
  const agents = useAgents();
  const t = () => props.turn;
  const log = agents.openLog(props.turn.thread, props.turn.turn);
  onCleanup(() => log.stop());
  const now = useNow();
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
  const written = createMemo(() => [
    ...new Set(log.model.items.flatMap((i) => (i.kind === "file" && !i.truncated ? [i.path] : []))),
  ]);
  return (
    <article class="turn" data-testid="turn" data-status={t().status} data-turn={t().turn}>
      <div class="turn-prompt">
        <Markdown text={t().prompt} breaks />
        <For each={t().images}>{(p) => <div class="turn-image">🖼 {p}</div>}</For>
      </div>
      <div class="turn-meta">
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
        <Show when={!live() && log.caughtUp() && written().length > 0}>
          <RevertTurn turn={t()} files={written()} />
        </Show>
        <Show when={live()}>
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
        data-tail={tailOf(log.model.items)}
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

/**
 * "Revert this turn": every file the turn wrote goes back as it was. When a file changed
 * since, nothing is reverted and the user is asked to confirm.
 */
function RevertTurn(props: { turn: TurnView; files: string[] }) {
  const agents = useAgents();
  const [conflict, setConflict] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  const [outcome, setOutcome] = createSignal<string>();
  const reverted = () => props.files.every((f) => props.turn.reverted?.includes(f));
  const run = async (force: boolean) => {
    setBusy(true);
    const r = await agents.revertTurn(props.turn.turn, force);
    setBusy(false);
    if (r.ok) {
      setConflict(undefined);
      setOutcome(`reverted ${r.reverted.length === 1 ? "1 file" : `${r.reverted.length} files`}`);
    } else if (r.error.code === "ERR_AGENT_REVERT_CONFLICT") setConflict(r.error.message);
    else {
      setConflict(undefined);
      setOutcome(r.error.message);
    }
  };
  return (
    <span class="turn-revert">
      <Show
        when={conflict()}
        fallback={
          <>
            <Show when={outcome() ?? (reverted() ? "reverted" : undefined)}>
              {(o) => (
                <span class="muted" data-testid="turn-revert-outcome">
                  {o()}
                </span>
              )}
            </Show>
            <Show when={!reverted()}>
              <button
                type="button"
                class="button"
                data-testid="turn-revert"
                disabled={busy()}
                title={props.files.join("\n")}
                onClick={() => void run(false)}
              >
                Revert this turn (
                {props.files.length === 1 ? "1 file" : `${props.files.length} files`})
              </button>
            </Show>
          </>
        }
      >
        {(c) => (
          <span class="turn-revert-conflict" role="alert" data-testid="turn-revert-conflict">
            {c()}
            <button
              type="button"
              class="button primary danger"
              data-testid="turn-revert-confirm"
              disabled={busy()}
              onClick={() => void run(true)}
            >
              Revert anyway
            </button>
            <button type="button" class="link-button" onClick={() => setConflict(undefined)}>
              Cancel
            </button>
          </span>
        )}
      </Show>
    </span>
  );
}

/** The end of the newest message, as the store has it (before markdown renders it). */
function tailOf(items: readonly LogItem[]): string {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.kind === "message") return item.text.slice(-60);
  }
  return "";
}

function LogEntry(props: { item: LogItem; turn: TurnView }) {
  const agents = useAgents();
  return (
    <Switch>
      <Match when={props.item.kind === "message" && props.item}>
        {(i) => <Markdown text={i().text} class="turn-message" />}
      </Match>
      <Match when={props.item.kind === "thought" && props.item}>
        {(i) => (
          <details class="turn-thought" open={!turnEnded(props.turn.status)}>
            <summary>Thinking</summary>
            <Markdown text={i().text} />
          </details>
        )}
      </Match>
      <Match when={props.item.kind === "plan" && props.item}>
        {(i) => (
          <ol class="turn-plan">
            <For each={i().entries}>
              {(e) => (
                <li data-status={e.status}>
                  {e.status === "completed" ? "✓" : e.status === "in_progress" ? "▸" : "○"}{" "}
                  {e.content}
                </li>
              )}
            </For>
          </ol>
        )}
      </Match>
      <Match when={props.item.kind === "tool" && props.item}>
        {(i) => (
          <div class="turn-tool" data-status={i().status}>
            <span class="turn-tool-kind">{i().toolKind}</span> {i().title}
            <span class="turn-tool-status">{i().status}</span>
            <Show when={i().text}>
              <pre>{i().text}</pre>
            </Show>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "command" && props.item}>
        {(i) => (
          <div class="turn-command">
            <div class="turn-command-line">
              <code>$ {[i().command, ...i().args].join(" ")}</code>
              <Show when={i().sandbox !== "none"}>
                <span class="badge">{i().sandbox}</span>
              </Show>
              <Show when={i().exit}>
                {(x) => <span class="muted">exit {x().exitCode ?? x().signal}</span>}
              </Show>
            </div>
            <pre data-testid="command-output">{i().output}</pre>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "file" && props.item}>
        {(i) => (
          <div class="turn-file">
            <div class="turn-file-head">
              <code>{i().path}</code>
              <span class="muted">{i().before === null ? "new file" : "edited"}</span>
              <Show when={props.turn.reverted?.includes(i().path)}>
                <span class="badge" data-testid="file-reverted">
                  reverted
                </span>
              </Show>
              <Show
                when={
                  !i().truncated &&
                  turnEnded(props.turn.status) &&
                  !props.turn.reverted?.includes(i().path)
                }
              >
                <button
                  type="button"
                  class="link-button"
                  onClick={() => void agents.revert(props.turn.turn, i().path)}
                >
                  Revert
                </button>
              </Show>
            </div>
            <pre class="turn-diff">
              <For each={lineDiff(i().before ?? "", i().after)}>
                {(l) =>
                  l.kind === "fold" ? (
                    <div class="diff-fold">… {l.count} unchanged lines</div>
                  ) : (
                    <div class={`diff-${l.kind}`}>
                      {l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "} {l.text}
                    </div>
                  )
                }
              </For>
            </pre>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "permission" && props.item}>
        {(i) => (
          <div class="turn-permission" data-testid="permission">
            <span>Permission: {i().title}</span>
            <Show
              when={i().answer === undefined && props.turn.status === "running"}
              fallback={
                <span class="muted">
                  {i().answer ?? "not answered"}
                  {i().by && i().by !== "user" ? ` (${i().by})` : ""}
                </span>
              }
            >
              <For each={i().options}>
                {(o) => (
                  <button
                    type="button"
                    class="button"
                    data-kind={o.kind}
                    onClick={() => void agents.answer(props.turn.turn, i().request, o.optionId)}
                  >
                    {o.name}
                  </button>
                )}
              </For>
            </Show>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "notice" && props.item}>
        {(i) => (
          <div class="turn-notice" data-level={i().level}>
            {i().text}
          </div>
        )}
      </Match>
    </Switch>
  );
}

function Composer(props: { onSent: () => void }) {
  const agents = useAgents();
  const [text, setText] = createSignal("");
  const [images, setImages] = createSignal<string[]>([]);
  const [busy, setBusy] = createSignal(false);
  const [note, setNote] = createSignal<string>();

  const addFiles = async (files: File[]) => {
    for (const f of files.filter((f) => f.type.startsWith("image/"))) {
      const ext = f.type.split("/")[1]?.replace("jpeg", "jpg") ?? "png";
      const name = `paste-${Date.now().toString(36)}.${ext}`;
      try {
        setNote(`saving ${name}…`);
        const path = await agents.saveImage(f, name);
        setImages([...images(), path]);
        setNote(undefined);
      } catch (err) {
        setNote(err instanceof Error ? err.message : String(err));
      }
    }
  };
  const send = async () => {
    if (busy() || (text().trim() === "" && images().length === 0)) return;
    setBusy(true);
    const reply = await agents.submit(text(), images());
    setBusy(false);
    if (reply.ok) {
      setText("");
      setImages([]);
      props.onSent();
    }
  };
  return (
    <form
      class="composer"
      data-testid="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void addFiles([...(e.dataTransfer?.files ?? [])]);
      }}
    >
      <Show when={images().length > 0}>
        <div class="composer-images">
          <For each={images()}>
            {(p) => (
              <span class="badge">
                {p.split("/").pop()}
                <button
                  type="button"
                  class="link-button"
                  aria-label="Remove image"
                  onClick={() => setImages(images().filter((x) => x !== p))}
                >
                  ×
                </button>
              </span>
            )}
          </For>
        </div>
      </Show>
      <textarea
        data-testid="composer-input"
        placeholder="Ask the agent (markdown; paste or drop images). Ctrl+Enter sends."
        value={text()}
        onInput={(e) => setText(e.currentTarget.value)}
        onPaste={(e) => {
          const files = [...(e.clipboardData?.files ?? [])];
          if (files.length > 0) {
            e.preventDefault();
            void addFiles(files);
          }
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <div class="composer-actions">
        <span class="muted">{note()}</span>
        <button type="submit" class="button primary" data-testid="submit" disabled={busy()}>
          Send
        </button>
      </div>
    </form>
  );
}

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

function ThreadSettingsForm(props: { onDone: () => void }) {
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
  const [keyName, setKeyName] = createSignal("OPENAI_API_KEY");
  const [keyValue, setKeyValue] = createSignal("");
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
      <fieldset class="wide agents-keys">
        <legend>API keys (stored 0600 on this machine; given to agents by environment)</legend>
        <p class="muted">Set: {agents.keyNames().join(", ") || "none"}</p>
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
            void agents.setKey(keyName(), keyValue());
            setKeyValue("");
          }}
        >
          Store key
        </button>
      </fieldset>
    </form>
  );
}
