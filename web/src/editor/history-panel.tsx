/**
 * The history of a document: its versions (every stored patch since the oldest text history
 * keeps), a past version's text and its diff to now, and revert (an ordinary edit, so it can
 * be undone). Versions are read from the stream: history is the stream itself.
 */
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import {
  applyPatch,
  type DocSnapshot,
  type DocumentEvent,
  DocumentEvents,
  readableDiff,
} from "../../../shared/docs.js";
import { EventRegistry } from "../../../shared/envelope.js";
import { Buckets, docSubjects, Keys, Streams } from "../../../shared/subjects.js";
import { messageOf } from "../lib/delay.js";
import { openView } from "../lib/views.js";
import { useConnection } from "../stores/connection-store.js";

const registry = new EventRegistry<DocumentEvent>(DocumentEvents);
const SOURCE_LABEL: Record<string, string> = {
  user: "edit",
  disk: "changed on disk",
  revert: "revert",
  opened: "opened",
  "history start": "oldest kept",
};
const PAGE = 100;
/** Texts kept every this many versions, so showing a version applies at most this many patches. */
const CHECKPOINT = 50;

interface Version {
  seq: number;
  at: string;
  source: string;
  /** null: a whole text (the document's creation or history's base). */
  patch: string | null;
  text?: string;
}

export function HistoryPanel(props: {
  doc: string;
  path: string;
  current: () => string;
  revert(text: string): void;
  close(): void;
}) {
  const conn = useConnection();
  const [versions, setVersions] = createSignal<Version[]>([]);
  const [loading, setLoading] = createSignal(true);
  const [problem, setProblem] = createSignal<string>();
  const [selected, setSelected] = createSignal<number>();
  const [page, setPage] = createSignal(0);
  const [showDiff, setShowDiff] = createSignal(true);
  const stopper = new AbortController();
  let stopConsume: (() => void) | undefined;
  onCleanup(() => {
    stopper.abort();
    stopConsume?.();
  });

  void (async () => {
    try {
      const nc = await conn.ready(stopper.signal);
      if (!nc) return;
      const kv = await openView(nc, Buckets.docSnapshots);
      const e = await kv.get(Keys.docSnapshot(conn.wsid, props.doc, "base"));
      const base = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
      const list: Version[] = base
        ? [{ seq: base.seq, at: base.at, source: "history start", patch: null, text: base.text }]
        : [];
      const consumer = await jetstream(nc).consumers.get(Streams.WS_DOCS, {
        filter_subjects: docSubjects(conn.wsid, props.doc).patches,
        deliver_policy: base ? DeliverPolicy.StartSequence : DeliverPolicy.All,
        ...(base && { opt_start_seq: base.seq + 1 }),
      });
      const messages = await consumer.consume();
      stopConsume = () => messages.stop();
      if (stopper.signal.aborted) messages.stop();
      for await (const m of messages) {
        const ev = registry.parse(m.data);
        const at = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
        if (ev.type === "DocumentOpened") {
          list.push({ seq: m.seq, at, source: "opened", patch: null, text: ev.data.text });
        } else {
          list.push({ seq: m.seq, at, source: ev.data.source, patch: ev.data.patch });
        }
        if (m.info.pending === 0) break;
      }
      messages.stop();
      setVersions(list);
      setPage(Math.max(0, Math.ceil(list.length / PAGE) - 1));
    } catch (err) {
      setProblem(messageOf(err));
    } finally {
      setLoading(false);
    }
  })();

  /** The text of version `i` (checkpoints every CHECKPOINT versions). */
  function textAt(i: number): string {
    const list = versions();
    let start = i;
    while (start > 0 && list[start]!.text === undefined) start--;
    let text = list[start]!.text ?? "";
    for (let k = start + 1; k <= i; k++) {
      const v = list[k]!;
      text = v.patch === null ? (v.text ?? "") : applyPatch(text, v.patch);
      if (k % CHECKPOINT === 0 && v.text === undefined) v.text = text;
    }
    return text;
  }

  const shownText = createMemo(() => {
    const i = selected();
    return i === undefined ? undefined : textAt(i);
  });
  const diff = createMemo(() => {
    const t = shownText();
    return t === undefined ? [] : readableDiff(t, props.current());
  });
  const pageItems = () => {
    const list = versions();
    return list
      .slice(page() * PAGE, (page() + 1) * PAGE)
      .map((v, k) => ({ v, i: page() * PAGE + k }))
      .reverse();
  };
  const pages = () => Math.max(1, Math.ceil(versions().length / PAGE));

  return (
    <aside class="history-panel" data-testid="history-panel">
      <header class="history-head">
        <strong>History</strong>
        <span class="muted">{versions().length} versions</span>
        <span class="spacer" />
        <button type="button" class="icon-button" onClick={() => props.close()}>
          Close
        </button>
      </header>
      <Show when={!loading()} fallback={<p class="loading">Reading history…</p>}>
        <Show when={problem()}>
          <p class="doc-problem">{problem()}</p>
        </Show>
        <div class="history-pager">
          <button
            type="button"
            class="icon-button"
            disabled={page() === 0}
            onClick={() => setPage(page() - 1)}
          >
            Older
          </button>
          <span class="muted">
            page {page() + 1} of {pages()}
          </span>
          <button
            type="button"
            class="icon-button"
            disabled={page() >= pages() - 1}
            onClick={() => setPage(page() + 1)}
          >
            Newer
          </button>
        </div>
        <ol class="history-list" data-testid="history-list">
          <For each={pageItems()}>
            {({ v, i }) => (
              <li>
                <button
                  type="button"
                  class="history-item"
                  data-testid="history-version"
                  data-seq={v.seq}
                  aria-pressed={selected() === i}
                  onClick={() => setSelected(i)}
                >
                  <span class="mono">#{i + 1}</span>
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
