import { type Accessor, For, Show } from "solid-js";
import { useConnection, useConnectionState } from "../stores/connection-store.js";
import { type PresentPage, usePresence } from "../stores/presence-store.js";
import { useSettings } from "../stores/settings-store.js";
import { type TabId, tabsOf } from "../tabs.js";
import { ConnectionBadge } from "./connection-badge.js";
import { FullscreenButton } from "./fullscreen-button.js";
import { PresenceAvatars } from "./presence-avatars.js";
import { ServicesIndicator } from "./services-indicator.js";

export function TopBar(props: { tab: Accessor<TabId>; onSelect: (id: TabId) => void }) {
  const settings = useSettings();
  const remoteOf = useConnection().remoteOf;
  const conn = useConnectionState();
  const presence = usePresence();
  const hosted = conn.hosted;
  // A hosted workspace's title is the hub's (the dashboard renames it).
  const title = () => (hosted ? conn.title() : settings.state.view?.settings.title);
  return (
    <header class="top-bar">
      <div class="workspace-name">
        <Show when={hosted}>
          <a class="to-dashboard" href="/" data-testid="to-dashboard" title="Your workspaces">
            ← Dashboard
          </a>
        </Show>
        <span class="workspace-swatch" aria-hidden="true" />
        <Show
          when={title()}
          fallback={
            <span class="workspace-title muted" data-testid="workspace-title">
              loading…
            </span>
          }
        >
          {(t) => (
            <span class="workspace-title" data-testid="workspace-title" title={t()}>
              {t()}
            </span>
          )}
        </Show>
        <Show when={remoteOf}>
          {(target) => (
            <span
              class="remote-badge"
              data-testid="remote-badge"
              title={`This window is cocalc-plus on ${target()}, reached through cocalc-plus ssh`}
            >
              {/* The title names the target already unless it was renamed. */}
              {title() === target() ? "remote" : `remote · ${target()}`}
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
        <PresenceAvatars
          people={presence.others()}
          title={(p) => `${p.name}${p.away ? " (away)" : ""}: ${whereOf(p, hosted)}`}
          testid="workspace-presence"
        />
        <Show when={!hosted}>
          <ServicesIndicator />
        </Show>
        <ConnectionBadge />
        <FullscreenButton />
      </div>
    </header>
  );
}

/** "Editor: /home/a/x.ts", "Agents: e2e.chat", "Terminals". */
function whereOf(p: PresentPage, hosted: boolean): string {
  const label = tabsOf(hosted).find((t) => t.id === p.where.tab)?.label ?? p.where.tab;
  return p.where.path ? `${label}: ${p.where.path}` : label;
}
