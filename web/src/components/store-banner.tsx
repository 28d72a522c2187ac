/** "disk full: N MB free on …" across the page while plus's store cannot take events. */
import { Show } from "solid-js";
import { STORE_FULL_AFFECTS, storeFullSummary } from "../../../shared/health.js";
import { useConnection } from "../stores/connection-store.js";
import { createStoreState } from "../stores/store-state.js";

export function StoreBanner() {
  const state = createStoreState(useConnection());
  const full = () => {
    const s = state();
    return s?.status === "full" ? s : undefined;
  };
  return (
    <Show when={full()}>
      {(s) => (
        <div class="banner banner-error store-banner" role="alert" data-testid="store-banner">
          <strong>{storeFullSummary(s())}</strong>: {STORE_FULL_AFFECTS}. Free some space there;
          plus takes events again by itself, with nothing saved before lost.
        </div>
      )}
    </Show>
  );
}
