/**
 * biome-ignore-all lint/a11y/useSemanticElements: the results are a virtualised list (only the rows on screen exist); the ARIA list roles say what it is
 *
 * The Search tab: search in files under a folder (regex, case, whole word, include and exclude
 * globs), results streaming in as a virtualised list with their context, a click opening the
 * file at the line; and replace across files with the change of every line shown before it
 * is made.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createEffect, createMemo, createSignal, For, on, onCleanup, Show } from "solid-js";
import { displayPath, isInside } from "../../../shared/paths.js";
import {
  MAX_SEARCH_LINES,
  replaceAll,
  type SearchLine,
  type SearchQuery,
  searchRegExp,
} from "../../../shared/search.js";
import { EmptyState } from "../components/empty-state.js";
import { type FilesSession, useFiles } from "../files/files-store.js";
import { useConnectionState } from "../stores/connection-store.js";
import { createSearchStore, type SearchRow } from "./search-store.js";
import "./search.css";

const ROW = 22;
/** Lines of context shown around each match. */
const CONTEXT = 1;
const TYPING_MS = 250;

export function SearchPane() {
  const files = useFiles();
  return (
    <Show
      when={files.session()}
      fallback={<EmptyState title="Search in files" detail="Waiting for the file service…" />}
    >
      {(s) => <Search session={s()} />}
    </Show>
  );
}

const globsOf = (text: string) =>
  text
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "");

/** The line's text with its matches marked. */
function Marked(props: { text: string; ranges: [number, number][] | undefined; class?: string }) {
  const parts = createMemo(() => {
    const out: { text: string; mark: boolean }[] = [];
    let at = 0;
    for (const [s, e] of props.ranges ?? []) {
      if (s > at) out.push({ text: props.text.slice(at, s), mark: false });
      out.push({ text: props.text.slice(s, e), mark: true });
      at = e;
    }
    out.push({ text: props.text.slice(at), mark: false });
    return out;
  });
  return (
    <span class={props.class}>
      <For each={parts()}>{(p) => (p.mark ? <mark>{p.text}</mark> : p.text)}</For>
    </span>
  );
}

function Search(props: { session: FilesSession }) {
  const s = props.session;
  const store = createSearchStore(s.fs);
  onCleanup(() => store.stop());
  const readOnly = useConnectionState().readOnly;

  const [pattern, setPattern] = createSignal("");
  const [regex, setRegex] = createSignal(false);
  const [caseSensitive, setCase] = createSignal(false);
  const [wholeWord, setWholeWord] = createSignal(false);
  const [include, setInclude] = createSignal("");
  const [exclude, setExclude] = createSignal("");
  const [folder, setFolder] = createSignal("");
  const [replacement, setReplacement] = createSignal("");
  const [showReplace, setShowReplace] = createSignal(false);
  const [confirming, setConfirming] = createSignal(false);
  let input!: HTMLInputElement;

  const query = (): SearchQuery => ({
    pattern: pattern(),
    regex: regex(),
    caseSensitive: caseSensitive(),
    wholeWord: wholeWord(),
    include: globsOf(include()),
    exclude: globsOf(exclude()),
  });
  /** The folder searched: the one typed, else the explorer's. */
  const dir = () => folder().trim() || s.explorer.dir() || s.home;

  let timer: ReturnType<typeof setTimeout> | undefined;
  const search = () => {
    clearTimeout(timer);
    setConfirming(false);
    if (pattern() === "") store.clear();
    else void store.run(query(), dir(), CONTEXT);
  };
  // Searches as one types, once the typing pauses.
  createEffect(
    on(
      [pattern, regex, caseSensitive, wholeWord],
      () => {
        clearTimeout(timer);
        timer = setTimeout(search, TYPING_MS);
      },
      { defer: true },
    ),
  );
  onCleanup(() => clearTimeout(timer));

  // The tab shown (Ctrl-Shift-F, the palette): the pattern is ready for typing.
  const onHash = () => {
    if (location.hash.startsWith("#search")) queueMicrotask(() => input?.focus());
  };
  window.addEventListener("hashchange", onHash);
  onCleanup(() => window.removeEventListener("hashchange", onHash));

  /** The regex the preview and the replace use, or why there is none. */
  const preview = createMemo(() => {
    const shown = store.shown();
    if (!showReplace() || !shown) return undefined;
    try {
      return { re: searchRegExp(shown.query), regex: shown.query.regex };
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
  const replaced = (line: SearchLine) => {
    const p = preview();
    if (!p || !("re" in p) || !p.re) return undefined;
    return replaceAll(line.text, p.re, replacement(), p.regex).text;
  };

  let scroller!: HTMLDivElement;
  const rows = store.rows;
  const sizeOf = (i: number) => {
    const r = rows()[i];
    if (r?.kind === "gap") return 10;
    if (r?.kind === "line" && r.line.ranges && preview()) return ROW * 2;
    return ROW;
  };
  const virtualizer = createVirtualizer({
    get count() {
      return rows().length;
    },
    getScrollElement: () => scroller,
    estimateSize: sizeOf,
    overscan: 20,
  });
  createEffect(on(preview, () => virtualizer.measure(), { defer: true }));

  const relative = (path: string) => {
    const base = store.shown()?.dir ?? s.home;
    return isInside(path, base) && path !== base
      ? path.slice(base === "/" ? 1 : base.length + 1)
      : displayPath(path, s.home);
  };

  const summary = () => {
    const st = store.status();
    const n = `${st.matches} matching line${st.matches === 1 ? "" : "s"} in ${st.filesMatched} file${st.filesMatched === 1 ? "" : "s"}`;
    switch (st.state) {
      case "idle":
        return "";
      case "searching":
        return `Searching… ${n}`;
      case "stopped":
        return `Stopped: ${n}`;
      case "failed":
        return st.error?.message ?? "The search failed";
      case "done":
        return st.capped
          ? `${n}: stopped at ${MAX_SEARCH_LINES} lines; narrow the search (a folder, include globs) to see the rest`
          : st.matches === 0
            ? "No results"
            : n;
    }
  };

  const canReplace = () =>
    !readOnly() &&
    store.status().state === "done" &&
    !store.status().capped &&
    store.status().filesMatched > 0 &&
    preview() !== undefined &&
    !("error" in (preview() ?? {})) &&
    !store.replacing()?.running;

  const Toggle = (p: {
    label: string;
    title: string;
    on: () => boolean;
    set: (v: boolean) => void;
    id: string;
  }) => (
    <button
      type="button"
      class="search-toggle"
      title={p.title}
      aria-pressed={p.on()}
      data-testid={`search-${p.id}`}
      onClick={() => p.set(!p.on())}
    >
      {p.label}
    </button>
  );

  return (
    <div class="search-pane" data-testid="search-pane">
      <form
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          search();
        }}
      >
        <div class="search-row">
          <button
            type="button"
            class="search-toggle"
            title="Replace"
            aria-expanded={showReplace()}
            data-testid="search-show-replace"
            onClick={() => setShowReplace(!showReplace())}
          >
            {showReplace() ? "▾" : "▸"}
          </button>
          <input
            ref={input}
            class="search-input mono"
            placeholder="Search in files"
            aria-label="Search in files"
            data-testid="search-input"
            value={pattern()}
            onInput={(e) => setPattern(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") store.stop();
            }}
          />
          <Toggle id="case" label="Aa" title="Match case" on={caseSensitive} set={setCase} />
          <Toggle id="word" label="W" title="Whole word" on={wholeWord} set={setWholeWord} />
          <Toggle id="regex" label=".*" title="Regular expression" on={regex} set={setRegex} />
        </div>
        <Show when={showReplace()}>
          <div class="search-row">
            <span class="search-indent" />
            <input
              class="search-input mono"
              placeholder={regex() ? "Replace ($1, $<name> for groups)" : "Replace"}
              aria-label="Replace with"
              data-testid="replace-input"
              value={replacement()}
              onInput={(e) => {
                setReplacement(e.currentTarget.value);
                setConfirming(false);
              }}
            />
            <Show
              when={confirming()}
              fallback={
                <button
                  type="button"
                  class="button"
                  disabled={!canReplace()}
                  data-testid="replace-all"
                  title={
                    readOnly()
                      ? "A viewer cannot change files"
                      : store.status().capped
                        ? "Too many results: narrow the search first"
                        : "Replace in every file of the results"
                  }
                  onClick={() => setConfirming(true)}
                >
                  Replace all
                </button>
              }
            >
              <button
                type="button"
                class="button primary"
                data-testid="replace-confirm"
                onClick={() => {
                  setConfirming(false);
                  void store.replaceAll(replacement());
                }}
              >
                Replace {store.status().matches} lines in {store.status().filesMatched} files
              </button>
              <button type="button" class="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </Show>
          </div>
        </Show>
        <div class="search-row search-globs">
          <input
            class="search-input mono"
            placeholder={`in ${displayPath(s.explorer.dir() ?? s.home, s.home)}`}
            aria-label="Folder to search"
            data-testid="search-folder"
            value={folder()}
            onInput={(e) => setFolder(e.currentTarget.value)}
          />
          <input
            class="search-input mono"
            placeholder="files to include (*.ts, src/**)"
            aria-label="Files to include"
            data-testid="search-include"
            value={include()}
            onInput={(e) => setInclude(e.currentTarget.value)}
          />
          <input
            class="search-input mono"
            placeholder="files to exclude"
            aria-label="Files to exclude"
            data-testid="search-exclude"
            value={exclude()}
            onInput={(e) => setExclude(e.currentTarget.value)}
          />
          <button type="submit" class="button" data-testid="search-run">
            Search
          </button>
        </div>
      </form>
      <div
        class="search-summary"
        data-testid="search-summary"
        data-state={store.status().state}
        data-capped={store.status().capped ? "true" : undefined}
      >
        <span>{summary()}</span>
        <Show when={store.status().state === "searching"}>
          <button type="button" class="icon-button" onClick={() => store.stop()}>
            Stop
          </button>
        </Show>
        <Show when={preview() && "error" in preview()!}>
          <span class="search-warn">Cannot replace: {(preview() as { error: string }).error}</span>
        </Show>
        <Show when={store.replacing()}>
          {(r) => (
            <span data-testid="replace-progress" data-running={r().running ? "true" : undefined}>
              {r().running
                ? `Replacing… ${r().done} of ${r().total} files`
                : `Replaced ${r().replaced} in ${r().done - r().failed.length} files`}
              <For each={r().failed}>
                {(f) => (
                  <span class="search-warn" title={f.message}>
                    {" "}
                    {relative(f.path)}: {f.message}
                  </span>
                )}
              </For>
            </span>
          )}
        </Show>
      </div>
      <div class="search-results" ref={scroller} role="list" data-testid="search-results">
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: "relative" }}>
          <For each={virtualizer.getVirtualItems()}>
            {(item) => {
              const row = (): SearchRow | undefined => rows()[item.index];
              return (
                <div
                  class="search-result"
                  role="listitem"
                  data-kind={row()?.kind}
                  style={{
                    transform: `translateY(${item.start}px)`,
                    height: `${item.size}px`,
                  }}
                >
                  <Show when={row()}>
                    {(r) => (
                      <ResultRow
                        row={r()}
                        relative={relative}
                        replaced={replaced}
                        open={(p, l) => void s.openAt(p, l)}
                      />
                    )}
                  </Show>
                </div>
              );
            }}
          </For>
        </div>
      </div>
    </div>
  );
}

function ResultRow(props: {
  row: SearchRow;
  relative: (path: string) => string;
  replaced: (line: SearchLine) => string | undefined;
  open: (path: string, line?: number) => void;
}) {
  const r = props.row;
  if (r.kind === "gap") return <span class="search-gap">⋯</span>;
  if (r.kind === "file")
    return (
      <button
        type="button"
        class="search-file mono"
        data-testid="search-file"
        data-path={r.path}
        onClick={() => props.open(r.path)}
      >
        {props.relative(r.path)}
      </button>
    );
  const after = () => (r.line.ranges ? props.replaced(r.line) : undefined);
  return (
    <button
      type="button"
      class="search-line mono"
      data-testid={r.line.ranges ? "search-match" : "search-context"}
      data-path={r.path}
      data-line={r.line.line}
      onClick={() => props.open(r.path, r.line.line)}
    >
      <span class="search-lineno">{r.line.line}</span>
      <span class="search-texts">
        <Marked
          text={r.line.text}
          ranges={r.line.ranges}
          class={after() !== undefined ? "search-before" : undefined}
        />
        <Show when={after() !== undefined}>
          <span class="search-after" data-testid="replace-preview">
            {after()}
          </span>
        </Show>
      </span>
    </button>
  );
}
