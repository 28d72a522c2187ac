/**
 * The history of a notebook: its versions (every event of its stream), newest first, a page
 * at a time; a past version's cells; and restore (RestoreNotebook: the service makes that
 * version again as new changes, so a restore is one more version). The stream is read once
 * when the panel opens, and again on Refresh.
 */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import { randomId } from "../../../shared/base64url.js";
import { EventRegistry } from "../../../shared/envelope.js";
import {
  type NotebookEvent,
  type NotebookStreamEvent,
  NotebookStreamEvents,
} from "../../../shared/notebook-doc.js";
import { evolveNotebook, type NotebookState } from "../../../shared/notebook-fold.js";
import { NotebookPartJoiner } from "../../../shared/notebook-parts.js";
import { docSubjects, ServiceNames, Streams } from "../../../shared/subjects.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { messageOf } from "../lib/delay.js";
import { openReader } from "../lib/stream-reader.js";
import { useConnection } from "../stores/connection-store.js";

const registry = new EventRegistry<NotebookStreamEvent>(NotebookStreamEvents);
const PAGE = 100;
/** Cells of a past version shown at most. */
const CELLS_SHOWN = 300;

interface Version {
  seq: number;
  at: string;
  actor: string;
  event: NotebookEvent;
}

function describe(e: NotebookEvent): string {
  switch (e.type) {
    case "NotebookOpened":
      return "opened";
    case "CellPatched":
      return e.data.source === "disk"
        ? `cell ${e.data.id} changed on disk`
        : e.data.source === "revert"
          ? `cell ${e.data.id} restored`
          : `cell ${e.data.id} edited`;
    case "CellsInserted":
      return `${e.data.cells.length} cell${e.data.cells.length === 1 ? "" : "s"} inserted`;
    case "CellsDeleted":
      return `${e.data.ids.length} cell${e.data.ids.length === 1 ? "" : "s"} deleted`;
    case "CellMoved":
      return `cell ${e.data.id} moved`;
    case "CellTypeChanged":
      return `cell ${e.data.id} made ${e.data.cell_type}`;
    case "CellSplit":
      return `cell ${e.data.id} split`;
    case "CellsMerged":
      return `cells ${e.data.id} and ${e.data.next} merged`;
    case "OutputsSet":
      return e.data.outputs === "[]"
        ? `outputs of ${e.data.id} cleared`
        : `outputs of ${e.data.id}`;
    case "OutputsAppended":
      return `output of ${e.data.id}`;
    case "CellMetadataSet":
      return `metadata of ${e.data.id}`;
    case "NotebookMetadataSet":
      return "notebook metadata";
    default:
      return "change";
  }
}

async function readAll(conn: WorkspaceConnection, doc: string): Promise<Version[]> {
  const nc = await conn.ready();
  if (!nc) return [];
  const reader = await openReader(nc, {
    ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
    ...(conn.readers && { slots: conn.readers }),
    ...(conn.makeReader && { make: conn.makeReader }),
    stream: Streams.WS_DOCS,
    filter: docSubjects(conn.wsid, doc).patches,
    from: { seq: 1 },
    prefix: "nbh",
  });
  const out: Version[] = [];
  try {
    if ((await reader.pending()) === 0) return out;
    // An event stored in parts is one version, at its last part.
    const joiner = new NotebookPartJoiner();
    for await (const m of reader.messages) {
      const event = joiner.push(registry.parse(m.data));
      if (event) out.push({ seq: m.seq, at: event.at, actor: event.actor, event });
      if (m.info.pending === 0) break;
    }
  } finally {
    reader.release();
  }
  return out;
}

export function NotebookHistory(props: { path: string; doc: string; close(): void }) {
  const conn = useConnection();
  const [versions, setVersions] = createSignal<Version[]>([]);
  const [loading, setLoading] = createSignal(true);
  const [problem, setProblem] = createSignal<string>();
  const [selected, setSelected] = createSignal<number>();
  const [page, setPage] = createSignal(0);
  let stopped = false;
  onCleanup(() => {
    stopped = true;
  });
  const load = async () => {
    setLoading(true);
    try {
      const v = await readAll(conn, props.doc);
      if (!stopped) setVersions(v);
      setProblem(undefined);
    } catch (err) {
      setProblem(messageOf(err));
    } finally {
      setLoading(false);
    }
  };
  void load();
  const newestFirst = createMemo(() => versions().slice().reverse());
  const pageItems = () => newestFirst().slice(page() * PAGE, (page() + 1) * PAGE);
  const pages = () => Math.max(1, Math.ceil(versions().length / PAGE));
  const shown = createMemo((): NotebookState | undefined => {
    const seq = selected();
    if (seq === undefined) return undefined;
    let state: NotebookState | undefined;
    for (const v of versions()) {
      if (v.seq > seq) break;
      state = evolveNotebook(state, v.event);
    }
    return state;
  });
  const restore = async () => {
    const seq = selected();
    if (seq === undefined) return;
    const r = await sendCommand(conn, ServiceNames.docs, "RestoreNotebook", {
      path: props.path,
      seq,
      client: `h${randomId().slice(0, 12)}`,
      pid: `r${randomId().slice(0, 12)}`,
    });
    if (!r.ok) setProblem(r.error.message);
    else void load();
  };
  return (
    <aside class="nb-history" data-testid="nb-history">
      <header class="nb-history-head">
        <strong>History</strong>
        <span class="muted" data-testid="nb-history-count">
          {loading() ? "reading…" : `${versions().length} versions`}
        </span>
        <span class="spacer" />
        <button type="button" class="icon-button" onClick={() => void load()}>
          Refresh
        </button>
        <button type="button" class="icon-button" onClick={() => props.close()}>
          Close
        </button>
      </header>
      <Show when={problem()}>
        <div class="nb-notice nb-problem" role="alert">
          {problem()}
        </div>
      </Show>
      <ol class="nb-versions">
        <For each={pageItems()}>
          {(v) => (
            <li>
              <button
                type="button"
                class="nb-version"
                data-testid="nb-version"
                data-seq={v.seq}
                data-selected={selected() === v.seq ? "true" : undefined}
                onClick={() => setSelected(v.seq)}
              >
                <span>{describe(v.event)}</span>
                <span class="muted">
                  {new Date(v.at).toLocaleString()} · {v.actor}
                </span>
              </button>
            </li>
          )}
        </For>
      </ol>
      <Show when={pages() > 1}>
        <div class="nb-history-pages">
          <button
            type="button"
            class="icon-button"
            disabled={page() === 0}
            onClick={() => setPage(page() - 1)}
          >
            Newer
          </button>
          <span class="muted">
            page {page() + 1} of {pages()}
          </span>
          <button
            type="button"
            class="icon-button"
            disabled={page() + 1 >= pages()}
            onClick={() => setPage(page() + 1)}
          >
            Older
          </button>
        </div>
      </Show>
      <Show when={shown()}>
        {(st) => (
          <div class="nb-history-version" data-testid="nb-history-version">
            <div class="nb-history-actions">
              <span class="muted">
                {st().nb.cells.length} cells at version {selected()}
              </span>
              <button
                type="button"
                class="icon-button"
                data-testid="nb-restore"
                onClick={() => void restore()}
              >
                Restore this version
              </button>
            </div>
            <For each={st().nb.cells.slice(0, CELLS_SHOWN)}>
              {(c) => (
                <div class="nb-history-cell" data-type={c.cell_type} data-id={c.id}>
                  <span class="muted">{c.cell_type}</span>
                  <pre data-testid="nb-history-cell">{c.source}</pre>
                </div>
              )}
            </For>
            <Show when={st().nb.cells.length > CELLS_SHOWN}>
              <div class="muted">and {st().nb.cells.length - CELLS_SHOWN} more cells</div>
            </Show>
          </div>
        )}
      </Show>
    </aside>
  );
}
