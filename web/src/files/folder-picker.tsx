/**
 * A small dialog to choose a folder (the destination of a move or copy): the subfolders of
 * the folder shown, a page at a time, up and home, or a path typed in.
 */
import { createSignal, For, Show } from "solid-js";
import { Modal } from "./dialogs.js";
import type { FolderPickerStore } from "./folder-picker-store.js";
import { FolderIcon, HomeIcon, UpIcon } from "./icons.js";

export function FolderPickerDialog(props: {
  title: string;
  action: string;
  testid: string;
  picker: FolderPickerStore;
  home: string;
  /** Runs the action into `dir`; returns an error message or nothing. */
  submit: (dir: string) => Promise<string | undefined>;
  onClose: () => void;
}) {
  const p = props.picker;
  const [typed, setTyped] = createSignal("");
  const [problem, setProblem] = createSignal<string>();
  const [pending, setPending] = createSignal(false);
  const id = props.testid;

  async function go() {
    if (pending() || p.loading() || p.error()) return;
    setPending(true);
    const failed = await props.submit(p.dir());
    setPending(false);
    if (failed) setProblem(failed);
    else props.onClose();
  }

  return (
    <Modal title={props.title} testid={id} onClose={props.onClose}>
      <div class="picker-bar">
        <button
          type="button"
          class="icon-button"
          title="Up to the parent folder"
          aria-label="Up"
          data-testid={`${id}-up`}
          disabled={p.dir() === "/"}
          onClick={() => void p.up()}
        >
          <UpIcon />
        </button>
        <button
          type="button"
          class="icon-button"
          title="Home folder"
          aria-label="Home"
          data-testid={`${id}-home`}
          onClick={() => void p.open(props.home)}
        >
          <HomeIcon size={14} />
        </button>
        <code class="picker-path" data-testid={`${id}-path`} data-path={p.dir()}>
          {p.display()}
        </code>
      </div>
      <form
        class="picker-go"
        onSubmit={(e) => {
          e.preventDefault();
          if (typed().trim()) void p.open(typed().trim()).then(() => setTyped(""));
        }}
      >
        <input
          class="modal-input"
          placeholder="Go to a folder: ~/…, /… or a name here"
          aria-label="Go to a folder"
          data-testid={`${id}-input`}
          value={typed()}
          onInput={(e) => setTyped(e.currentTarget.value)}
          spellcheck={false}
          autocomplete="off"
        />
      </form>
      <ul class="picker-list" data-testid={`${id}-list`} aria-busy={p.loading()}>
        <Show when={p.error()}>
          <li class="modal-error" role="alert" data-testid={`${id}-dir-error`}>
            {p.error()}
          </li>
        </Show>
        <For each={p.folders()}>
          {(name) => (
            <li>
              <button
                type="button"
                class="picker-folder"
                data-testid={`${id}-folder`}
                data-name={name}
                onClick={() => void p.open(name)}
              >
                <FolderIcon />
                <span>{name}</span>
              </button>
            </li>
          )}
        </For>
        <Show when={!p.loading() && !p.error() && p.folders().length === 0}>
          <li class="muted picker-empty">No folders in here.</li>
        </Show>
        <Show when={p.more()}>
          <li>
            <button
              type="button"
              class="icon-button picker-more"
              data-testid={`${id}-more`}
              disabled={p.loading()}
              onClick={() => void p.loadMore()}
            >
              More folders…
            </button>
          </li>
        </Show>
      </ul>
      <Show when={problem()}>
        <p class="modal-error" role="alert" data-testid={`${id}-error`}>
          {problem()}
        </p>
      </Show>
      <div class="modal-buttons">
        <button type="button" class="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class="button primary"
          data-testid={`${id}-submit`}
          disabled={pending() || p.loading() || p.error() !== undefined}
          onClick={() => void go()}
        >
          {props.action} to {p.display()}
        </button>
      </div>
    </Modal>
  );
}
