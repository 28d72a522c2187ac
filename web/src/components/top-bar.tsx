import { type Accessor, For, Show } from "solid-js";
import { useSettings } from "../stores/settings-store.js";
import { type TabId, workspaceTabs } from "../tabs.js";
import { ConnectionBadge } from "./connection-badge.js";
import { FullscreenButton } from "./fullscreen-button.js";
import { ServicesIndicator } from "./services-indicator.js";

export function TopBar(props: { tab: Accessor<TabId>; onSelect: (id: TabId) => void }) {
  const settings = useSettings();
  return (
    <header class="top-bar">
      <div class="workspace-name">
        <span class="workspace-swatch" aria-hidden="true" />
        <Show
          when={settings.state.view}
          fallback={
            <span class="workspace-title muted" data-testid="workspace-title">
              loading…
            </span>
          }
        >
          {(view) => (
            <span
              class="workspace-title"
              data-testid="workspace-title"
              title={view().settings.title}
            >
              {view().settings.title}
            </span>
          )}
        </Show>
      </div>
      <div class="tabs" role="tablist" aria-label="Workspace">
        <For each={workspaceTabs}>
          {(tab) => (
            <button
              type="button"
              role="tab"
              id={`tab-${tab.id}`}
              class="tab"
              data-testid={`tab-${tab.id}`}
              aria-selected={props.tab() === tab.id}
              aria-controls={`pane-${tab.id}`}
              title={tab.label}
              onClick={() => props.onSelect(tab.id)}
            >
              <tab.icon />
              <span>{tab.label}</span>
            </button>
          )}
        </For>
      </div>
      <div class="top-bar-status">
        <ServicesIndicator />
        <ConnectionBadge />
        <FullscreenButton />
      </div>
    </header>
  );
}
