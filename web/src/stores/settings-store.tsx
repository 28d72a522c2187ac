/** The workspace's settings view (KV `settings`, key = wsid) and the commands that change it. */
import {
  type Accessor,
  createContext,
  createEffect,
  createSignal,
  type JSX,
  onCleanup,
  useContext,
} from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import type { CommandReply } from "../../../shared/commands.js";
import { Buckets, Keys, ServiceNames } from "../../../shared/subjects.js";
import {
  type Appearance,
  appearanceOf,
  ChangeSettings,
  type SettingsChange,
  type SettingsView,
} from "../../../shared/workspace.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";
import { useConnection } from "./connection-store.js";

/** The service that owns settings; its commands go to `workspaceSubjects(wsid).command(...)`. */

/** The view as stored: the projection also records the last applied stream sequence. */
export type SettingsRecord = SettingsView & { _seq: number };

export interface SettingsState {
  /** null until the workspace service has written the view. */
  view: SettingsRecord | null;
  /** The watch is failing (shown, not fatal: it retries). */
  problem: string | undefined;
}

export interface SettingsStore {
  readonly state: SettingsState;
  /** Sends ChangeSettings; the view updates through the watch, the reply says if it worked. */
  change(change: SettingsChange): Promise<CommandReply>;
  /** Theme and font sizes, the defaults until the view has arrived. */
  readonly appearance: Accessor<Appearance>;
  /** Whether the page is dark: the theme setting, or the browser's preference for "system". */
  readonly dark: Accessor<boolean>;
}

const DARK_QUERY = "(prefers-color-scheme: dark)";

export function createSettingsStore(conn: WorkspaceConnection): SettingsStore {
  const [state, setState] = createStore<SettingsState>({ view: null, problem: undefined });
  const stop = watchKv(conn, Buckets.settings, Keys.settings(conn.wsid), {
    reset: () => setState("view", null),
    entry: (e) => {
      if (e.operation !== "PUT") {
        setState("view", null);
        return;
      }
      const value = e.json<SettingsRecord>();
      if (typeof value?.settings?.title !== "string") {
        throw new Error("settings view has an unexpected shape");
      }
      setState("view", reconcile(value));
    },
    problem: (message) => setState("problem", message),
  });
  onCleanup(stop);
  const media = matchMedia(DARK_QUERY);
  const [systemDark, setSystemDark] = createSignal(media.matches);
  const onMedia = (e: MediaQueryListEvent) => setSystemDark(e.matches);
  media.addEventListener("change", onMedia);
  onCleanup(() => media.removeEventListener("change", onMedia));
  const appearance = () => appearanceOf(state.view?.settings);
  return {
    state,
    change: (change) => sendCommand(conn, ServiceNames.workspace, ChangeSettings.type, change),
    appearance,
    dark: () => {
      const theme = appearance().theme;
      return theme === "dark" || (theme === "system" && systemDark());
    },
  };
}

const SettingsContext = createContext<SettingsStore>();

export function SettingsProvider(props: { children: JSX.Element }) {
  const store = createSettingsStore(useConnection());
  // The page's colours follow the workspace's theme (styles.css reads data-theme).
  createEffect(() => {
    document.documentElement.dataset.theme = store.dark() ? "dark" : "light";
  });
  return <SettingsContext.Provider value={store}>{props.children}</SettingsContext.Provider>;
}

export function useSettings(): SettingsStore {
  const store = useContext(SettingsContext);
  if (!store) throw new Error("useSettings called outside <SettingsProvider>");
  return store;
}
