/** The notebook's toolbar: structure actions, the kernel seam's buttons, history, saved state. */
import { Show } from "solid-js";
import type { CellType } from "../../../shared/notebook.js";
import { useConnectionState } from "../stores/connection-store.js";
import type { NotebookStore, SaveState } from "./notebook-store.js";

const SAVE_LABEL: Record<SaveState, string> = {
  saved: "Saved",
  saving: "Saving…",
  unsaved: "Unsaved",
  deleted: "Deleted on disk",
  invalid: "File on disk is not a valid notebook",
};

export function Toolbar(props: { store: NotebookStore; history: boolean; toggleHistory(): void }) {
  const s = props.store;
  const readOnly = useConnectionState().readOnly;
  const selectedType = () => s.cells().find((c) => c.id === s.selected())?.cell_type ?? "code";
  return (
    <div class="nb-toolbar" data-testid="nb-toolbar">
      <Show when={!readOnly()}>
        <button
          type="button"
          class="icon-button"
          title="Insert a cell below (B)"
          onClick={() => void s.insert("below")}
        >
          + Cell
        </button>
        <button
          type="button"
          class="icon-button"
          title="Delete the cell (D D)"
          onClick={() => void s.remove()}
        >
          Delete
        </button>
        <button
          type="button"
          class="icon-button"
          title="Move the cell up"
          data-testid="nb-move-up"
          onClick={() => void s.move(-1)}
        >
          ↑
        </button>
        <button
          type="button"
          class="icon-button"
          title="Move the cell down"
          data-testid="nb-move-down"
          onClick={() => void s.move(1)}
        >
          ↓
        </button>
        <select
          class="nb-type"
          aria-label="Cell type"
          data-testid="nb-type"
          value={selectedType()}
          onChange={(e) => void s.setType(e.currentTarget.value as CellType)}
        >
          <option value="code">Code</option>
          <option value="markdown">Markdown</option>
          <option value="raw">Raw</option>
        </select>
        <button
          type="button"
          class="icon-button"
          title="Merge with the cell below (Shift-M)"
          onClick={() => void s.mergeBelow()}
        >
          Merge
        </button>
        <button
          type="button"
          class="icon-button"
          title="Clear the cell's outputs"
          onClick={() => void s.clearOutputs()}
        >
          Clear
        </button>
        <button
          type="button"
          class="icon-button"
          title="Clear every cell's outputs"
          onClick={() => void s.clearOutputs(true)}
        >
          Clear all
        </button>
        <span class="nb-sep" />
        <button
          type="button"
          class="icon-button"
          data-testid="nb-run"
          title="Run the cell (Shift-Enter)"
          onClick={() => void s.runAndAdvance()}
        >
          ▶ Run
        </button>
        <button
          type="button"
          class="icon-button"
          data-testid="nb-interrupt"
          title="Interrupt the kernel"
          onClick={() => void s.kernel.interrupt()}
        >
          ■ Interrupt
        </button>
        <button
          type="button"
          class="icon-button"
          data-testid="nb-restart"
          title="Restart the kernel"
          onClick={() => void s.kernel.restart()}
        >
          ↻ Restart
        </button>
      </Show>
      <span class="nb-kernel muted" data-testid="nb-kernel" data-state={s.kernel.state()}>
        {s.kernel.state() === "none" ? "No kernel" : `Kernel ${s.kernel.state()}`}
      </span>
      <span class="spacer" />
      <button
        type="button"
        class="icon-button"
        data-testid="nb-history-toggle"
        aria-pressed={props.history}
        onClick={() => props.toggleHistory()}
      >
        History
      </button>
      <Show when={!readOnly() && (s.saveState() === "deleted" || s.saveState() === "invalid")}>
        <button
          type="button"
          class="icon-button"
          data-testid="nb-save-again"
          title="Write the notebook to its file again"
          onClick={() => void s.save()}
        >
          Save again
        </button>
      </Show>
      <span class="save-state" data-testid="nb-save-state" data-state={s.saveState()}>
        {SAVE_LABEL[s.saveState()]}
      </span>
    </div>
  );
}
