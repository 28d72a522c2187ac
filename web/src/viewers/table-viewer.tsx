/**
 * A CSV or TSV file as a table: rows and columns both virtualised (a file of a million rows
 * has a screenful of cells in the page), the first row as the header (a toggle), row numbers,
 * and the raw text one click away. Reloads when the file changes on disk, keeping the scroll.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createSignal, For, type JSX, onCleanup, onMount, Show } from "solid-js";
import { extensionOf } from "../../../shared/paths.js";
import { formatSize, reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import { MAX_TABLE_BYTES, MAX_TABLE_ROWS, type ParsedTable, parseTable } from "./table-parse.js";
import "./viewers.css";

const ROW_HEIGHT = 26;
const NUMBER_WIDTH = 64;
const CHAR_WIDTH = 7.5;
const MIN_COLUMN = 56;
const MAX_COLUMN = 360;
/** Rows looked at to size the columns. */
const SAMPLE_ROWS = 200;
/** Characters of a cell put in the page (and in its tooltip). */
const MAX_CELL_CHARS = 2_000;
const RELOAD_SETTLE_MS = 300;

export interface TableViewerProps {
  path: string;
  shown: string;
  readStream: (
    path: string,
    signal: AbortSignal,
  ) => Promise<{ size: number | null; body: ReadableStream<Uint8Array> }>;
  watch: (path: string, changed: () => void) => () => void;
  /** Shows the file's text in the editor instead. */
  raw: () => void;
}

function columnName(i: number): string {
  let name = "";
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  }
  return name;
}

/** A cell as one line of the page: cut short, its line breaks shown as ↵. */
function cut(cell: string | undefined): string {
  if (cell === undefined) return "";
  const short = cell.length > MAX_CELL_CHARS ? `${cell.slice(0, MAX_CELL_CHARS)}…` : cell;
  return short.replace(/\r?\n/g, " ↵ ");
}

function widthsOf(t: ParsedTable): number[] {
  const widths: number[] = new Array(t.columns).fill(MIN_COLUMN);
  for (const row of t.rows.slice(0, SAMPLE_ROWS)) {
    for (const [i, cell] of row.entries()) {
      const w = Math.min(MAX_COLUMN, Math.max(MIN_COLUMN, cut(cell).length * CHAR_WIDTH + 16));
      if (w > (widths[i] ?? 0)) widths[i] = w;
    }
  }
  return widths;
}

export function TableViewer(props: TableViewerProps) {
  const tsv = extensionOf(props.path) === "tsv";
  const [table, setTable] = createSignal<ParsedTable>();
  const [widths, setWidths] = createSignal<number[]>([]);
  const [progress, setProgress] = createSignal<{
    phase: "download" | "parse";
    done: number;
    size: number;
  }>();
  /** The file is larger than a table is made of: its size. */
  const [tooLarge, setTooLarge] = createSignal<number>();
  const [error, setError] = createSignal<string>();
  const [header, setHeader] = createSignal(true);
  let abort: AbortController | undefined;
  let scroller!: HTMLDivElement;

  async function load() {
    abort?.abort();
    const mine = new AbortController();
    abort = mine;
    try {
      const { size, body } = await props.readStream(props.path, mine.signal);
      setTooLarge(undefined);
      if (size !== null && size > MAX_TABLE_BYTES) {
        void body.cancel();
        setTooLarge(size);
        return;
      }
      // Downloaded first (with its progress), then parsed (with its own).
      const chunks: Uint8Array[] = [];
      let got = 0;
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.length;
        if (got > MAX_TABLE_BYTES) {
          void reader.cancel();
          setTooLarge(got);
          return;
        }
        setProgress({ phase: "download", done: got, size: size ?? got });
      }
      const blob = new Blob(chunks as BlobPart[]);
      setProgress({ phase: "parse", done: 0, size: blob.size });
      const t = await parseTable(blob, {
        tsv,
        signal: mine.signal,
        progress: (done) => setProgress({ phase: "parse", done, size: blob.size }),
      });
      if (mine.signal.aborted) return;
      setWidths(widthsOf(t));
      setTable(t);
      setError(undefined);
    } catch (err) {
      if (mine.signal.aborted) return;
      setError(reasonOf(String((err as Error)?.message ?? err)));
    } finally {
      if (abort === mine) setProgress(undefined);
    }
  }
  onMount(() => void load());
  let settle: ReturnType<typeof setTimeout> | undefined;
  const stopWatch = props.watch(props.path, () => {
    clearTimeout(settle);
    settle = setTimeout(() => void load(), RELOAD_SETTLE_MS);
  });
  onCleanup(() => {
    abort?.abort();
    clearTimeout(settle);
    stopWatch();
  });

  // The header is row 0 of the rows: an offset, not a copy of a million rows.
  const offset = () => (header() && table() ? 1 : 0);
  const rowCount = () => Math.max(0, (table()?.rows.length ?? 0) - offset());

  const rows = createVirtualizer({
    get count() {
      return rowCount();
    },
    getScrollElement: () => scroller,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const columns = createVirtualizer({
    horizontal: true,
    get count() {
      return table()?.columns ?? 0;
    },
    getScrollElement: () => scroller,
    estimateSize: (i) => widths()[i] ?? MIN_COLUMN,
    overscan: 3,
  });

  const info = (): JSX.Element => {
    const t = table();
    const p = progress();
    if (p && !t) {
      const of = `${formatSize(Math.min(p.done, p.size))} of ${formatSize(p.size)}`;
      return p.phase === "download" ? `Reading… ${of}` : `Parsing… ${of}`;
    }
    if (!t) return "Loading…";
    const parts = [
      `${rowCount().toLocaleString()} rows × ${t.columns.toLocaleString()} columns`,
      t.delimiter === "\t" ? "tab-separated" : `separated by “${t.delimiter}”`,
    ];
    if (t.dropped > 0) {
      parts.push(`only the first ${MAX_TABLE_ROWS.toLocaleString()} rows are shown`);
    }
    if (p) parts.push("reloading…");
    return parts.join(" · ");
  };

  const cellsOf = (rowIndex: number) => table()?.rows[rowIndex + offset()];

  return (
    <div class="viewer" data-testid="table-viewer" data-rows={rowCount()}>
      <div class="doc-toolbar">
        <span class="viewer-info" data-testid="table-info">
          {info()}
        </span>
        <Show when={table()?.problems}>
          <span class="doc-problem" role="status" title={table()?.firstProblem}>
            <WarnIcon size={12} /> {table()?.problems} rows could not be read cleanly
          </span>
        </Show>
        <span class="spacer" />
        <button
          type="button"
          class="icon-button"
          aria-pressed={header()}
          data-testid="table-header-toggle"
          title="Use the first row as the column names"
          onClick={() => setHeader(!header())}
        >
          Header row
        </button>
        <button
          type="button"
          class="icon-button"
          data-testid="table-raw"
          title="Show the file's text"
          onClick={() => props.raw()}
        >
          Raw text
        </button>
      </div>
      <Show when={tooLarge()}>
        {(size) => (
          <div class="doc-binary" data-testid="table-too-large">
            <p>
              {props.shown} is {formatSize(size())}: more than a table is made of (
              {formatSize(MAX_TABLE_BYTES)}). Its text is a click away, read-only.
            </p>
            <button type="button" class="button" onClick={() => props.raw()}>
              Raw text
            </button>
          </div>
        )}
      </Show>
      <Show when={error()}>
        <div class="files-error" role="alert" data-testid="viewer-error">
          <WarnIcon size={28} />
          <h2>Cannot show {props.shown}</h2>
          <p>{error()}</p>
          <div class="files-error-actions">
            <button type="button" class="button" onClick={() => void load()}>
              Try again
            </button>
          </div>
        </div>
      </Show>
      <div class="table-pane" ref={scroller} data-testid="table-pane">
        <div
          class="table-sizer"
          style={{
            width: `${columns.getTotalSize() + NUMBER_WIDTH}px`,
            height: `${rows.getTotalSize() + ROW_HEIGHT}px`,
          }}
        >
          <div class="table-head" style={{ width: `${columns.getTotalSize() + NUMBER_WIDTH}px` }}>
            <div class="table-corner" />
            <For each={columns.getVirtualItems()}>
              {(c) => (
                <div
                  class="table-cell table-head-cell"
                  style={{
                    transform: `translateX(${c.start + NUMBER_WIDTH}px)`,
                    width: `${c.size}px`,
                  }}
                  title={header() ? cut(table()?.rows[0]?.[c.index]) : columnName(c.index)}
                >
                  {header() ? cut(table()?.rows[0]?.[c.index]) : columnName(c.index)}
                </div>
              )}
            </For>
          </div>
          <For each={rows.getVirtualItems()}>
            {(r) => (
              <div
                class="table-row"
                data-testid="table-row"
                data-row={r.index}
                style={{ transform: `translateY(${r.start + ROW_HEIGHT}px)` }}
              >
                <div class="table-number">{(r.index + 1).toLocaleString()}</div>
                <For each={columns.getVirtualItems()}>
                  {(c) => {
                    const text = () => cut(cellsOf(r.index)?.[c.index]);
                    return (
                      <div
                        class="table-cell"
                        style={{
                          transform: `translateX(${c.start + NUMBER_WIDTH}px)`,
                          width: `${c.size}px`,
                        }}
                        title={text().length > 20 ? text() : undefined}
                      >
                        {text()}
                      </div>
                    );
                  }}
                </For>
              </div>
            )}
          </For>
        </div>
      </div>
    </div>
  );
}
