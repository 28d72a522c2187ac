/**
 * The history of a document: its versions, newest first, a page at a time (older pages are
 * read when asked for), a past version's text and its diff to now, and revert (an ordinary
 * edit, so it can be undone). The history store reads the stream; this only shows it.
 */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import { readableDiff } from "../../../shared/docs.js";
import { messageOf } from "../lib/delay.js";
import { useConnection } from "../stores/connection-store.js";
import { createHistoryStore, HISTORY_PAGE } from "./history-store.js";

const SOURCE_LABEL: Record<string, string> = {
  user: "edit",
  disk: "changed on disk",
  revert: "revert",
  opened: "opened",
  "history start": "oldest kept",
};

export function HistoryPanel(props: {
  doc: string;
  path: string;
  current: () => string;
  revert(text: string): void;
  close(): void;
}) {
  const history = createHistoryStore(useConnection(), props.doc);
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
          <For each={pageItems()}>
            {(v) => (
              <li>
                <button
                  type="button"
                  class="history-item"
                  data-testid="history-version"
                  data-seq={v.seq}
                  aria-pressed={selected() === v.seq}
                  onClick={() => setSelected(v.seq)}
                >
                  <span class="mono">#{v.number}</span>
                  <span>{new Date(v.at).toLocaleString()}</span>
                  <span class="muted">{SOURCE_LABEL[v.source] ?? v.source}</span>
                </button>
              </li>
            )}
          </For>
        </ol>
        <Show when={shownText() !== undefined}>
          <div class="history-show">
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
