/** The notebook's toolbar: structure actions, the kernel seam's buttons, history, saved state. */
import { createSignal, For, Show } from "solid-js";
import type { KernelspecInfo } from "../../../shared/kernels.js";
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
          data-testid="nb-run-all"
          title="Run every code cell"
          onClick={() => void s.runMany("all")}
        >
          ▶▶ Run all
        </button>
        <select
          class="nb-type nb-run-more"
          aria-label="Run some cells"
          data-testid="nb-run-more"
          value=""
          onChange={(e) => {
            const v = e.currentTarget.value;
            e.currentTarget.value = "";
            if (v === "above" || v === "below") void s.runMany(v);
            else if (v === "restart-all") void s.restartAndRunAll();
          }}
        >
          <option value="">Run…</option>
          <option value="above">Run the cells above</option>
          <option value="below">Run this cell and those below</option>
          <option value="restart-all">Restart the kernel and run all</option>
        </select>
        <button
          type="button"
          class="icon-button"
          data-testid="nb-interrupt"
          title="Interrupt the kernel (I I)"
          onClick={() => void s.kernel.interrupt()}
        >
          ■ Interrupt
        </button>
        <button
          type="button"
          class="icon-button"
          data-testid="nb-restart"
          title="Restart the kernel (0 0)"
          onClick={() => void s.kernel.restart()}
        >
          ↻ Restart
        </button>
      </Show>
      <KernelPicker store={s} readOnly={readOnly()} />
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

const STATE_LABEL: Record<string, string> = {
  none: "not started",
  starting: "starting",
  idle: "idle",
  busy: "busy",
  restarting: "restarting",
  dead: "dead",
};

/**
 * The notebook's kernel: its name and what it does now, as the kernels view says; choosing
 * another kernelspec (from those on the machine, asked for when the list is opened) starts it.
 */
function KernelPicker(props: { store: NotebookStore; readOnly: boolean }) {
  const s = props.store;
  const k = s.kernel;
  const [specs, setSpecs] = createSignal<KernelspecInfo[]>();
  const [loading, setLoading] = createSignal(false);
  const current = () => k.view()?.kernelspec ?? s.kernelspec();
  const name = () =>
    k.view()?.displayName ??
    specs()?.find((x) => x.name === current())?.displayName ??
    (current() === s.kernelspec() ? s.kernelDisplayName() : undefined) ??
    current();
  const load = () => {
    if (specs() || loading()) return;
    setLoading(true);
    k.kernelspecs()
      .then(setSpecs)
      .catch((err: unknown) => s.tell(`The kernelspecs could not be listed: ${String(err)}`))
      .finally(() => setLoading(false));
  };
  return (
    <span class="nb-kernel" data-testid="nb-kernel" data-state={k.state()} title={k.problem()}>
      <span class={`nb-kernel-dot nb-kernel-${k.state()}`} aria-hidden="true" />
      <Show when={!props.readOnly} fallback={<span data-testid="nb-kernel-name">{name()}</span>}>
        <select
          class="nb-type"
          aria-label="Kernel"
          data-testid="nb-kernel-select"
          value={current()}
          onFocus={load}
          onMouseDown={load}
          onChange={(e) => {
            const spec = specs()?.find((x) => x.name === e.currentTarget.value);
            if (spec) void k.choose(spec);
          }}
        >
          <option value={current()}>{name()}</option>
          <For each={(specs() ?? []).filter((x) => x.name !== current())}>
            {(x) => <option value={x.name}>{x.displayName}</option>}
          </For>
        </select>
      </Show>
      <span class="muted" data-testid="nb-kernel-state">
        {STATE_LABEL[k.state()] ?? k.state()}
      </span>
    </span>
  );
}

/** The kernel died: why, the end of what it wrote to stderr, and Restart. */
export function KernelDied(props: { store: NotebookStore }) {
  const k = props.store.kernel;
  const died = () => (k.state() === "dead" ? k.view()?.died : undefined);
  return (
    <Show when={died()}>
      {(d) => (
        <div class="nb-notice nb-problem" role="alert" data-testid="nb-kernel-died">
          The kernel died: {d().reason}.{" "}
          <button type="button" class="icon-button" onClick={() => void k.restart()}>
            Restart it
          </button>
          <Show when={d().stderr}>
            <details>
              <summary>What it wrote to stderr</summary>
              <pre class="nb-stderr" data-testid="nb-kernel-stderr">
                {d().stderr}
              </pre>
            </details>
          </Show>
        </div>
      )}
    </Show>
  );
}
