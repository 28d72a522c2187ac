/*
 * biome-ignore-all lint/a11y/useSemanticElements: a virtualised list of 100,000 rows cannot be a <table>; the ARIA table roles say what it is
 * biome-ignore-all lint/a11y/useFocusableInteractive: the list is one tab stop with its own keys (arrows, Enter, Delete, F2), not one per row
 * biome-ignore-all lint/a11y/noStaticElementInteractions: a click on a row selects it; the keyboard does the same through the list
 * biome-ignore-all lint/a11y/useKeyWithClickEvents: see above
 */
/**
 * The entries of the directory as a virtualised table: only the rows on screen exist in the
 * page, and only their pages are fetched, so 100,000 entries scroll as smoothly as 10.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createEffect, createSignal, For, on, Show } from "solid-js";
import type { FileEntry, SortKey } from "../../../shared/files.js";
import type { ExplorerStore } from "./explorer-store.js";
import { formatMode, formatSize, formatTime, visibleName } from "./format.js";
import { EntryIcon, kindOf } from "./icons.js";

export const ROW_HEIGHT = 30;

export interface FileListProps {
  explorer: ExplorerStore;
  /** The name being renamed in place, if any. */
  renaming: string | undefined;
  onRenameDone: (from: string, to: string | undefined) => void;
  onOpen: (entry: FileEntry) => void;
  /** The folder row a drag hovers, for the drop highlight. */
  dropTarget: string | undefined;
  onKey: (e: KeyboardEvent) => void;
  /** The address of an entry: its name is a real link (middle-click, copy link address). */
  linkOf: (entry: FileEntry) => string;
  /** A right-click on an entry (or the menu key on the selection). */
  onMenu: (entry: FileEntry, x: number, y: number) => void;
  /** Rows can be dragged (onto a folder row or a step of the path, to move them there). */
  draggable: boolean;
  onDragRow: (entry: FileEntry, e: DragEvent) => void;
  onDragEnd: () => void;
}

const COLUMNS: { key: SortKey; label: string; class: string }[] = [
  { key: "name", label: "Name", class: "col-name" },
  { key: "size", label: "Size", class: "col-size" },
  { key: "mtime", label: "Modified", class: "col-mtime" },
];

export function FileList(props: FileListProps) {
  const ex = props.explorer;
  let scroller!: HTMLDivElement;
  const virtualizer = createVirtualizer({
    get count() {
      return ex.total();
    },
    getScrollElement: () => scroller,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });

  // Fetch the pages under the visible rows.
  createEffect(() => {
    const items = virtualizer.getVirtualItems();
    ex.version();
    if (items.length === 0) return;
    ex.ensureRows(items[0]!.index, items[items.length - 1]!.index);
  });
  // A new directory starts at the top.
  createEffect(
    on(ex.dir, () => {
      if (scroller) scroller.scrollTop = 0;
    }),
  );

  /** Arrow keys move the selection one row (Shift extends it) and keep it on screen. */
  function moveCursor(step: number, extend: boolean) {
    const n = ex.total();
    if (n === 0) return;
    let at = -1;
    const sel = ex.selection();
    if (sel.size > 0) {
      for (const item of virtualizer.getVirtualItems()) {
        const r = ex.rowAt(item.index);
        if (r && sel.has(r.name)) at = item.index;
      }
    }
    const next = Math.max(0, Math.min(n - 1, at === -1 ? 0 : at + step));
    const row = ex.rowAt(next);
    if (!row) return;
    ex.select(row.name, extend ? "range" : "only");
    virtualizer.scrollToIndex(next, { align: "auto" });
  }

  function findLoaded(name: string): FileEntry | undefined {
    for (const item of virtualizer.getVirtualItems()) {
      const r = ex.rowAt(item.index);
      if (r?.name === name) return r;
    }
    return undefined;
  }

  const sortMark = (key: SortKey) => (ex.prefs().sort === key ? (ex.prefs().desc ? "▼" : "▲") : "");

  return (
    <div class="file-table" role="table" aria-label="Files" aria-rowcount={ex.total()}>
      <div class="file-header" role="row">
        <span class="col-check" role="columnheader">
          <input
            type="checkbox"
            aria-label="Select all"
            data-testid="select-all"
            checked={ex.total() > 0 && ex.selection().size >= ex.total()}
            ref={(el) =>
              createEffect(() => {
                // Part of a big folder selected (or still being selected).
                el.indeterminate = ex.selection().size > 0 && ex.selection().size < ex.total();
              })
            }
            onChange={(e) => (e.currentTarget.checked ? ex.selectAll() : ex.clearSelection())}
          />
        </span>
        <For each={COLUMNS}>
          {(c) => (
            <span
              class={c.class}
              role="columnheader"
              aria-sort={
                ex.prefs().sort === c.key ? (ex.prefs().desc ? "descending" : "ascending") : "none"
              }
            >
              <button
                type="button"
                class="sort-button"
                data-testid={`sort-${c.key}`}
                onClick={() => ex.setSort(c.key)}
              >
                {c.label}
                <span class="sort-mark">{sortMark(c.key)}</span>
              </button>
            </span>
          )}
        </For>
      </div>
      <div
        class="file-scroll"
        ref={scroller}
        tabindex="0"
        data-testid="file-list"
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            e.preventDefault();
            moveCursor(e.key === "ArrowDown" ? 1 : -1, e.shiftKey);
          } else if (e.key === "ContextMenu" || (e.shiftKey && e.key === "F10")) {
            e.preventDefault();
            const name = [...ex.selection()][0];
            const row =
              name &&
              scroller.querySelector<HTMLElement>(`.file-row[data-name="${CSS.escape(name)}"]`);
            const entry = row ? findLoaded(name) : undefined;
            if (row && entry) {
              const r = row.getBoundingClientRect();
              props.onMenu(entry, r.left + 40, r.bottom);
            }
          } else props.onKey(e);
        }}
      >
        <Show when={ex.total() === 0 && ex.phase() === "ready"}>
          <p class="file-empty" data-testid="empty-dir">
            {ex.filter()
              ? "Nothing matches the filter."
              : "This folder is empty. Drop files here to upload them."}
          </p>
        </Show>
        <div class="file-rows" style={{ height: `${virtualizer.getTotalSize()}px` }}>
          <For each={virtualizer.getVirtualItems()}>
            {(item) => {
              const entry = () => {
                ex.version();
                return ex.rowAt(item.index);
              };
              return (
                <div
                  class="file-row-slot"
                  // Set from script (a static style would be an inline attribute, which the
                  // page's content policy refuses); the height is ROW_HEIGHT in files.css.
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  {/* Not keyed: a refresh of the listing updates the row in place, so a
                      rename in progress is not thrown away by a live update. */}
                  <Show
                    when={entry()}
                    fallback={<div class="file-row placeholder" aria-hidden="true" />}
                  >
                    {(e) => (
                      <Row
                        entry={e()}
                        index={item.index}
                        explorer={ex}
                        renaming={props.renaming === e().name}
                        dropTarget={props.dropTarget === e().name}
                        onRenameDone={props.onRenameDone}
                        onOpen={props.onOpen}
                        link={props.linkOf(e())}
                        onMenu={props.onMenu}
                        draggable={props.draggable}
                        onDragRow={props.onDragRow}
                        onDragEnd={props.onDragEnd}
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

function Row(props: {
  entry: FileEntry;
  index: number;
  explorer: ExplorerStore;
  renaming: boolean;
  dropTarget: boolean;
  onRenameDone: (from: string, to: string | undefined) => void;
  onOpen: (entry: FileEntry) => void;
  link: string;
  onMenu: (entry: FileEntry, x: number, y: number) => void;
  draggable: boolean;
  onDragRow: (entry: FileEntry, e: DragEvent) => void;
  onDragEnd: () => void;
}) {
  const e = () => props.entry;
  const selected = () => props.explorer.selection().has(e().name);
  const isDir = () => e().type === "dir" || e().link?.type === "dir";
  const title = () => {
    const x = e();
    const parts = [visibleName(x.name)];
    if (x.link)
      parts.push(`→ ${x.link.target}${x.link.type === "missing" ? " (broken link)" : ""}`);
    if (x.mode) parts.push(formatMode(x.mode));
    if (x.error) parts.push(`(${x.error})`);
    return parts.join("  ");
  };
  return (
    <div
      class="file-row"
      role="row"
      aria-rowindex={props.index + 1}
      aria-selected={selected()}
      data-testid="file-row"
      data-name={e().name}
      data-type={e().type}
      data-dir={isDir() ? "true" : "false"}
      data-drop={props.dropTarget ? "true" : undefined}
      title={title()}
      draggable={props.draggable && !props.renaming}
      onDragStart={(ev) => props.onDragRow(e(), ev)}
      onDragEnd={() => props.onDragEnd()}
      onContextMenu={(ev) => {
        if ((ev.target as HTMLElement).closest("input")) return;
        ev.preventDefault();
        props.onMenu(e(), ev.clientX, ev.clientY);
      }}
      onClick={(ev) => {
        if ((ev.target as HTMLElement).closest("input, button, a")) return;
        props.explorer.select(
          e().name,
          ev.shiftKey ? "range" : ev.ctrlKey || ev.metaKey ? "toggle" : "only",
        );
      }}
      onDblClick={(ev) => {
        if ((ev.target as HTMLElement).closest("input")) return;
        props.onOpen(e());
      }}
    >
      <span class="col-check" role="cell">
        <input
          type="checkbox"
          aria-label={`Select ${e().name}`}
          checked={selected()}
          onChange={() => props.explorer.select(e().name, "toggle")}
        />
      </span>
      <span class="col-name" role="cell">
        <EntryIcon entry={e()} />
        <Show
          when={props.renaming}
          fallback={
            <a
              class="entry-name"
              href={props.link}
              data-kind={kindOf(e())}
              data-testid="entry-name"
              onClick={(ev) => {
                // Ctrl-, Shift- or middle-click: the browser opens the link in a new tab.
                if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
                ev.preventDefault();
                props.onOpen(e());
              }}
            >
              {visibleName(e().name)}
              {isDir() ? "/" : ""}
            </a>
          }
        >
          <RenameInput name={e().name} done={props.onRenameDone} />
        </Show>
        <Show when={e().link}>
          {(l) => (
            <span class="link-target" data-broken={l().type === "missing" ? "true" : undefined}>
              → {l().target}
            </span>
          )}
        </Show>
        <Show when={e().error && e().error !== "removed"}>
          <span class="entry-error">{e().error}</span>
        </Show>
      </span>
      <span class="col-size muted" role="cell">
        {isDir() || e().link?.type === "missing" ? "" : formatSize(e().size)}
      </span>
      <span
        class="col-mtime muted"
        role="cell"
        title={e().mtime ? new Date(e().mtime).toString() : ""}
      >
        {formatTime(e().mtime)}
      </span>
    </div>
  );
}

function RenameInput(props: {
  name: string;
  done: (from: string, to: string | undefined) => void;
}) {
  const [value, setValue] = createSignal(props.name);
  let finished = false;
  const finish = (to: string | undefined) => {
    if (finished) return;
    finished = true;
    props.done(props.name, to);
  };
  return (
    <input
      class="rename-input"
      data-testid="rename-input"
      value={value()}
      spellcheck={false}
      ref={(el) =>
        queueMicrotask(() => {
          el.focus();
          const dot = props.name.lastIndexOf(".");
          el.setSelectionRange(0, dot > 0 ? dot : props.name.length);
        })
      }
      onInput={(ev) => setValue(ev.currentTarget.value)}
      onKeyDown={(ev) => {
        ev.stopPropagation();
        if (ev.key === "Enter") finish(value().trim() || undefined);
        if (ev.key === "Escape") finish(undefined);
      }}
      onBlur={() => finish(value().trim() || undefined)}
    />
  );
}
