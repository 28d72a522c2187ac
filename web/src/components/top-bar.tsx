import { type Accessor, For, Show } from "solid-js";
import { useConnectionState } from "../stores/connection-store.js";
import { useSettings } from "../stores/settings-store.js";
import { type TabId, tabsOf } from "../tabs.js";
import { ConnectionBadge } from "./connection-badge.js";
import { FullscreenButton } from "./fullscreen-button.js";
import { ServicesIndicator } from "./services-indicator.js";

export function TopBar(props: { tab: Accessor<TabId>; onSelect: (id: TabId) => void }) {
  const settings = useSettings();
  const hosted = useConnectionState().hosted;
  return (
    <header class="top-bar">
      <div class="workspace-name">
        <Show when={hosted}>
          <a class="button subtle" href="/" data-testid="to-dashboard" title="Your workspaces">
            ← Dashboard
          </a>
        </Show>
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
        <For each={tabsOf(hosted)}>
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
        <Show when={!hosted}>
          <ServicesIndicator />
        </Show>
        <ConnectionBadge />
        <FullscreenButton />
      </div>
    </header>
  );
}
