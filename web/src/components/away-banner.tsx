/**
 * Across the page, once plus has not answered for a while: it keeps trying at this address
 * (a restart takes the same port when it is free), and says how to find a plus that started
 * on another port.
 */
import { createEffect, createSignal, onCleanup, Show } from "solid-js";
import { useConnectionState } from "../stores/connection-store.js";

/** How long plus may be away before the page says more than its badge does. */
const AWAY_MS = 10_000;

export function AwayBanner() {
  const conn = useConnectionState();
  const [away, setAway] = createSignal(false);
  createEffect(() => {
    const state = conn.state();
    if (state === "connected" || state === "connecting") {
      setAway(false);
      return;
    }
    const timer = setTimeout(() => setAway(true), AWAY_MS);
    onCleanup(() => clearTimeout(timer));
  });
  return (
    <Show when={away() && !conn.hosted}>
      <div class="banner banner-warn" role="status" data-testid="away-banner">
        <strong>
          {conn.state() === "stopped" ? "cocalc-plus stopped" : "cocalc-plus is not answering"}
        </strong>
        : this page keeps trying and goes on by itself when plus is back here. If it started again
        on another port, <code>cocalc-plus open</code> on its machine opens it there.
      </div>
    </Show>
  );
}
