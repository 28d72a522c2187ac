/**
 * The workspace's tabs: one registry that says what each tab is called and what it shows.
 * A pane is mounted on first visit and kept (hidden) afterwards, so what lives in it
 * (an editor, a terminal) survives switching tabs.
 */
import { type Accessor, type Component, createSignal, onCleanup } from "solid-js";
import { AgentsPane } from "./agents/agents-pane.js";
import { AppsIcon, AppsPane } from "./apps/apps-pane.js";
import {
  AgentIcon,
  EditorIcon,
  FilesIcon,
  RemoteIcon,
  SearchIcon,
  SettingsIcon,
  TerminalIcon,
} from "./components/icons.js";
import { SettingsForm } from "./components/settings-form.js";
import { EditorPane } from "./files/editor-pane.js";
import { FilesPane } from "./files/explorer.js";
import { RemoteSessionsPane } from "./remote/remote-sessions.js";
import { SearchPane } from "./search/search-pane.js";
import { SyncIcon, SyncPane } from "./sync/sync-pairs.js";
import { TerminalsPane } from "./terminals/terminals-pane.js";

export const TabIds = [
  "files",
  "editor",
  "search",
  "terminals",
  "agents",
  "settings",
  "remote",
  "sync",
  "apps",
] as const;
export type TabId = (typeof TabIds)[number];

export interface WorkspaceTab {
  id: TabId;
  label: string;
  icon: Component<{ size?: number }>;
  pane: Component;
  /** Only plus runs its service (a launchpad workspace's host does not). */
  plusOnly?: true;
}

export const workspaceTabs: readonly WorkspaceTab[] = [
  {
    id: "files",
    label: "Files",
    icon: FilesIcon,
    pane: FilesPane,
  },
  {
    id: "editor",
    label: "Editor",
    icon: EditorIcon,
    pane: EditorPane,
  },
  { id: "search", label: "Search", icon: SearchIcon, pane: SearchPane },
  {
    id: "terminals",
    label: "Terminals",
    icon: TerminalIcon,
    pane: TerminalsPane,
  },
  {
    id: "agents",
    label: "Agents",
    icon: AgentIcon,
    pane: AgentsPane,
  },
  { id: "settings", label: "Settings", icon: SettingsIcon, pane: SettingsForm },
  {
    id: "remote",
    label: "Remote sessions",
    icon: RemoteIcon,
    pane: RemoteSessionsPane,
    plusOnly: true,
  },
  { id: "sync", label: "Sync", icon: SyncIcon, pane: SyncPane, plusOnly: true },
  { id: "apps", label: "Apps", icon: AppsIcon, pane: AppsPane },
];

/** The tabs of a workspace: all of them on plus, those its host serves when hosted. */
export function tabsOf(hosted: boolean): readonly WorkspaceTab[] {
  return hosted ? workspaceTabs.filter((t) => !t.plusOnly) : workspaceTabs;
}

const DEFAULT_TAB: TabId = "files";

function tabOfHash(hash: string): TabId {
  // "#agents/<thread>": a tab may keep what it shows after its id.
  const id = hash.replace(/^#\/?/, "").split("/")[0]!;
  return (TabIds as readonly string[]).includes(id) ? (id as TabId) : DEFAULT_TAB;
}

/**
 * The selected tab, kept in the URL hash so a reload or a shared link opens the same tab.
 * Choosing a tab is a step of the browser's history: Back and Forward walk the tabs (and the
 * files opened in between, whose addresses name their tab too).
 */
export function createTabRoute(): [Accessor<TabId>, (id: TabId) => void] {
  const [tab, setTab] = createSignal<TabId>(tabOfHash(location.hash));
  const onHash = () => setTab(tabOfHash(location.hash));
  // A step back to an entry whose path differs fires popstate (hashchange only sometimes).
  window.addEventListener("hashchange", onHash);
  window.addEventListener("popstate", onHash);
  onCleanup(() => {
    window.removeEventListener("hashchange", onHash);
    window.removeEventListener("popstate", onHash);
  });
  const select = (id: TabId) => {
    setTab(id);
    if (tabOfHash(location.hash) !== id) history.pushState(null, "", `#${id}`);
  };
  return [tab, select];
}
