/**
 * A text file too large for the editor, shown read-only with virtual scrolling. The file is
 * never held in the page: one streamed pass counts its lines and notes where every
 * BLOCK_LINES-th line starts (showing its progress, and the lines counted so far meanwhile);
 * the lines on screen are then read by Range requests of their blocks, a few blocks cached.
 * Past what a browser can scroll natively, the scroll bar maps onto lines proportionally.
 */
import {
  createEffect,
  createMemo,
  createSignal,
  For,
  type JSX,
  onCleanup,
  onMount,
  Show,
} from "solid-js";
import { formatSize, reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import {
  BLOCK_LINES,
  blockLines,
  findLine,
  LineIndex,
  looksBinary,
  SNIFF_BYTES,
} from "./line-index.js";
import "./viewers.css";

/** The most one block reads; lines beyond it (very long lines) are not shown. */
const MAX_BLOCK_BYTES = 1024 * 1024;
const ROW = 18;
/** Taller than this, the scroll bar maps onto lines proportionally (browsers cap heights). */
const MAX_SCROLL_PX = 8_000_000;
const CACHED_BLOCKS = 64;
const PARALLEL_READS = 4;
const OVERSCAN = 20;
const RELOAD_SETTLE_MS = 500;

export interface LargeTextViewerProps {
  path: string;
  shown: string;
  /** The editor's limit, for the banner. */
  limit: number;
  readStream: (
    path: string,
    signal: AbortSignal,
  ) => Promise<{ size: number | null; body: ReadableStream<Uint8Array> }>;
  readRange: (path: string, start: number, end: number, signal: AbortSignal) => Promise<Uint8Array>;
  watch: (path: string, changed: () => void) => () => void;
  onDownload: () => void;
  /** More toolbar buttons. */
  toolbar?: JSX.Element;
}

/** The lines of a block; null where a line lies past what the block read. */
type Block = (string | null)[];
export function LargeTextViewer(props: LargeTextViewerProps) {
  const [lines, setLines] = createSignal(0);
  const [size, setSize] = createSignal<number | null>(null);
  const [indexed, setIndexed] = createSignal(0);
  const [done, setDone] = createSignal(false);
  const [error, setError] = createSignal<string>();
  /** The file is not text after all (only its size said it was too large to edit). */
  const [binary, setBinary] = createSignal(false);
  const [version, setVersion] = createSignal(0);
  const [top, setTop] = createSignal(0);
  const [height, setHeight] = createSignal(600);
  let scroller!: HTMLDivElement;
  let index = new LineIndex();
  let run: AbortController | undefined;
  const cache = new Map<number, Block>();
  const reading = new Set<number>();
  let wanted: number[] = [];

  async function build() {
    run?.abort();
    const mine = new AbortController();
    run = mine;
    const next = new LineIndex();
    index = next;
    cache.clear();
    reading.clear();
    setDone(false);
    setBinary(false);
    setIndexed(0);
    setError(undefined);
    try {
      const { size: total, body } = await props.readStream(props.path, mine.signal);
      setSize(total);
      const reader = body.getReader();
      let sniffed = 0;
      for (;;) {
        const { done: end, value } = await reader.read();
        if (mine.signal.aborted) {
          void reader.cancel();
          return;
        }
        if (end) break;
        if (sniffed < SNIFF_BYTES) {
          const sample = value.subarray(0, SNIFF_BYTES - sniffed);
          sniffed += sample.length;
          if (looksBinary(sample)) {
            void reader.cancel();
            setBinary(true);
            return;
          }
        }
        next.feed(value);
        setIndexed(next.bytes);
        setLines(next.lines);
        setVersion((v) => v + 1);
      }
      next.finish();
      setSize(next.bytes);
      setLines(next.lines);
      setDone(true);
      setVersion((v) => v + 1);
    } catch (err) {
      if (!mine.signal.aborted) setError(reasonOf(String((err as Error)?.message ?? err)));
    }
  }

  /** Reads the blocks of the lines on screen, a few at a time, nearest first. */
  function pump() {
    const idx = index;
    for (const k of wanted) {
      if (reading.size >= PARALLEL_READS) return;
      if (cache.has(k) || reading.has(k)) continue;
      const range = idx.blockRange(k);
      if (!range) continue;
      const { start, end } = range;
      const signal = run!.signal;
      reading.add(k);
      const cut = end - start > MAX_BLOCK_BYTES;
      props
        .readRange(props.path, start, cut ? start + MAX_BLOCK_BYTES : end, signal)
        .then((bytes) => {
          if (index !== idx) return;
          const block = blockLines(bytes, cut);
          cache.set(k, block);
          while (cache.size > CACHED_BLOCKS) cache.delete(cache.keys().next().value!);
          setVersion((v) => v + 1);
        })
        .catch((err) => {
          if (!signal.aborted) setError(reasonOf(String((err as Error)?.message ?? err)));
        })
        .finally(() => {
          reading.delete(k);
          if (index === idx) pump();
        });
    }
  }

  const natural = () => lines() * ROW;
  const scaled = () => natural() > MAX_SCROLL_PX;
  const total = () => Math.min(natural(), MAX_SCROLL_PX) + ROW;
  const visible = () => Math.ceil(height() / ROW) + 1;
  /** The first line when scrolled to the end: the last lines fill the pane exactly. */
  const maxFirst = () => Math.max(0, lines() - Math.floor(height() / ROW));
  const first = createMemo(() => {
    if (!scaled()) return Math.min(Math.floor(top() / ROW), maxFirst());
    const range = total() - height();
    return range <= 0 ? 0 : Math.min(maxFirst(), Math.round((top() / range) * maxFirst()));
  });
  const shownLines = createMemo(() => {
    const from = Math.max(0, first() - (scaled() ? 0 : OVERSCAN));
    const to = Math.min(lines(), first() + visible() + (scaled() ? 0 : OVERSCAN));
    const out: number[] = [];
    for (let i = from; i < to; i++) out.push(i);
    return out;
  });
  /** Where the first shown row is drawn, in the scroller's content. */
  const windowTop = () => (scaled() ? top() : (shownLines()[0] ?? 0) * ROW);

  createEffect(() => {
    version();
    const ls = shownLines();
    if (ls.length === 0) return;
    const a = Math.floor(ls[0]! / BLOCK_LINES);
    const b = Math.floor(ls[ls.length - 1]! / BLOCK_LINES);
    const centre = Math.floor(first() / BLOCK_LINES);
    const ks: number[] = [];
    for (let k = a; k <= b; k++) ks.push(k);
    wanted = ks.sort((x, y) => Math.abs(x - centre) - Math.abs(y - centre));
    pump();
  });

  const lineText = (i: number): string | null | undefined => {
    version();
    return cache.get(Math.floor(i / BLOCK_LINES))?.[i % BLOCK_LINES];
  };

  function goToLine(n: number) {
    const line = Math.min(Math.max(1, n), Math.max(1, lines())) - 1;
    if (!scaled()) scroller.scrollTop = line * ROW;
    else
      scroller.scrollTop =
        (Math.min(line, maxFirst()) / Math.max(1, maxFirst())) * (total() - height());
  }

  onMount(() => {
    setHeight(scroller.clientHeight);
    void build();
  });
  const resize = new ResizeObserver(() => setHeight(scroller.clientHeight || 600));
  onMount(() => resize.observe(scroller));
  let settle: ReturnType<typeof setTimeout> | undefined;
  const stopWatch = props.watch(props.path, () => {
    clearTimeout(settle);
    settle = setTimeout(() => void build(), RELOAD_SETTLE_MS);
  });
  onCleanup(() => {
    run?.abort();
    searchRun?.abort();
    resize.disconnect();
    clearTimeout(settle);
    stopWatch();
  });

  /** The line of the last match (0-based), what the search says, and its progress. */
  const [match, setMatch] = createSignal<number>();
  const [searchNote, setSearchNote] = createSignal<string>();
  let searchRun: AbortController | undefined;

  /** The next line holding `needle` after the last match (or the top line), wrapping once. */
  async function findNext(needle: string) {
    if (!needle || !done()) return;
    searchRun?.abort();
    const mine = new AbortController();
    searchRun = mine;
    const idx = index;
    const size = idx.bytes;
    const read = (start: number, end: number) =>
      props.readRange(props.path, start, end, mine.signal);
    const progress = (byte: number) =>
      setSearchNote(`Searching… ${Math.floor((byte / Math.max(1, size)) * 100)}%`);
    const after = (match() ?? first() - 1) + 1;
    const k = Math.floor(after / BLOCK_LINES);
    const from = { byte: idx.blockRange(k)?.start ?? size, line: k * BLOCK_LINES };
    setSearchNote("Searching…");
    try {
      let line = await findLine(read, {
        from,
        first: after,
        size,
        needle,
        progress,
        signal: mine.signal,
      });
      let wrapped = false;
      if (line === undefined && !mine.signal.aborted) {
        wrapped = true;
        line = await findLine(read, {
          from: { byte: 0, line: 0 },
          before: after,
          size,
          needle,
          progress,
          signal: mine.signal,
        });
      }
      if (mine.signal.aborted || index !== idx) return;
      if (line === undefined) {
        setSearchNote("Not found");
        return;
      }
      setMatch(line);
      setSearchNote(`Line ${(line + 1).toLocaleString()}${wrapped ? " (from the top)" : ""}`);
      goToLine(line + 1);
    } catch (err) {
      if (!mine.signal.aborted) setSearchNote(reasonOf(String((err as Error)?.message ?? err)));
    }
  }

  const digits = () => String(Math.max(1, lines())).length;

  return (
    <Show
      when={!binary()}
      fallback={
        <div class="doc-binary" data-testid="doc-binary">
          <p>
            {props.shown} is not text ({formatSize(size() ?? 0)}). Download it to open it with
            another program.
          </p>
          <button type="button" class="button" onClick={() => props.onDownload()}>
            Download
          </button>
        </div>
      }
    >
      <div
        class="viewer"
        data-testid="large-text-viewer"
        data-lines={lines()}
        data-done={done() ? "true" : undefined}
      >
        <div class="large-text-banner" role="status" data-testid="large-text-banner">
          <WarnIcon size={14} />
          <span>
            Read-only: {props.shown} is {formatSize(size() ?? 0)}, more than the editor's{" "}
            {formatSize(props.limit)}.
          </span>
          <button type="button" class="button" onClick={() => props.onDownload()}>
            Download
          </button>
        </div>
        <div class="doc-toolbar">
          <span class="viewer-info" data-testid="large-text-info">
            {done()
              ? `${lines().toLocaleString()} lines`
              : `Counting lines… ${formatSize(indexed())}${size() ? ` of ${formatSize(size()!)}` : ""} · ${lines().toLocaleString()} so far`}
          </span>
          <Show when={error()}>
            <span class="doc-problem" role="alert" data-testid="large-text-error">
              <WarnIcon size={12} /> {error()}
            </span>
          </Show>
          <span class="spacer" />
          {props.toolbar}
          <input
            type="search"
            class="large-text-search"
            aria-label="Find in the file"
            placeholder="Find"
            data-testid="large-text-search"
            disabled={!done()}
            onInput={() => {
              searchRun?.abort();
              setMatch(undefined);
              setSearchNote(undefined);
            }}
            onKeyDown={(e) => {
              if (e.key !== "Enter") return;
              e.preventDefault();
              void findNext(e.currentTarget.value);
            }}
          />
          <span class="viewer-info" data-testid="large-text-found" role="status">
            {searchNote() ?? ""}
          </span>
          <input
            class="large-text-goto"
            aria-label="Go to line"
            placeholder="Go to line"
            inputMode="numeric"
            data-testid="large-text-goto"
            onKeyDown={(e) => {
              if (e.key !== "Enter") return;
              const n = Number.parseInt(e.currentTarget.value, 10);
              if (Number.isFinite(n)) goToLine(n);
            }}
          />
        </div>
        <div
          class="large-text-pane"
          ref={scroller}
          data-testid="large-text-pane"
          onScroll={() => setTop(scroller.scrollTop)}
        >
          <div class="large-text-sizer" style={{ height: `${total()}px` }} />
          <div
            class="large-text-window"
            // Scaled, the window rides at the scroll position: it must not make the pane taller.
            style={{
              transform: `translateY(${windowTop()}px)`,
              ...(scaled() ? { height: `${height()}px`, overflow: "hidden" } : {}),
            }}
          >
            <For each={shownLines()}>
              {(i) => {
                const text = () => lineText(i);
                return (
                  <div
                    class="large-text-line"
                    data-line={i + 1}
                    data-match={match() === i ? "true" : undefined}
                  >
                    <span class="large-text-number" style={{ width: `${digits() + 1}ch` }}>
                      {i + 1}
                    </span>
                    <span
                      class="large-text-content"
                      data-pending={text() === undefined ? "true" : undefined}
                    >
                      {text() === null ? "… (a line too long to show here)" : (text() ?? "")}
                    </span>
                  </div>
                );
              }}
            </For>
          </div>
        </div>
      </div>
    </Show>
  );
}
