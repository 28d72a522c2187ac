/**
 * A `.ipynb` in the Editor tab: the toolbar (run, interrupt, restart through the kernel
 * seam; insert, delete, move, type, split, merge, clear outputs; saved state) and the cells,
 * virtualised, so only the cells in view exist in the page (and have a CodeMirror). Keys as
 * in JupyterLab: command mode (Enter edits; A/B insert; D D deletes; Z undoes it; M/Y/R set
 * the type; Up/Down/J/K select; Shift-M merges; Shift-Enter, Ctrl-Enter run; I I interrupts;
 * 0 0 restarts) and edit mode
 * (Esc leaves; Shift-Enter, Ctrl-Enter run; Ctrl-Shift-- splits at the cursor).
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createMemo, createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import { formatSize } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import { useConnection, useConnectionState } from "../stores/connection-store.js";
import { useSettings } from "../stores/settings-store.js";
import type { CellEditorApi } from "./cell-editor.js";
import { Cell } from "./notebook-cell.js";
import { NotebookHistory } from "./notebook-history.js";
import { createNotebookStore, type NotebookStore } from "./notebook-store.js";
import { KernelDied, Toolbar } from "./notebook-toolbar.js";
import "./notebook.css";

export function NotebookView(props: { path: string; shown: string }) {
  const store = createNotebookStore(useConnection(), props.path);
  onCleanup(() => store.stop());
  return (
    <div class="nb" data-testid="notebook" data-path={props.path}>
      <Switch>
        <Match when={store.phase().phase === "opening"}>
          <div class="nb-message muted">Opening {props.shown}…</div>
        </Match>
        <Match
          when={(() => {
            const p = store.phase();
            return p.phase === "refused" ? p : undefined;
          })()}
        >
          {(p) => (
            <div class="nb-message" role="alert" data-testid="nb-refused">
              <WarnIcon size={20} />{" "}
              {p().why === "too-large"
                ? `${props.shown} is ${formatSize(p().size)}, more than the ${formatSize(p().limit ?? 0)} a notebook may be: download it instead.`
                : `${props.shown} is not text: download it instead.`}
            </div>
          )}
        </Match>
        <Match
          when={(() => {
            const p = store.phase();
            return p.phase === "invalid" ? p : undefined;
          })()}
        >
          {(p) => (
            <div class="nb-invalid" data-testid="nb-invalid">
              <div class="nb-message" role="alert">
                <WarnIcon size={20} />
                <span data-testid="nb-invalid-reason">
                  Not a valid notebook: {p().message}. The file is shown as it is
                  {p().length !== undefined
                    ? ` (its first ${p().text.length} of ${p().length} characters)`
                    : ""}{" "}
                  and left unchanged.
                </span>
                <button type="button" class="icon-button" onClick={() => store.retry()}>
                  Open again
                </button>
              </div>
              <pre class="nb-raw" data-testid="nb-raw">
                {p().text}
              </pre>
            </div>
          )}
        </Match>
        <Match
          when={(() => {
            const p = store.phase();
            return p.phase === "error" ? p : undefined;
          })()}
        >
          {(p) => (
            <div class="nb-message" role="alert" data-testid="nb-error-open">
              <WarnIcon size={20} /> {p().error.message}
              <button type="button" class="icon-button" onClick={() => store.retry()}>
                Try again
              </button>
            </div>
          )}
        </Match>
        <Match when={store.phase().phase === "ready"}>
          <NotebookBody store={store} path={props.path} />
        </Match>
      </Switch>
    </div>
  );
}

function NotebookBody(props: { store: NotebookStore; path: string }) {
  const s = props.store;
  const settings = useSettings();
  const readOnly = useConnectionState().readOnly;
  let scroller: HTMLDivElement | undefined;
  const editors = new Map<string, CellEditorApi>();
  const byId = createMemo(() => new Map(s.cells().map((c, i) => [c.id, { cell: c, index: i }])));
  const virtualizer = createVirtualizer({
    get count() {
      return s.cells().length;
    },
    getScrollElement: () => scroller ?? null,
    estimateSize: () => 90,
    overscan: 4,
    getItemKey: (i) => s.cells()[i]?.id ?? i,
  });
  const items = () => virtualizer.getVirtualItems();
  const rows = createMemo(() =>
    items().flatMap((v) => (s.cells()[v.index] ? [s.cells()[v.index]!.id] : [])),
  );
  const startOf = (id: string) => {
    const i = byId().get(id)?.index;
    return items().find((v) => v.index === i)?.start ?? 0;
  };

  const reveal = (id: string | undefined) => {
    const i = id === undefined ? undefined : byId().get(id)?.index;
    if (i !== undefined) virtualizer.scrollToIndex(i, { align: "auto" });
  };
  const commandMode = () => {
    s.setMode("command");
    scroller?.focus();
  };
  const editSelected = () => {
    const id = s.selected();
    if (!id || readOnly()) return;
    s.setMode("edit");
    reveal(id);
    // At once where the editor is there, so the next key typed lands in it; otherwise once
    // its row is mounted (it may have been scrolled away, or be a markdown cell's).
    const tryFocus = (n: number) => {
      const ed = editors.get(id);
      if (ed) ed.focus();
      else if (n > 0) requestAnimationFrame(() => tryFocus(n - 1));
    };
    tryFocus(10);
  };
  /** After a change: the selected cell in view, and keys still reaching the list (the cell
   * that had the focus may be gone). */
  const after = (p: Promise<void>) =>
    void p.then(() => {
      reveal(s.selected());
      if (s.mode() === "command" && !scroller?.contains(document.activeElement)) scroller?.focus();
    });

  /** A row that leaves the page (its cell deleted, here or by someone else, or scrolled away)
   * while it has the focus hands the keys to the list, in command mode: the next key (Z after
   * D D) must not go to the page's body. */
  const keepKeys = (row: HTMLElement) =>
    onCleanup(() => {
      if (!row.contains(document.activeElement)) return;
      queueMicrotask(() => {
        const now = document.activeElement;
        if (now === null || now === document.body || !now.isConnected) commandMode();
      });
    });

  /** The first key of D D, I I (interrupt) and 0 0 (restart), as JupyterLab has them. */
  let pending: string | undefined;
  const onKeyDown = (e: KeyboardEvent) => {
    const target = e.target as HTMLElement;
    if (target.closest(".cm-editor, select, button, input")) return;
    if (s.mode() === "edit") {
      // A key typed before the editor took the focus: moved there now, the key goes with it.
      const id = s.selected();
      if (id) editors.get(id)?.focus();
      return;
    }
    const key = e.key;
    const was = pending;
    pending = undefined;
    if (key === "Enter" && e.shiftKey) {
      e.preventDefault();
      after(s.runAndAdvance());
    } else if (key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void s.runSelected();
    } else if (key === "Enter") {
      e.preventDefault();
      editSelected();
    } else if (key === "ArrowUp" || key === "k") {
      e.preventDefault();
      s.selectNext(-1);
      reveal(s.selected());
    } else if (key === "ArrowDown" || key === "j") {
      e.preventDefault();
      s.selectNext(1);
      reveal(s.selected());
    } else if (readOnly()) {
      return;
    } else if (key === "a") {
      after(s.insert("above"));
    } else if (key === "b") {
      after(s.insert("below"));
    } else if (key === "d") {
      if (was === "d") after(s.remove());
      else pending = "d";
    } else if (key === "i") {
      if (was === "i") void s.kernel.interrupt();
      else pending = "i";
    } else if (key === "0") {
      if (was === "0") void s.kernel.restart();
      else pending = "0";
    } else if (key === "z") {
      after(s.undoDelete());
    } else if (key === "m") {
      after(s.setType("markdown"));
    } else if (key === "y") {
      after(s.setType("code"));
    } else if (key === "r") {
      after(s.setType("raw"));
    } else if (key === "M") {
      after(s.mergeBelow());
    } else if (key === "s" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void s.save();
    }
  };

  const [history, setHistory] = createSignal(false);
  return (
    <>
      <Toolbar store={s} history={history()} toggleHistory={() => setHistory(!history())} />
      <KernelDied store={s} />
      <Show when={s.notice()}>
        <div class="nb-notice" role="status" data-testid="nb-notice">
          {s.notice()}
        </div>
      </Show>
      <Show when={s.problem()}>
        <div class="nb-notice nb-problem" role="alert">
          {s.problem()}
        </div>
      </Show>
      <div class="nb-main">
        <div
          class="nb-scroll"
          data-testid="nb-cells"
          data-count={s.cells().length}
          data-mode={s.mode()}
          role="listbox"
          aria-label="Notebook cells"
          tabIndex={0}
          onKeyDown={onKeyDown}
          ref={(el) => {
            scroller = el;
          }}
        >
          <Show when={s.loaded() && s.cells().length === 0}>
            <div class="nb-message muted">
              An empty notebook.
              <Show when={!readOnly()}>
                <button type="button" class="icon-button" onClick={() => void s.insert("below")}>
                  Add a cell
                </button>
              </Show>
            </div>
          </Show>
          <div class="nb-list" style={{ height: `${virtualizer.getTotalSize()}px` }}>
            <For each={rows()}>
              {(id) => {
                const entry = () => byId().get(id);
                return (
                  <Show when={entry()}>
                    {(e) => (
                      <div
                        class="nb-row"
                        data-index={e().index}
                        ref={(el) => {
                          queueMicrotask(() => el.isConnected && virtualizer.measureElement(el));
                          keepKeys(el);
                        }}
                        style={{ transform: `translateY(${startOf(id)}px)` }}
                      >
                        <Cell
                          cell={e().cell}
                          store={s}
                          dark={settings.dark()}
                          readOnly={readOnly()}
                          editors={editors}
                          onEscape={commandMode}
                          onEdit={editSelected}
                          onAdvance={() => {
                            commandMode();
                            after(s.runAndAdvance());
                          }}
                        />
                      </div>
                    )}
                  </Show>
                );
              }}
            </For>
          </div>
        </div>
        <Show when={history() && s.doc()}>
          {(doc) => (
            <NotebookHistory path={props.path} doc={doc()} close={() => setHistory(false)} />
          )}
        </Show>
      </div>
    </>
  );
}
