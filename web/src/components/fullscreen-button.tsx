import { createSignal, onCleanup, Show } from "solid-js";
import { messageOf } from "../lib/delay.js";
import { CollapseIcon, ExpandIcon } from "./icons.js";

/** Toggles the whole page in and out of fullscreen. */
export function FullscreenButton() {
  const [isFullscreen, setFullscreen] = createSignal(document.fullscreenElement !== null);
  const [error, setError] = createSignal<string>();
  const onChange = () => setFullscreen(document.fullscreenElement !== null);
  document.addEventListener("fullscreenchange", onChange);
  onCleanup(() => document.removeEventListener("fullscreenchange", onChange));

  async function toggle() {
    setError(undefined);
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await document.documentElement.requestFullscreen();
    } catch (err) {
      setError(`Fullscreen is not available: ${messageOf(err)}`);
    }
  }

  const label = () => (isFullscreen() ? "Exit fullscreen" : "Fullscreen");
  return (
    <button
      type="button"
      class="icon-button"
      data-testid="fullscreen"
      data-error={error() ? "" : undefined}
      aria-label={label()}
      aria-pressed={isFullscreen()}
      disabled={!document.fullscreenEnabled}
      title={error() ?? (document.fullscreenEnabled ? label() : "Fullscreen is not available here")}
      onClick={() => void toggle()}
    >
      <Show when={isFullscreen()} fallback={<ExpandIcon />}>
        <CollapseIcon />
      </Show>
      <span class="icon-button-label">{label()}</span>
    </button>
  );
}
