/**
 * Across the page: "disk full: N MB free on …" while plus's store cannot take events, and the
 * events a damaged store lost (until dismissed).
 */
import { createSignal, For, Show } from "solid-js";
import {
  STORE_FULL_AFFECTS,
  type StoreLoss,
  storeFullSummary,
  storeLossSummary,
} from "../../../shared/health.js";
import { useConnection } from "../stores/connection-store.js";
import { createStoreState } from "../stores/store-state.js";

const lossKey = (l: StoreLoss) => `${l.stream}/${l.durable}/${l.from}`;

export function StoreBanner() {
  const conn = useConnection();
  const state = createStoreState(conn);
  const [dismissed, setDismissed] = createSignal<ReadonlySet<string>>(new Set());
  const full = () => {
    const s = state();
    return s?.status === "full" ? s : undefined;
  };
  // One line per stream and range (several durables may have found the same loss).
  const losses = () => {
    const seen = new Map<string, StoreLoss>();
    for (const l of state()?.losses ?? []) {
      const k = `${l.stream}/${l.from}/${l.to}`;
      if (!dismissed().has(lossKey(l)) && !seen.has(k)) seen.set(k, l);
    }
    return [...seen.values()];
  };
  return (
    <>
      <Show when={full()}>
        {(s) => (
          <div class="banner banner-error store-banner" role="alert" data-testid="store-banner">
            <strong>{storeFullSummary(s())}</strong>: {STORE_FULL_AFFECTS}.{" "}
            {conn.hosted
              ? "The hub's admin frees space there; the workspace takes events again by itself, with nothing saved before lost."
              : "Free some space there; plus takes events again by itself, with nothing saved before lost."}
          </div>
        )}
      </Show>
      <Show when={losses().length > 0}>
        <div class="banner banner-warn store-banner" role="alert" data-testid="store-losses">
          <span>
            <strong>
              {losses().some((l) => l.kind !== "unreadable")
                ? "The event store was damaged or put back from an older copy:"
                : "The event store is damaged:"}
            </strong>{" "}
            <For each={losses()}>
              {(l, i) => (
                <span data-testid="store-loss">
                  {i() > 0 ? "; " : ""}
                  {storeLossSummary(l)}
                </span>
              )}
            </For>
            .
            {losses().some((l) => l.kind !== "unreadable")
              ? " The views were rebuilt from what is left."
              : " Services skip what cannot be read."}
          </span>
          <button
            type="button"
            class="store-banner-dismiss"
            data-testid="store-losses-dismiss"
            onClick={() =>
              setDismissed(
                new Set([...dismissed(), ...(state()?.losses ?? []).map((l) => lossKey(l))]),
              )
            }
          >
            Dismiss
          </button>
        </div>
      </Show>
    </>
  );
}
