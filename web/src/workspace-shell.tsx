/** The workspace page: top bar, tabs, and the workspace's colour and title applied to the page. */
import { createEffect, createSignal, For, onCleanup, Show } from "solid-js";
import { Dynamic } from "solid-js/web";
import { useAgents } from "./agents/agents-store.js";
import { AwayBanner } from "./components/away-banner.js";
import { StoreBanner } from "./components/store-banner.js";
import { TopBar } from "./components/top-bar.js";
import { useFiles } from "./files/files-store.js";
import { PageCommands } from "./palette/page-commands.js";
import { useConnection, useConnectionState } from "./stores/connection-store.js";
import { usePresence } from "./stores/presence-store.js";
import { useSettings } from "./stores/settings-store.js";
import { createTabRoute, type TabId, tabsOf } from "./tabs.js";

const DEFAULT_TITLE = "cocalc-plus";

export function WorkspaceShell() {
  const settings = useSettings();
  const serverTitle = useConnection().title;
  const tabs = tabsOf(useConnectionState().hosted);
  const [tab, selectTab] = createTabRoute();
  const [visited, setVisited] = createSignal<ReadonlySet<TabId>>(new Set([tab()]));
  createEffect(() => {
    const id = tab();
    if (!visited().has(id)) setVisited(new Set([...visited(), id]));
  });

  // Where this page is, for the others: its tab, and the folder, document or thread it shows.
  const presence = usePresence();
  const files = useFiles();
  const agents = useAgents();
  createEffect(() => {
    const id = tab();
    const session = files.session();
    const path =
      id === "files"
        ? session?.explorer.dir()
        : id === "editor"
          ? session?.documents.active()
          : id === "agents"
            ? agents.roomPath()
            : undefined;
    const thread = id === "agents" ? agents.selected()?.thread : undefined;
    presence.setWhere({ tab: id, ...(path && { path }), ...(thread && { thread }) });
  });

  createEffect(() => {
    // A remote session's window is named after its target, so several are told apart.
    document.title = serverTitle ?? settings.state.view?.settings.title ?? DEFAULT_TITLE;
  });
  createEffect(() => {
    const color = settings.state.view?.settings.color;
    const root = document.documentElement.style;
    if (color) root.setProperty("--workspace-color", color);
    else root.removeProperty("--workspace-color");
  });
  onCleanup(() => {
    document.title = DEFAULT_TITLE;
    document.documentElement.style.removeProperty("--workspace-color");
  });

  return (
    <div class="shell" data-testid="workspace-shell">
      <TopBar tab={tab} onSelect={selectTab} />
      <StoreBanner />
      <AwayBanner />
      <PageCommands tabs={tabs} select={selectTab} />
      <main class="panes">
        <For each={tabs}>
          {(t) => (
            <Show when={visited().has(t.id)}>
              <section
                class="pane"
                role="tabpanel"
                id={`pane-${t.id}`}
                data-testid={`pane-${t.id}`}
                aria-labelledby={`tab-${t.id}`}
                hidden={tab() !== t.id}
              >
                <Dynamic component={t.pane} />
              </section>
            </Show>
          )}
        </For>
      </main>
    </div>
  );
}
