/**
 * biome-ignore-all lint/a11y/useSemanticElements: the options are a listbox driven from the text field (aria-activedescendant style), not a <select>
 * biome-ignore-all lint/a11y/useFocusableInteractive: the text field keeps the focus; Up/Down move among the options
 *
 * The overlay that quick open and the command palette share: a text field over a list that
 * follows it (Up/Down move, Enter picks, Escape or a click outside closes). Items come from
 * `source`, synchronous or not; an answer to an older text is dropped.
 */
import { createEffect, createSignal, For, on, onMount, Show } from "solid-js";
import { messageOf } from "../lib/delay.js";
import "./palette.css";

export interface PickerItem {
  id: string;
  label: string;
  /** Shown after the label, dimmed (a folder, a description). */
  detail?: string;
  /** Shown at the right (a shortcut). */
  hint?: string;
}

export function Picker<T extends PickerItem>(props: {
  label: string;
  placeholder: string;
  source: (text: string) => T[] | Promise<{ items: T[]; note?: string }>;
  pick: (item: T, text: string) => void;
  close: () => void;
  testid: string;
}) {
  const [text, setText] = createSignal("");
  const [items, setItems] = createSignal<T[]>([]);
  const [at, setAt] = createSignal(0);
  const [note, setNote] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  let input!: HTMLInputElement;
  let asked = 0;

  createEffect(
    on(text, (t) => {
      const n = ++asked;
      const got = props.source(t);
      if (Array.isArray(got)) {
        setItems(() => got);
        setNote(undefined);
        setAt(0);
        return;
      }
      setBusy(true);
      got.then(
        (r) => {
          if (n !== asked) return;
          setItems(() => r.items);
          setNote(r.note);
          setAt(0);
          setBusy(false);
        },
        (err) => {
          if (n !== asked) return;
          setItems([]);
          setNote(messageOf(err));
          setBusy(false);
        },
      );
    }),
  );
  onMount(() => input.focus());

  const choose = (i: number) => {
    const item = items()[i];
    if (!item) return;
    props.close();
    props.pick(item, text());
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click beside the dialog is the mouse's Escape (handled in the field for keyboards)
    <div
      class="picker-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) props.close();
      }}
    >
      <div class="picker" role="dialog" aria-label={props.label} data-testid={props.testid}>
        <input
          ref={input}
          class="picker-input"
          placeholder={props.placeholder}
          aria-label={props.label}
          data-testid="picker-input"
          value={text()}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            const n = items().length;
            if (e.key === "Escape") {
              e.preventDefault();
              props.close();
            } else if (e.key === "ArrowDown" && n > 0) {
              e.preventDefault();
              setAt((at() + 1) % n);
            } else if (e.key === "ArrowUp" && n > 0) {
              e.preventDefault();
              setAt((at() - 1 + n) % n);
            } else if (e.key === "Enter") {
              e.preventDefault();
              choose(at());
            }
          }}
        />
        <div class="picker-list" role="listbox" data-busy={busy() ? "true" : undefined}>
          <For each={items()}>
            {(item, i) => (
              <div
                role="option"
                class="picker-item"
                aria-selected={i() === at()}
                data-testid="picker-item"
                data-id={item.id}
                onMouseMove={() => setAt(i())}
                onMouseDown={(e) => {
                  e.preventDefault();
                  choose(i());
                }}
              >
                <span class="picker-label">{item.label}</span>
                <Show when={item.detail}>
                  <span class="picker-detail">{item.detail}</span>
                </Show>
                <Show when={item.hint}>
                  <kbd class="picker-hint">{item.hint}</kbd>
                </Show>
              </div>
            )}
          </For>
        </div>
        <Show when={note() || (items().length === 0 && !busy())}>
          <p class="picker-note" data-testid="picker-note">
            {note() ?? "Nothing matches"}
          </p>
        </Show>
      </div>
    </div>
  );
}
