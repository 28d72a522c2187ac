/**
 * A right-click menu at a point of the page: its items as buttons, arrow keys to move,
 * Escape, a click elsewhere, a scroll or leaving the window to close it.
 */
import { For, onCleanup, onMount, Show } from "solid-js";
import { Portal } from "solid-js/web";

export interface MenuItem {
  label: string;
  /** `data-action` of its button (tests and the command palette name items by it). */
  action: string;
  run: () => void;
  danger?: boolean;
  /** A line above it. */
  separated?: boolean;
  hint?: string;
}

export function ContextMenu(props: {
  x: number;
  y: number;
  items: readonly MenuItem[];
  label: string;
  onClose: () => void;
}) {
  let box!: HTMLDivElement;
  const buttons = () => Array.from(box.querySelectorAll<HTMLButtonElement>("button"));
  const outside = (e: Event) => {
    if (!box.contains(e.target as Node)) props.onClose();
  };
  const close = () => props.onClose();
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      props.onClose();
      return;
    }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    e.preventDefault();
    const all = buttons();
    const at = all.indexOf(document.activeElement as HTMLButtonElement);
    const next = (at + (e.key === "ArrowDown" ? 1 : all.length - 1)) % all.length;
    all[next]?.focus();
  };
  onMount(() => {
    // Kept inside the window.
    const r = box.getBoundingClientRect();
    box.style.left = `${Math.max(4, Math.min(props.x, window.innerWidth - r.width - 4))}px`;
    box.style.top = `${Math.max(4, Math.min(props.y, window.innerHeight - r.height - 4))}px`;
    buttons()[0]?.focus();
    document.addEventListener("pointerdown", outside, true);
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("scroll", close, true);
    window.addEventListener("blur", close);
    window.addEventListener("resize", close);
  });
  onCleanup(() => {
    document.removeEventListener("pointerdown", outside, true);
    document.removeEventListener("keydown", onKey, true);
    document.removeEventListener("scroll", close, true);
    window.removeEventListener("blur", close);
    window.removeEventListener("resize", close);
  });
  return (
    <Portal>
      <div
        class="context-menu"
        role="menu"
        aria-label={props.label}
        data-testid="context-menu"
        ref={box}
        onContextMenu={(e) => e.preventDefault()}
      >
        <For each={props.items}>
          {(item) => (
            <>
              <Show when={item.separated}>
                <hr class="context-menu-sep" />
              </Show>
              <button
                type="button"
                role="menuitem"
                class="context-menu-item"
                classList={{ danger: item.danger }}
                data-action={item.action}
                onClick={() => {
                  props.onClose();
                  item.run();
                }}
              >
                <span>{item.label}</span>
                <Show when={item.hint}>
                  <span class="context-menu-hint">{item.hint}</span>
                </Show>
              </button>
            </>
          )}
        </For>
      </div>
    </Portal>
  );
}
