/**
 * The history of a document: its versions, newest first, a page at a time (older pages are
 * read when asked for), in groups of one author's sitting (history-groups.ts) that open to
 * show each version; a past version's text and its diff to now, revert (an ordinary edit,
 * so it can be undone), and a name for a version. The history store reads the stream; this
 * only shows it.
 */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import { readableDiff } from "../../../shared/docs.js";
import { messageOf } from "../lib/delay.js";
import { pageAccount } from "../lib/page-person.js";
import { useConnection } from "../stores/connection-store.js";
import { type PresenceStore, usePresence } from "../stores/presence-store.js";
import { groupVersions } from "./history-groups.js";
import { createHistoryStore, HISTORY_PAGE, type HistoryVersion } from "./history-store.js";

const SOURCE_LABEL: Record<string, string> = {
  user: "edit",
  disk: "changed on disk",
  revert: "revert",
  opened: "opened",
  "history start": "oldest kept",
};

/**
 * Who made a version, in the page's words: "you" for plus's one user and this page's own
 * account, a hosted workspace's member by name, "on disk" for changes on disk.
 */
function authorLabel(
  v: HistoryVersion,
  me: string | undefined,
  nameOf: (account: string) => string | undefined,
): string {
  if (v.source === "disk") return "on disk";
  if (v.source === "history start") return "";
  if (v.author === "user" || v.author === "" || v.author === me) return "you";
  return nameOf(v.author) ?? v.author;
}

const time = (at: string) =>
  new Date(at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
const day = (at: string) => new Date(at).toLocaleDateString();

/** `10:01–10:04, 3/12/2026`: when a group's versions were made. */
function spanOf(versions: readonly HistoryVersion[]): string {
  const newest = versions[0]!.at;
  const oldest = versions[versions.length - 1]!.at;
  const t = time(oldest) === time(newest) ? time(newest) : `${time(oldest)}–${time(newest)}`;
  return `${t}, ${day(newest)}`;
}

export function HistoryPanel(props: {
  doc: string;
  path: string;
  current: () => string;
  revert(text: string): void;
  close(): void;
}) {
  const conn = useConnection();
  const history = createHistoryStore(conn, props.doc, props.path);
  let presence: PresenceStore | undefined;
  try {
    presence = usePresence();
  } catch {
    // Shown without the workspace's people: authors are named by their accounts.
  }
  const me = pageAccount(conn);
  const author = (v: HistoryVersion) =>
    authorLabel(v, me, (account) => presence?.personOf(account)?.name);
  onCleanup(() => history.stop());
  const [selected, setSelected] = createSignal<number>();
  /** 0 is the newest page. */
  const [page, setPage] = createSignal(0);
  const [showDiff, setShowDiff] = createSignal(true);

  const shown = createMemo((): { text?: string; problem?: string } => {
    const seq = selected();
    if (seq === undefined) return {};
    try {
      return { text: history.textOf(seq) };
    } catch (err) {
      return { problem: messageOf(err) };
    }
  });
  const shownText = () => shown().text;
  const diff = createMemo(() => {
    const t = shownText();
    return t === undefined ? [] : readableDiff(t, props.current());
  });
  const pageItems = () =>
    history.versions().slice(page() * HISTORY_PAGE, (page() + 1) * HISTORY_PAGE);
  const groups = createMemo(() => groupVersions(pageItems()));
  /** The groups shown open, by key. */
  const [open, setOpen] = createSignal<ReadonlySet<number>>(new Set());
  const toggle = (key: number) => {
    const next = new Set(open());
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setOpen(next);
  };
  const selectedVersion = () => history.versions().find((v) => v.seq === selected());
  const [naming, setNaming] = createSignal("");
  const [nameProblem, setNameProblem] = createSignal<string>();
  const [savingName, setSavingName] = createSignal(false);
  const select = (v: HistoryVersion) => {
    setSelected(v.seq);
    setNaming(v.name ?? "");
    setNameProblem(undefined);
  };
  const saveName = async (e: Event) => {
    e.preventDefault();
    const v = selectedVersion();
    if (!v || savingName()) return;
    setSavingName(true);
    setNameProblem(await history.nameVersion(v.seq, naming()));
    setSavingName(false);
  };
  const item = (v: HistoryVersion, extra?: { count: number; span: string }) => (
    <button
      type="button"
      class="history-item"
      data-testid="history-version"
      data-seq={v.seq}
      data-name={v.name}
      aria-pressed={selected() === v.seq}
      onClick={() => select(v)}
    >
      <span class="mono">#{v.number}</span>
      <span class="history-when">
        <Show when={v.name}>
          <strong class="history-name" data-testid="history-name">
            {v.name}
          </strong>
        </Show>
        <span>{extra ? extra.span : new Date(v.at).toLocaleString()}</span>
      </span>
      <span class="muted">
        {extra && extra.count > 1
          ? `${author(v)} · ${extra.count} ${v.source === "disk" ? "changes" : "edits"}`
          : [author(v), SOURCE_LABEL[v.source] ?? v.source].filter(Boolean).join(" · ")}
      </span>
    </button>
  );
  const pages = () => Math.max(1, Math.ceil(history.total() / HISTORY_PAGE));
  const older = async () => {
    await history.load((page() + 2) * HISTORY_PAGE);
    setPage(page() + 1);
  };

  return (
    <aside class="history-panel" data-testid="history-panel">
      <header class="history-head">
        <strong>History</strong>
        <span class="muted" data-testid="history-count" data-read={history.versions().length}>
          {history.total()} versions
        </span>
        <span class="spacer" />
        <button type="button" class="icon-button" onClick={() => props.close()}>
          Close
        </button>
      </header>
      <Show when={!history.loading()} fallback={<p class="loading">Reading history…</p>}>
        <Show when={history.problem() ?? shown().problem}>
          {(problem) => <p class="doc-problem">{problem()}</p>}
        </Show>
        <div class="history-pager">
          <button
            type="button"
            class="icon-button"
            data-testid="history-older"
            disabled={page() >= pages() - 1}
            onClick={() => void older()}
          >
            Older
          </button>
          <span class="muted">
            page {page() + 1} of {pages()}
          </span>
          <button
            type="button"
            class="icon-button"
            disabled={page() === 0}
            onClick={() => setPage(page() - 1)}
          >
            Newer
          </button>
        </div>
        <ol class="history-list" data-testid="history-list">
          <For each={groups()}>
            {(g) => (
              <li
                class="history-group"
                data-testid="history-group"
                data-count={g.versions.length}
                data-author={g.author}
                data-open={open().has(g.key) ? "true" : "false"}
              >
                <div class="history-group-head">
                  <Show
                    when={g.versions.length > 1}
                    fallback={<span class="history-toggle-space" />}
                  >
                    <button
                      type="button"
                      class="history-toggle"
                      data-testid="history-group-toggle"
                      aria-expanded={open().has(g.key)}
                      aria-label={`${open().has(g.key) ? "Hide" : "Show"} the ${g.versions.length} versions`}
                      onClick={() => toggle(g.key)}
                    >
                      {open().has(g.key) ? "▾" : "▸"}
                    </button>
                  </Show>
                  {item(g.versions[0]!, { count: g.versions.length, span: spanOf(g.versions) })}
                </div>
                <Show when={open().has(g.key)}>
                  <ol class="history-group-versions">
                    <For each={g.versions.slice(1)}>{(v) => <li>{item(v)}</li>}</For>
                  </ol>
                </Show>
              </li>
            )}
          </For>
        </ol>
        <Show when={shownText() !== undefined}>
          <div class="history-show">
            <form class="history-actions history-naming" onSubmit={saveName}>
              <input
                class="history-name-input"
                data-testid="history-name-input"
                placeholder="Name this version"
                aria-label="Name of this version"
                maxLength={80}
                value={naming()}
                onInput={(e) => {
                  setNaming(e.currentTarget.value);
                  setNameProblem(undefined);
                }}
              />
              <button
                type="submit"
                class="icon-button"
                data-testid="history-name-save"
                disabled={savingName() || naming().trim() === (selectedVersion()?.name ?? "")}
              >
                {naming().trim() === "" && selectedVersion()?.name ? "Remove name" : "Save name"}
              </button>
              <Show when={nameProblem()}>
                <span class="doc-problem" role="alert" data-testid="history-name-error">
                  {nameProblem()}
                </span>
              </Show>
            </form>
            <div class="history-actions">
              <button
                type="button"
                class="icon-button"
                aria-pressed={showDiff()}
                onClick={() => setShowDiff(!showDiff())}
              >
                {showDiff() ? "Show text" : "Show diff to now"}
              </button>
              <button
                type="button"
                class="button"
                data-testid="history-revert"
                onClick={() => props.revert(shownText()!)}
              >
                Revert to this version
              </button>
            </div>
            <pre class="history-text" data-testid="history-text">
              <Show when={showDiff()} fallback={shownText()}>
                <For each={diff()}>
                  {([op, text]) =>
                    op === 0 ? (
                      <span>{text}</span>
                    ) : op === -1 ? (
                      <del class="diff-del">{text}</del>
                    ) : (
                      <ins class="diff-ins">{text}</ins>
                    )
                  }
                </For>
              </Show>
            </pre>
          </div>
        </Show>
      </Show>
    </aside>
  );
}
