/** A compact health summary of the services; click for the details of every instance. */
import { createSignal, For, onCleanup, Show } from "solid-js";
import type { Liveness } from "../../../shared/health.js";
import { useConnectionState } from "../stores/connection-store.js";
import { type ServiceRow, useServices } from "../stores/services-store.js";

const LIVENESS_LABELS: Record<Liveness, string> = {
  healthy: "healthy",
  starting: "starting",
  stale: "stale",
  down: "down",
  stopped: "stopped",
};

export function ServicesIndicator() {
  const services = useServices();
  const conn = useConnectionState();
  const [open, setOpen] = createSignal(false);
  let root: HTMLDivElement | undefined;

  const onPointerDown = (e: PointerEvent) => {
    if (open() && root && !root.contains(e.target as Node)) setOpen(false);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") setOpen(false);
  };
  document.addEventListener("pointerdown", onPointerDown);
  document.addEventListener("keydown", onKeyDown);
  onCleanup(() => {
    document.removeEventListener("pointerdown", onPointerDown);
    document.removeEventListener("keydown", onKeyDown);
  });

  const summary = () => {
    const rows = services.rows();
    const worst = services.worst();
    if (worst === undefined) return "no services";
    if (worst === "healthy") return `${rows.length} ok`;
    const n = rows.filter((r) => r.liveness === worst).length;
    return `${n} ${LIVENESS_LABELS[worst]}`;
  };

  const tooltip = () =>
    services
      .rows()
      .map((r) => `${r.health.service}: ${r.liveness}`)
      .join("\n") || "Services";

  return (
    <div class="services" ref={root}>
      {/* The button is stretched over the whole badge (CSS), so the dots are clickable too. */}
      <div class="badge services-badge" data-worst={services.worst() ?? "none"}>
        <ul class="service-dots" data-testid="service-health-list" aria-label="Service health">
          <For each={services.rows()}>
            {(row) => (
              <li
                class="service-dot"
                data-testid="service-health"
                data-service={row.health.service}
                data-instance={row.health.instance}
                data-liveness={row.liveness}
              />
            )}
          </For>
        </ul>
        <button
          type="button"
          class="services-button"
          data-testid="services-indicator"
          aria-expanded={open()}
          aria-controls="services-panel"
          aria-label={`Services: ${summary()}`}
          title={tooltip()}
          onClick={() => setOpen(!open())}
        >
          {summary()}
        </button>
      </div>
      <Show when={open()}>
        <div id="services-panel" class="popover services-panel" data-testid="services-panel">
          <div class="popover-header">
            <span>Services</span>
            <span class="muted">cocalc-plus {conn.version}</span>
          </div>
          <Show when={services.problem()}>
            <p class="banner banner-warn">Not updating: {services.problem()} (retrying)</p>
          </Show>
          <Show
            when={services.rows().length > 0}
            fallback={<p class="popover-empty">No service has reported yet.</p>}
          >
            <table class="services-table">
              <thead>
                <tr>
                  <th>Service</th>
                  <th>State</th>
                  <th class="num">Restarts</th>
                  <th>Last heartbeat</th>
                  <th>Last error</th>
                </tr>
              </thead>
              <tbody>
                <For each={services.rows()}>{(row) => <ServiceDetail row={row} />}</For>
              </tbody>
            </table>
          </Show>
        </div>
      </Show>
    </div>
  );
}

function ServiceDetail(props: { row: ServiceRow }) {
  const h = () => props.row.health;
  return (
    <tr
      data-testid="service-health-detail"
      data-service={h().service}
      data-liveness={props.row.liveness}
    >
      <td>
        <div class="service-name">{h().service}</div>
        <div class="muted small" title={`${h().host} pid ${h().pid}`}>
          {h().instance}
        </div>
      </td>
      <td>
        <span class="pill" data-liveness={props.row.liveness}>
          {LIVENESS_LABELS[props.row.liveness]}
        </span>
      </td>
      <td class="num">{h().restarts}</td>
      <td class="muted">{ago(h().beatAt)}</td>
      <td class="last-error" title={h().lastError ?? ""}>
        {h().lastError ?? <span class="muted">—</span>}
      </td>
    </tr>
  );
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}
