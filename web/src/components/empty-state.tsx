import type { JSX } from "solid-js";

/** A quiet placeholder for a pane with nothing in it. */
export function EmptyState(props: { title: string; detail?: string; icon?: JSX.Element }) {
  return (
    <div class="empty-state" data-testid="empty-state">
      <div class="empty-state-icon" aria-hidden="true">
        {props.icon}
      </div>
      <p class="empty-state-title">{props.title}</p>
      {props.detail && <p class="empty-state-detail">{props.detail}</p>}
    </div>
  );
}
