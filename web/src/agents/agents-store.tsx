/**
 * Agent chat for the page: the open chat room (a `.chat` file), its threads (view
 * `threads`), the turns of the selected thread (view `turns`), the agents installed, and
 * what can be done: create threads, change their settings, submit and stop turns, answer
 * permission requests, revert a file, store API keys. Turn logs are opened per visible turn.
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
import { createStore, reconcile } from "solid-js/store";
import type { Schedule } from "../../../shared/agent-schedule.js";
import {
  ArchiveThread,
  ChangeThreadSettings,
  CreateThread,
  DeleteThread,
  type DetectedAgent,
  defaultThreadSettings,
  InterruptTurn,
  looksLikeSecret,
  newThreadId,
  newTurnId,
  RemoveSchedule,
  roomIdentifiers,
  roomIdForPath,
  SetSchedule,
  SubmitTurn,
  type ThreadSettings,
  type ThreadSettingsChange,
  type ThreadView,
  type TurnView,
  threadIdentifiers,
} from "../../../shared/agents.js";
import { type Reply, requestReply } from "../../../shared/command-client.js";
import type { CommandReply } from "../../../shared/commands.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import { parentOf } from "../../../shared/paths.js";
import { ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import type { AgentKeyNames, AgentKeyScope } from "../lib/agent-keys.js";
import { requestSender, sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { messageOf } from "../lib/delay.js";
import { fileRoutes } from "../lib/file-routes.js";
import { watchKvRecords } from "../lib/kv-watch.js";
import { apiFetch } from "../lib/session.js";
import { useConnection } from "../stores/connection-store.js";
import { openTurnLog, type TurnLog } from "./turn-log.js";

/** Turns shown at first; "load older" shows this many more. */
export const TURNS_PAGE = 10;

export interface AgentsStore {
  /** The open chat room's file, if any. */
  readonly roomPath: Accessor<string | undefined>;
  openRoom(path: string): void;
  /** The room's threads that are not archived, newest first. */
  readonly threads: Accessor<ThreadView[]>;
  /** The room's archived threads, newest first. */
  readonly archived: Accessor<ThreadView[]>;
  readonly selected: Accessor<ThreadView | undefined>;
  select(thread: string): void;
  /** Turns of the selected thread, oldest first. */
  readonly turns: Accessor<TurnView[]>;
  readonly agents: Accessor<DetectedAgent[]>;
  readonly keyNames: Accessor<string[]>;
  /**
   * A hosted workspace: the names of the signed-in account's keys and (for an owner) the
   * workspace's; undefined where the workspace's agents service keeps them.
   */
  readonly hubKeyNames: Accessor<AgentKeyNames | undefined>;
  readonly problem: Accessor<string | undefined>;
  readonly lastError: Accessor<string | undefined>;
  clearError(): void;
  createThread(title: string, home: string): Promise<CommandReply>;
  changeSettings(change: ThreadSettingsChange, title?: string): Promise<CommandReply>;
  /** Puts the selected thread away (or takes it back). */
  archive(archived: boolean): Promise<CommandReply>;
  /** Deletes the selected thread: its turns and their logs go with it. */
  remove(): Promise<CommandReply>;
  /** Sets (replaces) the selected thread's schedule; pausing and resuming set it too. */
  setSchedule(schedule: Schedule): Promise<CommandReply>;
  removeSchedule(): Promise<CommandReply>;
  /** `now`: stops the running turn and runs this one next, before the queue. */
  submit(prompt: string, images: string[], now?: boolean): Promise<CommandReply>;
  interrupt(turn: string): Promise<CommandReply>;
  answer(turn: string, request: string, optionId: string): Promise<void>;
  revert(turn: string, path: string): Promise<void>;
  /**
   * Reverts every file the turn wrote. Without `force`, a file changed since the turn wrote it
   * refuses the whole revert (nothing changes) and the answer says which.
   */
  revertTurn(
    turn: string,
    force: boolean,
  ): Promise<{ ok: true; reverted: string[] } | { ok: false; error: ErrorPayload }>;
  /**
   * Stores (empty: removes) an API key; resolves with whether it was stored. A hosted
   * workspace's go to the account, or (`scope` "workspace", its owners) to the workspace.
   */
  setKey(name: string, value: string, scope?: AgentKeyScope): Promise<boolean>;
  /** A prompt put back into the composer to edit and send again (taken by the composer). */
  readonly draft: Accessor<{ text: string; images: string[] } | undefined>;
  setDraft(d: { text: string; images: string[] } | undefined): void;
  /** Starts the agent's own sign-in (`method`: an "agent" method of the thread's `auth`). */
  signIn(method: string): Promise<void>;
  /** Relays the address a sign-in's browser ended on; resolves with the agent's answer. */
  signInCallback(url: string): Promise<{ status: number; text: string } | undefined>;
  cancelSignIn(): Promise<void>;
  /** Uploads a pasted or dropped image next to the chat file; resolves with its path. */
  saveImage(file: Blob, name: string): Promise<string>;
  openLog(thread: string, turn: string): TurnLog;
}

function isThreadView(v: unknown): v is ThreadView {
  const t = v as ThreadView;
  return typeof t?.thread === "string" && typeof t.settings === "object" && Array.isArray(t.queue);
}
function isTurnView(v: unknown): v is TurnView {
  const t = v as TurnView;
  return typeof t?.turn === "string" && typeof t.status === "string" && typeof t.index === "number";
}

function stored(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}
function keep(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // private mode: not kept across reloads
  }
}

/** Sends a request to the agents service; its reply, a refusal included. */
function agentsReply<T>(conn: WorkspaceConnection, body: object): Promise<Reply<{ result: T }>> {
  const subject = workspaceSubjects(conn.wsid).request(ServiceNames.agents);
  return requestReply(requestSender(conn), subject, body, { timeoutMs: 30_000 });
}

/** The agents service's answer to a request; a refusal throws its message. */
async function request<T>(conn: WorkspaceConnection, body: object): Promise<T> {
  const r = await agentsReply<T>(conn, body);
  if (!r.ok) throw new Error(r.error.message);
  return r.result;
}

/** The thread a `#agents/<thread>` URL names. */
function threadOfHash(hash: string): string | undefined {
  return /^#agents\/([A-Za-z0-9_-]{8,64})$/.exec(hash)?.[1];
}

/** The last token of a view key: the thread or turn id. */
const lastToken = (key: string) => key.slice(key.lastIndexOf(".") + 1);

export function createAgentsStore(conn: WorkspaceConnection): AgentsStore {
  const roomKey = `cocalc-chat-room:${conn.wsid}`;
  const [roomPath, setRoomPath] = createSignal<string | undefined>(stored(roomKey));
  const room = createMemo(() => {
    const p = roomPath();
    return p ? roomIdForPath(p) : undefined;
  });
  const [threadRecords, setThreadRecords] = createStore<Record<string, ThreadView>>({});
  const [turnRecords, setTurnRecords] = createStore<Record<string, TurnView>>({});
  const [chosen, setChosen] = createSignal<string | undefined>();
  const [draft, setDraft] = createSignal<{ text: string; images: string[] }>();
  const [problem, setProblem] = createSignal<string>();
  const [lastError, setLastError] = createSignal<string>();
  const [agents, setAgents] = createSignal<DetectedAgent[]>([]);
  const [keyNames, setKeyNames] = createSignal<string[]>([]);
  const [hubKeyNames, setHubKeyNames] = createSignal<AgentKeyNames>();
  const showNames = (names: AgentKeyNames) => {
    setHubKeyNames(names);
    setKeyNames([...new Set([...names.account, ...(names.workspace ?? [])])].sort());
  };

  createEffect(() => {
    const r = room();
    setThreadRecords(reconcile({}));
    if (!r) return;
    const ids = roomIdentifiers(conn.wsid, r);
    const stop = watchKvRecords(conn, ids.bucket, ids.filter, {
      set: setThreadRecords,
      id: lastToken,
      valid: isThreadView,
      what: "thread record",
      problem: setProblem,
    });
    onCleanup(stop);
  });

  const all = createMemo(() =>
    Object.values(threadRecords).sort((a, b) => b.createdAt.localeCompare(a.createdAt)),
  );
  const threads = createMemo(() => all().filter((t) => !t.archived));
  const archived = createMemo(() => all().filter((t) => t.archived));
  // The thread a link or a reload names (`#agents/<thread>`), until one is chosen here.
  const [linked, setLinked] = createSignal(threadOfHash(location.hash));
  const onHash = () => setLinked(threadOfHash(location.hash));
  window.addEventListener("hashchange", onHash);
  onCleanup(() => window.removeEventListener("hashchange", onHash));
  const selected = createMemo(() => {
    const t = chosen();
    const l = linked();
    return (t && threadRecords[t]) || (l && threadRecords[l]) || threads()[0];
  });
  // The selected thread goes into the URL while the Agents tab shows (a reload keeps it).
  createEffect(() => {
    const id = selected()?.thread;
    if (!id || !/^#agents(\/|$)/.test(location.hash)) return;
    // The thread the URL names keeps its place there while its record is on its way: the
    // newest shows meanwhile, and a hashchange then (a tab shown) must not make it the link.
    const l = linked();
    if (l && l !== id && !threadRecords[l]) return;
    if (threadOfHash(location.hash) !== id) history.replaceState(null, "", `#agents/${id}`);
  });
  const selectedId = createMemo(() => selected()?.thread);
  const selectedRoom = createMemo(() => selected()?.room);

  createEffect(() => {
    const thread = selectedId();
    const r = selectedRoom();
    setTurnRecords(reconcile({}));
    if (!thread || !r) return;
    const ids = threadIdentifiers(conn.wsid, r, thread);
    const stop = watchKvRecords(conn, ids.turnsBucket, ids.turnsFilter, {
      set: setTurnRecords,
      id: lastToken,
      valid: isTurnView,
      what: "turn record",
      problem: setProblem,
    });
    onCleanup(stop);
  });
  const turns = createMemo(() => Object.values(turnRecords).sort((a, b) => a.index - b.index));

  void (async () => {
    for (let i = 0; i < 20; i++) {
      try {
        await conn.ready();
        setAgents((await request<{ agents: DetectedAgent[] }>(conn, { op: "detect" })).agents);
        if (conn.agentKeys) showNames(await conn.agentKeys.names());
        else setKeyNames((await request<{ names: string[] }>(conn, { op: "keys" })).names);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();

  const run = async (type: string, data: unknown): Promise<CommandReply> => {
    const reply = await sendCommand(conn, ServiceNames.agents, type, data);
    setLastError(reply.ok ? undefined : reply.error.message);
    return reply;
  };
  const need = () => {
    const t = selected();
    if (!t) throw new Error("no thread is selected");
    return t;
  };
  /** Thread `id` is no longer what shows: the newest of the list is. */
  const deselect = (id: string) => {
    if (chosen() === id) setChosen(undefined);
    if (linked() === id) setLinked(undefined);
  };
  const guard = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setLastError(undefined);
    } catch (err) {
      setLastError(messageOf(err));
    }
  };

  return {
    roomPath,
    openRoom(path) {
      setRoomPath(path);
      keep(roomKey, path);
      setChosen(undefined);
    },
    threads,
    archived,
    selected,
    select: setChosen,
    turns,
    agents,
    keyNames,
    hubKeyNames,
    problem,
    lastError,
    clearError: () => setLastError(undefined),
    async createThread(title, home) {
      const r = room();
      const path = roomPath();
      if (!r || !path)
        return { ok: false, error: { code: "ERR_INTERNAL", message: "no chat room is open" } };
      const base = selected()?.settings;
      const detected = agents()[0];
      // A new thread works where its chat file is, whatever the thread it copies used.
      const cwd = parentOf(path) || home;
      const settings: ThreadSettings = base
        ? { ...base, cwd, env: withoutSecrets(base.env) }
        : { ...defaultThreadSettings(cwd), agent: detected?.kind ?? "codex" };
      const thread = newThreadId();
      setChosen(thread);
      return run(CreateThread.type, { room: r, thread, title, settings });
    },
    changeSettings(change, title) {
      const t = need();
      return run(ChangeThreadSettings.type, {
        room: t.room,
        thread: t.thread,
        ...(Object.keys(change).length > 0 && { change }),
        ...(title !== undefined && { title }),
      });
    },
    async archive(archived) {
      const t = need();
      const reply = await run(ArchiveThread.type, { room: t.room, thread: t.thread, archived });
      // Put away, it leaves the list and the next thread shows (as a mail client does).
      if (reply.ok && archived) deselect(t.thread);
      return reply;
    },
    async remove() {
      const t = need();
      const reply = await run(DeleteThread.type, { room: t.room, thread: t.thread });
      if (reply.ok) deselect(t.thread);
      return reply;
    },
    setSchedule(schedule) {
      const t = need();
      return run(SetSchedule.type, { room: t.room, thread: t.thread, schedule });
    },
    removeSchedule() {
      const t = need();
      return run(RemoveSchedule.type, { room: t.room, thread: t.thread });
    },
    submit(prompt, images, now) {
      const t = need();
      return run(SubmitTurn.type, {
        room: t.room,
        thread: t.thread,
        turn: newTurnId(),
        prompt,
        images,
        ...(now && { now }),
      });
    },
    interrupt(turn) {
      const t = need();
      return run(InterruptTurn.type, { room: t.room, thread: t.thread, turn });
    },
    answer: (turn, req, optionId) =>
      guard(() =>
        request(conn, { op: "answer", thread: need().thread, turn, request: req, optionId }),
      ),
    revert: (turn, path) =>
      guard(() => request(conn, { op: "revert", thread: need().thread, turn, path })),
    async revertTurn(turn, force) {
      try {
        const body = { op: "revertTurn", thread: need().thread, turn, ...(force && { force }) };
        const r = await agentsReply<{ reverted: string[] }>(conn, body);
        return r.ok ? { ok: true, reverted: r.result.reverted } : r;
      } catch (err) {
        return { ok: false, error: { code: "ERR_INTERNAL", message: messageOf(err) } };
      }
    },
    draft,
    setDraft,
    signIn: (method) =>
      guard(() =>
        request(conn, { op: "signIn", room: need().room, thread: need().thread, method }),
      ),
    async signInCallback(url) {
      try {
        const t = need();
        const r = await request<{ status: number; text: string }>(conn, {
          op: "signInCallback",
          room: t.room,
          thread: t.thread,
          url,
        });
        setLastError(undefined);
        return r;
      } catch (err) {
        setLastError(messageOf(err));
        return undefined;
      }
    },
    cancelSignIn: () =>
      guard(() => request(conn, { op: "signInCancel", room: need().room, thread: need().thread })),
    async setKey(name, value, scope = "account") {
      try {
        if (conn.agentKeys) showNames(await conn.agentKeys.set(scope, name, value));
        else
          setKeyNames(
            (await request<{ names: string[] }>(conn, { op: "setKey", name, value })).names,
          );
        setLastError(undefined);
        return true;
      } catch (err) {
        setLastError(messageOf(err));
        return false;
      }
    },
    async saveImage(file, name) {
      const path = roomPath();
      if (!path) throw new Error("no chat room is open");
      const dir = parentOf(path);
      const stem = path.slice(dir.length + 1).replace(/\.chat$/, "");
      const q = new URLSearchParams({ dir, name: `.${stem}-images/${name}`, conflict: "rename" });
      const res = await apiFetch(`${fileRoutes(conn).upload}?${q}`, {
        method: "PUT",
        headers: { "Content-Type": "application/octet-stream" },
        body: file,
      });
      const body = (await res.json().catch(() => ({}))) as { path?: string; message?: string };
      if (res.status !== 201 || !body.path)
        throw new Error(body.message ?? `upload failed (${res.status})`);
      return body.path;
    },
    openLog: (thread, turn) => openTurnLog(conn, thread, turn),
  };
}

/** A thread from before secret-looking names were refused may still hold some: not copied. */
function withoutSecrets(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(([name, value]) => value === "" || !looksLikeSecret(name)),
  );
}

const AgentsContext = createContext<AgentsStore>();

export function AgentsProvider(props: { children: JSX.Element }) {
  const store = createAgentsStore(useConnection());
  return <AgentsContext.Provider value={store}>{props.children}</AgentsContext.Provider>;
}

export function useAgents(): AgentsStore {
  const store = useContext(AgentsContext);
  if (!store) throw new Error("useAgents called outside <AgentsProvider>");
  return store;
}
