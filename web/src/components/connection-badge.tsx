import { useConnectionState } from "../stores/connection-store.js";

/** The state of the page's connection to the workspace, in one word. */
export function ConnectionBadge() {
  const conn = useConnectionState();
  return (
    <span class="badge connection-badge" data-state={conn.state()} title={conn.problem() ?? ""}>
      <span class="status-dot" aria-hidden="true" />
      <span data-testid="connection-state">
        {conn.state() === "stopped" ? "plus stopped" : conn.state()}
      </span>
    </span>
  );
}
