/**
 * One cell of the notebook page: its prompt (execution count), its editor (or a markdown
 * cell rendered), and a code cell's outputs. Mounted only while in view.
 */
import { createMemo, createSignal, onCleanup, Show } from "solid-js";
import { cellOutputs, type NotebookCell } from "../../../shared/notebook.js";
import { stripAnsi } from "./ansi.js";
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
  /** Shift-Tab's answer: what the kernel knows of the name at the cursor (plain text). */
  const [inspected, setInspected] = createSignal<string>();
  const inspect = (code: string, pos: number) => {
    void s.kernel
      .inspect(code, pos)
      .then((r) => {
        if (!r) return s.tell("No kernel runs: run a cell to start one.");
        const text = r.data["text/plain"];
        setInspected(
          r.found && typeof text === "string" ? stripAnsi(text) : "Nothing known of this name.",
        );
      })
      .catch((err: unknown) => s.tell(`Inspection failed: ${String(err)}`));
  };
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
      <div
        class="nb-prompt mono"
        data-testid="nb-prompt"
        data-run={props.cell.cell_type === "code" ? s.kernel.cellRun(id) : undefined}
        title={
          s.kernel.cellRun(id) === "running"
            ? "Running"
            : s.kernel.cellRun(id) === "queued"
              ? "Waiting for the cells before it"
              : undefined
        }
      >
        {props.cell.cell_type !== "code"
          ? ""
          : s.kernel.cellRun(id)
            ? "[*]:"
            : `[${props.cell.execution_count ?? " "}]:`}
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
            onEdit={(text) => {
              setInspected(undefined);
              s.edit(id, text);
            }}
            complete={props.cell.cell_type === "code" ? s.kernel.complete : undefined}
            inspect={props.cell.cell_type === "code" ? inspect : undefined}
            onFocus={() => s.select(id, "edit")}
            onSelect={(anchor, head) => s.selectText(id, anchor, head)}
            onRemote={(apply) => s.onRemote(id, apply)}
            ref={(api) => props.editors.set(id, api)}
            keys={{
              escape: () => {
                if (inspected() !== undefined) setInspected(undefined);
                else props.onEscape();
              },
              runAndAdvance: props.onAdvance,
              run: () => {
                void s.runSelected().then(props.onEscape);
              },
              split: (at) => void s.split(id, at),
              save: () => void s.save(),
            }}
          />
        </Show>
        <Show when={inspected()}>
          <pre class="nb-inspect mono" data-testid="nb-inspect">
            {inspected()}
          </pre>
        </Show>
        <Show when={props.cell.cell_type === "code" && outputs().length > 0}>
          <Outputs outputs={outputs()} />
        </Show>
        <Show when={s.kernel.view()?.input?.cellId === id ? s.kernel.view()?.input : undefined}>
          {(input) => <InputRequest store={s} {...input()} readOnly={props.readOnly} />}
        </Show>
      </div>
    </div>
  );
}

/** The running cell asks for a line (`input()`, `getpass()`): its prompt and a field. */
function InputRequest(props: {
  store: NotebookStore;
  executionId: string;
  prompt: string;
  password: boolean;
  readOnly: boolean;
}) {
  const [value, setValue] = createSignal("");
  const [sent, setSent] = createSignal(false);
  return (
    <form
      class="nb-input mono"
      data-testid="nb-input"
      data-execution={props.executionId}
      onSubmit={(e) => {
        e.preventDefault();
        if (sent()) return;
        setSent(true);
        void props.store.kernel.reply(value()).finally(() => setSent(false));
      }}
    >
      <label>
        <span class="nb-input-prompt">{props.prompt}</span>
        <input
          type={props.password ? "password" : "text"}
          autocomplete="off"
          data-testid="nb-input-field"
          disabled={props.readOnly || sent()}
          value={value()}
          onInput={(e) => setValue(e.currentTarget.value)}
          ref={(el) => requestAnimationFrame(() => el.focus())}
        />
      </label>
    </form>
  );
}
