/**
 * The workspace's terminals (KV `terms`, one record per terminal) and what can be done with
 * them: open a new one, open the named terminal of a `*.term` file (the file explorer calls
 * openPath), restart, close, and attach a terminal emulator to one.
 */
import {
  type Accessor,
  createContext,
  createEffect,
  createMemo,
  createSignal,
  type JSX,
  onCleanup,
  useContext,
} from "solid-js";
import { createStore } from "solid-js/store";
import type { CommandReply } from "../../../shared/commands.js";
import { Buckets, Keys, ServiceNames } from "../../../shared/subjects.js";
import {
  CloseTerminal,
  newTerminalId,
  OpenTerminal,
  type OpenTerminalData,
  RestartTerminal,
  TERM_DEFAULT_SIZE,
  type TerminalView,
  terminalIdForPath,
} from "../../../shared/terminals.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKvRecords } from "../lib/kv-watch.js";
import { useConnection } from "../stores/connection-store.js";
import { type SettingsStore, useSettings } from "../stores/settings-store.js";
import {
  attachTerminal,
  type SessionHooks,
  type TerminalSession,
  type TerminalSink,
} from "./terminal-session.js";

export const TERMINAL_FONT_SIZES = { min: 9, max: 28 } as const;

export interface TerminalsStore {
  /** Records by terminal id. */
  readonly records: Readonly<Record<string, TerminalView>>;
  /** Every terminal, oldest first. */
  readonly list: Accessor<TerminalView[]>;
  /** The terminal this page shows (kept across reloads of this tab). */
  readonly selected: Accessor<string | undefined>;
  select(tid: string): void;
  /** The watch is failing (it retries). */
  readonly problem: Accessor<string | undefined>;
  /** The last command that failed, for a notice. */
  readonly lastError: Accessor<string | undefined>;
  clearError(): void;
  /** A new terminal (in `cwd`, default the home directory), shown at once. */
  create(opts?: { cwd?: string; title?: string }): Promise<CommandReply>;
  /**
   * The named terminal of a terminal file (`/path/to/work.term`): opened if needed, selected,
   * and the Terminals tab shown. Opening the same path again is the same terminal.
   */
  openPath(path: string): Promise<CommandReply>;
  restart(tid: string): Promise<CommandReply>;
  close(tid: string): Promise<CommandReply>;
  /** Attaches a terminal emulator to a terminal until the session is stopped. */
  attach(tid: string, sink: TerminalSink, hooks: SessionHooks): TerminalSession;
  /** Font size of terminals in this browser. */
  readonly fontSize: Accessor<number>;
  setFontSize(size: number): void;
}

function isTerminalView(v: unknown): v is TerminalView {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Record<string, unknown>;
  return (
    typeof t.tid === "string" &&
    typeof t.title === "string" &&
    (t.status === "running" || t.status === "exited") &&
    typeof t.cols === "number" &&
    typeof t.rows === "number" &&
    Array.isArray(t.viewers)
  );
}

function stored(key: string): string | undefined {
  try {
    return sessionStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

export function createTerminalsStore(
  conn: WorkspaceConnection,
  settings: SettingsStore,
): TerminalsStore {
  const [records, setRecords] = createStore<Record<string, TerminalView>>({});
  const [problem, setProblem] = createSignal<string>();
  const [lastError, setLastError] = createSignal<string>();
  const selectionKey = `cocalc-terminal:${conn.wsid}`;
  const [chosen, setChosen] = createSignal<string | undefined>(stored(selectionKey));
  /** Terminals opened from this page whose record has not arrived yet. */
  const [opening, setOpening] = createSignal<ReadonlySet<string>>(new Set());
  const fontSize = () => settings.appearance().terminalFontSize;

  const stop = watchKvRecords(conn, Buckets.terms, Keys.terminals(conn.wsid), {
    set: setRecords,
    id: (key) => key.slice(key.indexOf(".") + 1),
    valid: isTerminalView,
    what: "terminal record",
    problem: setProblem,
  });
  onCleanup(stop);

  const list = createMemo(() =>
    Object.values(records).sort(
      (a, b) => a.openedAt.localeCompare(b.openedAt) || a.tid.localeCompare(b.tid),
    ),
  );

  const select = (tid: string) => {
    setChosen(tid);
    try {
      sessionStorage.setItem(selectionKey, tid);
    } catch {
      // private mode: the selection is not kept across reloads
    }
  };

  // The chosen terminal if it exists (or is being opened); else, e.g. when it was closed
  // here or elsewhere, the newest one.
  const selected = createMemo(() => {
    const tid = chosen();
    if (tid && (records[tid] || opening().has(tid))) return tid;
    return list().at(-1)?.tid;
  });
  createEffect(() => {
    const arrived = [...opening()].filter((tid) => records[tid]);
    if (arrived.length > 0) setOpening(new Set([...opening()].filter((t) => !records[t])));
  });

  const run = async (type: string, data: unknown): Promise<CommandReply> => {
    const reply = await sendCommand(conn, ServiceNames.terminals, type, data);
    setLastError(reply.ok ? undefined : reply.error.message);
    return reply;
  };

  const open = async (data: OpenTerminalData): Promise<CommandReply> => {
    setOpening(new Set([...opening(), data.tid]));
    select(data.tid);
    const reply = await run(OpenTerminal.type, data);
    if (!reply.ok) setOpening(new Set([...opening()].filter((t) => t !== data.tid)));
    return reply;
  };

  const nextTitle = () => {
    const used = new Set(list().map((t) => t.title));
    for (let n = 1; ; n++) if (!used.has(`Terminal ${n}`)) return `Terminal ${n}`;
  };

  return {
    records,
    list,
    selected,
    select,
    problem,
    lastError,
    clearError: () => setLastError(undefined),
    create: (opts = {}) =>
      open({
        tid: newTerminalId(),
        title: opts.title ?? nextTitle(),
        ...(opts.cwd !== undefined && { cwd: opts.cwd }),
        ...TERM_DEFAULT_SIZE,
      }),
    async openPath(path) {
      if (location.hash !== "#terminals") location.hash = "#terminals";
      return open({ tid: terminalIdForPath(path), path, ...TERM_DEFAULT_SIZE });
    },
    restart: (tid) => run(RestartTerminal.type, { tid }),
    close: (tid) => run(CloseTerminal.type, { tid }),
    attach: (tid, sink, hooks) => attachTerminal(conn, tid, sink, hooks),
    fontSize,
    setFontSize(size) {
      const s = Math.min(TERMINAL_FONT_SIZES.max, Math.max(TERMINAL_FONT_SIZES.min, size));
      // A workspace setting: every tab and device follows it.
      if (s !== fontSize()) void settings.change({ appearance: { terminalFontSize: s } });
    },
  };
}

const TerminalsContext = createContext<TerminalsStore>();

export function TerminalsProvider(props: { children: JSX.Element }) {
  const store = createTerminalsStore(useConnection(), useSettings());
  return <TerminalsContext.Provider value={store}>{props.children}</TerminalsContext.Provider>;
}

export function useTerminals(): TerminalsStore {
  const store = useContext(TerminalsContext);
  if (!store) throw new Error("useTerminals called outside <TerminalsProvider>");
  return store;
}
