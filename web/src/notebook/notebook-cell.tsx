/**
 * One cell of the notebook page: its prompt (execution count), its editor (or a markdown
 * cell rendered), and a code cell's outputs. Mounted only while in view.
 */
import { createMemo, onCleanup, Show } from "solid-js";
import { cellOutputs, type NotebookCell } from "../../../shared/notebook.js";
import { CellEditor, type CellEditorApi } from "./cell-editor.js";
import { renderNotebookMarkdown } from "./math-markdown.js";
import type { NotebookStore } from "./notebook-store.js";
import { Outputs } from "./outputs.js";

export function Cell(props: {
  cell: NotebookCell;
  store: NotebookStore;
  dark: boolean;
  readOnly: boolean;
  editors: Map<string, CellEditorApi>;
  onEscape(): void;
  onEdit(): void;
  onAdvance(): void;
}) {
  const s = props.store;
  const id = props.cell.id;
  const selected = () => s.selected() === id;
  // Parsed again only when the outputs change (not on every edit of the cell's text), so
  // images keep their blob URLs while someone types above them.
  const outputsText = createMemo(() => props.cell.outputs);
  const outputs = createMemo(() => {
    try {
      return cellOutputs({ outputs: outputsText() });
    } catch {
      return [];
    }
  });
  const others = createMemo(() => s.others().filter((p) => p.cell === id), [], {
    equals: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  });
  const showEditor = () => props.cell.cell_type !== "markdown" || s.editingMarkdown().has(id);
  const rendered = createMemo(() =>
    showEditor() ? "" : renderNotebookMarkdown(props.cell.source),
  );
  onCleanup(() => props.editors.delete(id));
  return (
    <div
      class="nb-cell"
      role="option"
      tabIndex={-1}
      aria-selected={selected()}
      data-testid="nb-cell"
      data-id={id}
      data-type={props.cell.cell_type}
      data-selected={selected() ? "true" : undefined}
      data-mode={selected() ? s.mode() : undefined}
      onMouseDown={(e) => {
        if (!(e.target as HTMLElement).closest(".cm-editor")) s.select(id, "command");
      }}
    >
      <div class="nb-prompt mono" data-testid="nb-prompt">
        {props.cell.cell_type === "code" ? `[${props.cell.execution_count ?? " "}]:` : ""}
      </div>
      <div class="nb-body">
        <Show
          when={showEditor()}
          fallback={
            <div
              class="nb-markdown"
              role="document"
              data-testid="nb-markdown"
              onDblClick={() => {
                s.select(id);
                props.onEdit();
              }}
              innerHTML={rendered()}
            />
          }
        >
          <CellEditor
            id={id}
            text={s.text(id)}
            language={
              props.cell.cell_type === "code"
                ? s.language()
                : props.cell.cell_type === "markdown"
                  ? "markdown"
                  : "raw"
            }
            dark={props.dark}
            readOnly={props.readOnly}
            others={others()}
            onEdit={(text) => s.edit(id, text)}
            onFocus={() => s.select(id, "edit")}
            onSelect={(anchor, head) => s.selectText(id, anchor, head)}
            onRemote={(apply) => s.onRemote(id, apply)}
            ref={(api) => props.editors.set(id, api)}
            keys={{
              escape: props.onEscape,
              runAndAdvance: props.onAdvance,
              run: () => {
                void s.runSelected().then(props.onEscape);
              },
              split: (at) => void s.split(id, at),
              save: () => void s.save(),
            }}
          />
        </Show>
        <Show when={props.cell.cell_type === "code" && outputs().length > 0}>
          <Outputs outputs={outputs()} />
        </Show>
      </div>
    </div>
  );
}
