/** The explorer's small modal dialogs: a name, a destination, a confirmation, a name clash. */
import { createSignal, For, type JSX, onCleanup, onMount, Show } from "solid-js";
import { Portal } from "solid-js/web";

export function Modal(props: {
  title: string;
  testid: string;
  onClose: () => void;
  children: JSX.Element;
}) {
  let box!: HTMLDivElement;
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.stopPropagation();
      props.onClose();
    }
  };
  onMount(() => {
    document.addEventListener("keydown", onKey, true);
    box.querySelector<HTMLElement>("input, button.primary, button")?.focus();
  });
  onCleanup(() => document.removeEventListener("keydown", onKey, true));
  return (
    <Portal>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: a click beside the dialog is the mouse's Escape (handled above for keyboards) */}
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: see above */}
      <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
        <div
          class="modal"
          role="dialog"
          aria-modal="true"
          aria-label={props.title}
          data-testid={props.testid}
          ref={box}
        >
          <h2 class="modal-title">{props.title}</h2>
          {props.children}
        </div>
      </div>
    </Portal>
  );
}

/** Asks for a text (a name or a path); `submit` returns an error message or nothing. */
export function TextDialog(props: {
  title: string;
  label: string;
  initial: string;
  action: string;
  testid: string;
  /** Selects the name without its extension, as renames do. */
  selectStem?: boolean;
  submit: (value: string) => Promise<string | undefined>;
  onClose: () => void;
}) {
  const [value, setValue] = createSignal(props.initial);
  const [error, setError] = createSignal<string>();
  const [pending, setPending] = createSignal(false);
  let input!: HTMLInputElement;
  onMount(() => {
    input.focus();
    const dot = props.initial.lastIndexOf(".");
    input.setSelectionRange(0, props.selectStem && dot > 0 ? dot : props.initial.length);
  });
  async function go(e: Event) {
    e.preventDefault();
    const v = value().trim();
    if (!v || pending()) return;
    setPending(true);
    const problem = await props.submit(v);
    setPending(false);
    if (problem) setError(problem);
    else props.onClose();
  }
  return (
    <Modal title={props.title} testid={props.testid} onClose={props.onClose}>
      <form onSubmit={go}>
        <label class="modal-label">
          {props.label}
          <input
            ref={input}
            class="modal-input"
            data-testid={`${props.testid}-input`}
            value={value()}
            onInput={(e) => {
              setValue(e.currentTarget.value);
              setError(undefined);
            }}
            spellcheck={false}
            autocomplete="off"
          />
        </label>
        <Show when={error()}>
          <p class="modal-error" role="alert" data-testid={`${props.testid}-error`}>
            {error()}
          </p>
        </Show>
        <div class="modal-buttons">
          <button type="button" class="button" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="submit"
            class="button primary"
            data-testid={`${props.testid}-submit`}
            disabled={pending() || !value().trim()}
          >
            {props.action}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function ConfirmDialog(props: {
  title: string;
  items: readonly string[];
  action: string;
  testid: string;
  danger?: boolean;
  confirm: () => void;
  onClose: () => void;
}) {
  const MAX = 8;
  return (
    <Modal title={props.title} testid={props.testid} onClose={props.onClose}>
      <ul class="modal-list">
        <For each={props.items.slice(0, MAX)}>{(name) => <li>{name}</li>}</For>
        <Show when={props.items.length > MAX}>
          <li class="muted">and {props.items.length - MAX} more</li>
        </Show>
      </ul>
      <div class="modal-buttons">
        <button type="button" class="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class="button primary"
          classList={{ danger: props.danger }}
          data-testid={`${props.testid}-confirm`}
          onClick={() => {
            props.confirm();
            props.onClose();
          }}
        >
          {props.action}
        </button>
      </div>
    </Modal>
  );
}

/** "x already exists": replace, keep both, or skip; optionally for all the rest. */
export function ConflictDialog(props: {
  name: string;
  folder: boolean;
  where: string;
  remaining: number;
  answer: (choice: "replace" | "keep" | "skip", forAll: boolean) => void;
}) {
  const [forAll, setForAll] = createSignal(false);
  return (
    <Modal
      title={`${props.folder ? "A folder" : "A file"} named “${props.name}” already exists`}
      testid="upload-conflict"
      onClose={() => props.answer("skip", forAll())}
    >
      <p class="modal-text">
        in <code>{props.where}</code>.{" "}
        {props.folder
          ? "Replace merges the upload into the folder, replacing files of the same name."
          : "Replace overwrites it; keep both uploads it under a new name."}
      </p>
      <Show when={props.remaining > 0}>
        <label class="modal-check">
          <input
            type="checkbox"
            checked={forAll()}
            onChange={(e) => setForAll(e.currentTarget.checked)}
          />
          Do the same for the {props.remaining} other{props.remaining === 1 ? "" : "s"}
        </label>
      </Show>
      <div class="modal-buttons">
        <button
          type="button"
          class="button"
          data-testid="conflict-skip"
          onClick={() => props.answer("skip", forAll())}
        >
          Skip
        </button>
        <button
          type="button"
          class="button"
          data-testid="conflict-keep"
          onClick={() => props.answer("keep", forAll())}
        >
          Keep both
        </button>
        <button
          type="button"
          class="button primary"
          data-testid="conflict-replace"
          onClick={() => props.answer("replace", forAll())}
        >
          Replace
        </button>
      </div>
    </Modal>
  );
}
