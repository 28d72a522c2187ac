/**
 * The turn runner: starts each thread's queued turns one at a time in an agent process of its
 * pool, writes every ACP update to the turn's log, keeps the turn's heartbeat and usage in its
 * view, and records how the turn ended. A stop maps to ACP cancel, then to killing the process.
 *
 * A thread's turns run in the instance that started them; after a restart of the service, a
 * turn the view still shows as running did not finish and is marked failed, and the queue
 * goes on.
 */
import { stat } from "node:fs/promises";
import type * as acp from "@agentclientprotocol/sdk";
import type { KV } from "@nats-io/kv";
import {
  type AgentAuth,
  MAX_UNTRACKED_LISTED,
  PERMISSION_TIMEOUT_MS,
  type StopReason,
  StopReasons,
  type ThreadEvent,
  type ThreadSettings,
  type ThreadView,
  TURN_HEARTBEAT_MS,
  type TurnStatus,
  type TurnView,
  threadIdentifiers,
  turnIdentifiers,
  workspaceThreadIdentifiers,
} from "../../shared/agents.js";
import type { StoredEvent } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { isInside } from "../../shared/paths.js";
import { KeyedMutex } from "../runtime/aggregate.js";
import { writeLive } from "../runtime/live.js";
import type { Logger } from "../runtime/logger.js";
import type { ServiceContext } from "../runtime/service.js";
import { acpClientHandlers, type TurnScope } from "./acp-client.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";
import { openSession } from "./agent-session.js";
import { containerTree, hostTree, TreeSnapshot } from "./command-changes.js";
import type { AgentsServiceOptions } from "./options.js";
import type { AgentPlace } from "./place.js";
import { AgentPool } from "./pool.js";
import { readTurnView, threadOfSubject } from "./projections.js";
import { promptOf } from "./prompt.js";
import {
  checkNotProtected,
  deniedPaths,
  type ProtectedPath,
  realOrNearest,
  resolveProtected,
} from "./protected.js";
import { afterUpdate, SESSION_OFFER_UPDATES } from "./session-config.js";
import type { ServiceThreads } from "./threads.js";
import { diffsOf, recordToolEdits, type ToolDiff } from "./tool-edits.js";
import { loggedUpdate, TurnLog } from "./turn-log.js";

/** How long, and how many, updates of a session not known yet are held (see `early`). */
const EARLY_UPDATES_MS = 60_000;
const MAX_EARLY_UPDATES = 200;
const MAX_EARLY_SESSIONS = 16;

export interface TurnRunnerDeps {
  ctx: ServiceContext;
  options: AgentsServiceOptions;
  home: string;
  place: AgentPlace;
  /** The API keys of a turn, by who submitted it. */
  keysFor: (by: string) => Promise<Record<string, string>>;
  /** What confined agents can neither read nor write. */
  protect: readonly ProtectedPath[];
  threads: ServiceThreads;
  /** The `threads` view (the agent's sign-in methods are written beside the projection). */
  threadViews: KV;
  turns: KV;
  /** The egress proxy's socket (confined agents on this machine reach their API through it). */
  egressSocket: () => string;
}

interface ActiveTurn {
  room: string;
  thread: string;
  turn: string;
  scope: TurnScope;
  proc?: AgentProcess;
  sessionId?: string;
  cancelled: boolean;
  /** Settles when the turn is stopped: a start that hangs is not waited for. */
  stopped: Promise<never>;
  stop: () => void;
  cancelTimer?: NodeJS.Timeout;
  usage?: { used: number; size: number };
  /** The diff content of the turn's tool calls, and whether their edits were recorded. */
  tools: Map<string, { diffs: ToolDiff[]; recorded: boolean }>;
  /** Recording of the edits of completed tool calls, in order; waited for before the log ends. */
  edits: Promise<void>;
}

class Stopped extends Error {
  constructor() {
    super("stopped");
  }
}

export class TurnRunner {
  readonly pool: AgentPool;
  private readonly mutex = new KeyedMutex();
  /** The running turn of each thread (by thread id). */
  private readonly active = new Map<string, ActiveTurn>();
  /** Which running turn a session's requests and updates belong to. */
  private readonly bySession = new Map<string, ActiveTurn>();
  /**
   * The open session of each thread's process, between turns too: an agent may tell its
   * commands or modes after a turn ended (codex-acp tells its commands just after session/new).
   */
  private readonly openSessions = new Map<
    string,
    { room: string; thread: string; proc: AgentProcess }
  >();
  /**
   * What a session not known yet offers (its commands, modes, options): an agent may send it before its answer to
   * session/new has been read here (the notification's handler runs first). Each is handled,
   * in order, as soon as its session is known; held a minute at most, and a bounded number.
   */
  private readonly early = new Map<string, { at: number; updates: acp.SessionNotification[] }>();
  private readonly runs = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly d: TurnRunnerDeps) {
    const o = d.options;
    this.pool = new AgentPool({
      max: o.maxProcesses ?? 8,
      idleMs: o.idleMs ?? 10 * 60_000,
      initTimeoutMs: o.initTimeoutMs ?? 30_000,
      binDirs: o.binDirs ?? [],
      log: d.ctx.log,
      home: d.home,
      protect: d.protect,
      egressSocket: d.egressSocket,
      place: d.place,
      handlers: acpClientHandlers(
        (sessionId) => this.bySession.get(sessionId)?.scope,
        (n) => this.onUpdate(n),
      ),
    });
  }

  private get log(): Logger {
    return this.d.ctx.log;
  }

  /**
   * Stops taking turns and stops the agent processes. Running turns are not ended here: the
   * next start of the service marks them failed (as after a crash) and goes on with the queues.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.pool.stop();
    await Promise.race([
      Promise.allSettled([...this.runs]),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
  }

  /** Threads whose queue was left waiting (or whose turn was cut by a restart) go on. */
  async resume(threadViews: KV): Promise<void> {
    const ws = workspaceThreadIdentifiers(this.d.ctx.wsid);
    for await (const key of await threadViews.keys(ws.keys)) {
      const e = await threadViews.get(key);
      if (e?.operation !== "PUT" || e.length === 0) continue;
      const v = e.json<ThreadView>();
      if (v.running || v.queue.length > 0) this.poke(v.room, v.thread);
    }
  }

  /** The working directory as it is before a turn (undefined when it cannot be looked at). */
  private async snapshot(cwd: string): Promise<TreeSnapshot | undefined> {
    const { place } = this.d;
    try {
      // A container's files go through its fs service, as its user (paths as seen inside).
      if (place.files) {
        const root = await place.files.realDir(cwd);
        return await TreeSnapshot.take(containerTree(place.files), root, () => false);
      }
      const denied = deniedPaths(await resolveProtected(this.d.protect));
      const excluded = (p: string) => denied.some((d) => p === d || isInside(p, d));
      return await TreeSnapshot.take(hostTree, await realOrNearest(cwd), excluded);
    } catch (err) {
      this.log.warn({ cwd, err }, "the working directory was not looked at");
      return undefined;
    }
  }

  /** Records what changed under the working directory that the log has no write of. */
  private async recordCommandChanges(snapshot: TreeSnapshot, log: TurnLog): Promise<void> {
    try {
      const c = await snapshot.changes(log.written);
      for (const w of c.writes) {
        log.append("FileWritten", {
          path: w.path,
          before: w.before,
          after: w.after,
          truncated: false,
          byCommand: true,
          ...(w.deleted && { deleted: true }),
        });
      }
      if (c.untracked.length > 0 || c.partial) {
        log.append("FilesChangedUntracked", {
          files: c.untracked.slice(0, MAX_UNTRACKED_LISTED),
          more: Math.max(0, c.untracked.length - MAX_UNTRACKED_LISTED),
          partial: c.partial,
        });
      }
    } catch (err) {
      this.log.warn({ err }, "what the turn's commands changed was not recorded");
    }
  }

  /** What an event means for the runner. */
  react({ event, subject }: StoredEvent<ThreadEvent>): void {
    const t = threadOfSubject(subject);
    if (!t || this.stopping) return;
    if (event.type === "TurnInterrupted") {
      const a = this.active.get(t.thread);
      if (a && a.turn === event.data.turn) {
        this.cancel(a, "stopped");
        return;
      }
    }
    if (event.type !== "TurnQueued" && event.type !== "ThreadSettingsChanged") {
      this.poke(t.room, t.thread);
    }
  }

  /** The user's answer to a permission request of a running turn. */
  answer(thread: string, turn: string, request: string, optionId: string): void {
    const a = this.active.get(thread);
    const answer = a?.turn === turn ? a.scope.permissions.get(request) : undefined;
    if (!answer) {
      throw new CocalcError("ERR_AGENT_NOT_WAITING", `turn ${turn} is not waiting for ${request}`);
    }
    answer(optionId, "user");
  }

  private poke(room: string, thread: string): void {
    void this.mutex
      .run(thread, () => this.pump(room, thread))
      .catch((err) => this.log.error({ thread, err }, "turn runner failed"));
  }

  /** Starts the thread's next turn when none runs. */
  private async pump(room: string, thread: string): Promise<void> {
    if (this.active.has(thread) || this.stopping) return;
    const { ctx, threads } = this.d;
    let state = await threads.state(room, thread);
    if (state.status !== "active") return;
    if (state.running) {
      const turn = state.running;
      this.log.warn({ thread, turn }, "a turn was cut by a restart of the service");
      await this.closeLog(thread, turn, "failed");
      state = await threads.execute(room, thread, "FailTurn", {
        turn,
        code: "ERR_AGENT_RESTARTED",
        reason: "the agents service restarted while this turn ran; submit it again",
      });
      if (state.status !== "active") return;
    }
    const head = state.queue[0];
    if (!head) return;
    try {
      state = await threads.execute(room, thread, "StartTurn", { turn: head });
    } catch (err) {
      if (err instanceof CocalcError && err.code === "ERR_COMMAND_REJECTED") return;
      throw err;
    }
    if (state.status !== "active") return;
    let stop!: () => void;
    const stopped = new Promise<never>((_, reject) => {
      stop = () => reject(new Stopped());
    });
    stopped.catch(() => undefined);
    const a: ActiveTurn = {
      room,
      thread,
      turn: head,
      cancelled: false,
      stopped,
      stop,
      tools: new Map(),
      edits: Promise.resolve(),
      scope: {
        thread,
        turn: head,
        mode: state.settings.mode,
        cwd: state.settings.cwd,
        home: this.d.home,
        log: new TurnLog(ctx, thread, head),
        permissionTimeoutMs: this.d.options.permissionTimeoutMs ?? PERMISSION_TIMEOUT_MS,
        protect: this.d.protect,
        network: state.settings.network === true,
        place: this.d.place,
        keeper: this.pool.keeper,
        usage: (used, size) => {
          a.usage = { used, size };
        },
        terminals: new Map(),
        written: new Map(),
        permissions: new Map(),
      },
    };
    this.active.set(thread, a);
    const run = this.run(a, state.settings, state.sessionId).finally(() => {
      this.active.delete(thread);
      this.runs.delete(run);
      this.poke(room, thread);
    });
    this.runs.add(run);
  }

  private async closeLog(thread: string, turn: string, status: TurnStatus): Promise<void> {
    const { ctx } = this.d;
    const log = new TurnLog(ctx, thread, turn);
    await log.close(status);
  }

  /** Runs one turn to its end and records how it ended. Never throws. */
  private async run(
    a: ActiveTurn,
    settings: ThreadSettings,
    known: string | undefined,
  ): Promise<void> {
    const { ctx, place, options } = this.d;
    const { thread, turn, scope } = a;
    const log = scope.log as TurnLog;
    const ids = turnIdentifiers(ctx.wsid, thread, turn);
    const beat = setInterval(
      () =>
        void this.writeLive(ids.key, a).catch((err) =>
          this.d.ctx.log.warn({ turn: a.turn, err }, "heartbeat not written"),
        ),
      TURN_HEARTBEAT_MS,
    );
    let outcome: { stopReason: StopReason } | { code: string; reason: string };
    let proc: AgentProcess | undefined;
    let snapshot: TreeSnapshot | undefined;
    try {
      // A stopped container workspace: say so (its root file system is there only while it runs).
      if (place.files) await place.files.realDir("/");
      const isDir = place.files
        ? await place.files.isDirectory(settings.cwd)
        : (await stat(settings.cwd).catch(() => undefined))?.isDirectory() === true;
      if (!isDir) {
        throw new CocalcError(
          "ERR_AGENT_SETTINGS",
          `the working directory ${settings.cwd} does not exist; change it in the thread settings`,
        );
      }
      if (place.kind === "host" && settings.mode !== "full-access") {
        // It would be hidden from the agent (and it holds secrets): choose another one.
        const real = await realOrNearest(settings.cwd);
        checkNotProtected(await resolveProtected(this.d.protect), settings.cwd, real);
      }
      // What the turn's commands change is found by looking at the folder before and after:
      // before, while the agent and its session start (it gets the prompt once this is done).
      const taking = this.snapshot(settings.cwd);
      const by = (await readTurnView(this.d.turns, ids.key))?.by ?? "user";
      const acquiring = this.pool.acquire(thread, settings, await this.d.keysFor(by), () =>
        log.append("AgentNotice", {
          level: "info",
          text: "every agent process is busy: this turn starts when one is free",
        }),
      );
      acquiring.then((p) => a.cancelled && this.pool.release(p)).catch(() => undefined);
      proc = await Promise.race([acquiring, a.stopped]);
      a.proc = proc;
      await this.showAuth(a, proc);
      if (!proc.announced) {
        proc.announced = true;
        const info = proc.init?.agentInfo;
        log.append("AgentNotice", {
          level: "info",
          text: `${info?.name ?? "the agent"}${info?.version ? ` ${info.version}` : ""} started (ACP protocol ${proc.init?.protocolVersion ?? "?"})`,
        });
      }
      if (place.kind === "container" && settings.mode !== "full-access") {
        log.append("AgentNotice", {
          level: "info",
          text: `in a container workspace the agent and its commands run inside the container as the workspace user: ${settings.mode} mode governs the agent's file writes, and the container (not the working directory) bounds its commands`,
        });
      }
      if (a.cancelled) throw new Stopped();
      const session = openSession(proc, settings, known, {
        log,
        timeoutMs: options.sessionTimeoutMs ?? 60_000,
        assign: (assigned) => this.d.threads.execute(a.room, thread, "AssignSession", assigned),
      });
      const sessionId = await Promise.race([session, a.stopped]);
      a.sessionId = sessionId;
      for (const [id, o] of this.openSessions)
        if (o.thread === thread) this.openSessions.delete(id);
      this.openSessions.set(sessionId, { room: a.room, thread, proc });
      this.bySession.set(sessionId, a);
      this.release(sessionId);
      void this.showSession(a, proc);
      if (a.cancelled) throw new Stopped();
      const view = await readTurnView(this.d.turns, ids.key);
      if (!view) throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `turn ${turn} has no record`);
      const prompt = await promptOf(view, proc, place);
      snapshot = await taking;
      if (a.cancelled) throw new Stopped();
      const response = await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.session.prompt, { sessionId, prompt }),
        0,
        "session/prompt",
      );
      const reason = response.stopReason as StopReason;
      outcome = {
        stopReason: a.cancelled ? "cancelled" : StopReasons.includes(reason) ? reason : "end_turn",
      };
    } catch (err) {
      if (a.cancelled) {
        outcome = { stopReason: "cancelled" };
      } else {
        const e = toErrorPayload(err);
        outcome = {
          code: e.code === "ERR_INTERNAL" ? "ERR_AGENT_PROTOCOL" : e.code,
          reason: options.hidePaths?.(e.message) ?? e.message,
        };
        this.log.info({ thread, turn, code: e.code, reason: e.message }, "turn failed");
      }
      if (proc && !proc.alive) this.pool.drop(thread, proc);
    } finally {
      clearInterval(beat);
      clearTimeout(a.cancelTimer);
      for (const answer of [...scope.permissions.values()]) answer(undefined, "turn-ended");
      for (const t of scope.terminals.values()) t.kill();
      if (a.sessionId) this.bySession.delete(a.sessionId);
    }
    if (proc) {
      if (proc.alive) this.pool.release(proc);
      else this.pool.drop(thread, proc);
    }
    if ("code" in outcome && outcome.code === "ERR_AGENT_CRASHED") {
      log.append("AgentNotice", {
        level: "error",
        text: "the agent process ended; a new one starts with the next turn",
      });
    }
    if (this.stopping) return;
    await a.edits;
    // Only a turn that ran commands: what changed meanwhile is likely theirs (not someone else's).
    if (snapshot && log.ranCommand) await this.recordCommandChanges(snapshot, log);
    const status: TurnStatus =
      "code" in outcome ? "failed" : outcome.stopReason === "cancelled" ? "cancelled" : "finished";
    // The whole log is stored before the view says the turn ended.
    await log.close(status).catch(() => undefined);
    await this.writeLive(ids.key, a).catch(() => undefined);
    try {
      if ("code" in outcome) {
        await this.d.threads.execute(a.room, thread, "FailTurn", {
          turn,
          code: outcome.code,
          reason: outcome.reason,
        });
      } else {
        await this.d.threads.execute(a.room, thread, "FinishTurn", {
          turn,
          stopReason: outcome.stopReason,
        });
      }
    } catch (err) {
      this.log.error({ thread, turn, err }, "the end of a turn was not recorded");
    }
  }

  private onUpdate(n: acp.SessionNotification): void {
    if (!this.sessionKnown(n.sessionId)) {
      this.hold(n);
      return;
    }
    this.release(n.sessionId);
    this.handleUpdate(n);
  }

  private sessionKnown(sessionId: string): boolean {
    if (this.bySession.has(sessionId) || this.openSessions.has(sessionId)) return true;
    for (const x of this.active.values()) if (x.proc?.sessionId === sessionId) return true;
    return false;
  }

  private hold(n: acp.SessionNotification): void {
    // Only what the session offers: a loaded session's replay of its past is not this turn's.
    const kind = (n.update as { sessionUpdate?: string }).sessionUpdate;
    if (!kind || !SESSION_OFFER_UPDATES.has(kind)) return;
    const now = Date.now();
    for (const [id, h] of this.early) if (now - h.at > EARLY_UPDATES_MS) this.early.delete(id);
    const held = this.early.get(n.sessionId);
    if (held) {
      if (held.updates.length < MAX_EARLY_UPDATES) held.updates.push(n);
      return;
    }
    if (this.early.size >= MAX_EARLY_SESSIONS) return;
    this.early.set(n.sessionId, { at: now, updates: [n] });
  }

  /** What `sessionId` sent before it was known, handled now (in the order it came). */
  private release(sessionId: string): void {
    const held = this.early.get(sessionId);
    if (!held) return;
    this.early.delete(sessionId);
    for (const n of held.updates) this.handleUpdate(n);
  }

  private handleUpdate(n: acp.SessionNotification): void {
    const a =
      this.bySession.get(n.sessionId) ??
      // A session still being opened (its first updates come before it is assigned).
      [...this.active.values()].find((x) => x.proc?.sessionId === n.sessionId);
    const update = n.update as unknown as { sessionUpdate: string } & Record<string, unknown>;
    if (!a) {
      const open = this.openSessions.get(n.sessionId);
      if (!open?.proc.alive || open.proc.sessionId !== n.sessionId) {
        this.openSessions.delete(n.sessionId);
        return;
      }
      const next = afterUpdate(open.proc.session, update);
      if (next) {
        open.proc.session = next;
        void this.showSession(open, open.proc);
      }
      return;
    }
    if (update.sessionUpdate === "usage_update") {
      const u = update as unknown as { used: number; size: number };
      a.scope.usage(u.used, u.size);
    }
    a.scope.log.append("AgentUpdate", { update: loggedUpdate(update) });
    if (update.sessionUpdate === "tool_call" || update.sessionUpdate === "tool_call_update") {
      this.followTool(a, update);
    }
    const proc = a.proc;
    const next = proc && afterUpdate(proc.session, update);
    if (proc && next) {
      proc.session = next;
      void this.showSession(a, proc);
    }
  }

  /** What the session offers (modes, options, commands), in the thread's view. */
  private async showSession(
    a: { room: string; thread: string },
    proc: AgentProcess,
  ): Promise<void> {
    const key = threadIdentifiers(this.d.ctx.wsid, a.room, a.thread).key;
    const session = proc.session;
    await writeLive<ThreadView>(this.d.threadViews, key, (view) => ({
      ...view,
      session: {
        // A loaded session may not tell its commands again: the ones it told before stay.
        ...(!session.commands && view.session?.commands && { commands: view.session.commands }),
        ...session,
      },
    })).catch((err) => this.log.warn({ thread: a.thread, err }, "session options not shown"));
  }

  /** Keeps a tool call's diffs; once it completed, its edits are recorded (for a revert). */
  private followTool(a: ActiveTurn, update: Record<string, unknown>): void {
    const id = String(update.toolCallId);
    let tool = a.tools.get(id);
    const diffs = diffsOf(update.content);
    if (diffs.length > 0) {
      tool ??= { diffs: [], recorded: false };
      tool.diffs = diffs;
      a.tools.set(id, tool);
    }
    if (update.status !== "completed" || !tool || tool.recorded) return;
    tool.recorded = true;
    const recorded = tool.diffs;
    a.edits = a.edits
      .then(() => recordToolEdits(a.scope, id, recorded))
      .catch((err) => this.log.warn({ turn: a.turn, err }, "tool edits not recorded"));
  }

  /** Stops a running turn: ACP cancel, then the process is killed if the agent does not end it. */
  private cancel(a: ActiveTurn, why: string): void {
    if (a.cancelled) return;
    a.cancelled = true;
    a.stop();
    this.log.info({ thread: a.thread, turn: a.turn, why }, "stopping a turn");
    for (const answer of [...a.scope.permissions.values()]) answer(undefined, "turn-ended");
    for (const t of a.scope.terminals.values()) t.kill();
    const proc = a.proc;
    if (proc && a.sessionId) {
      void proc.connection.agent
        .notify(acpSdk().methods.agent.session.cancel, { sessionId: a.sessionId })
        .catch(() => undefined);
    }
    a.cancelTimer = setTimeout(() => {
      if (this.active.get(a.thread) === a) {
        a.scope.log.append("AgentNotice", {
          level: "warning",
          text: "the agent did not stop in time; its process was ended",
        });
        a.proc?.kill();
      }
    }, this.d.options.cancelGraceMs ?? 1500);
  }

  /** How the thread's agent signs in, in the thread's view (the page offers it). */
  private async showAuth(a: ActiveTurn, proc: AgentProcess): Promise<void> {
    const key = threadIdentifiers(this.d.ctx.wsid, a.room, a.thread).key;
    const auth: AgentAuth = {
      agent: proc.init?.agentInfo?.title ?? proc.init?.agentInfo?.name ?? "the agent",
      methods: proc.auth.methods,
      ...(proc.auth.using && { using: proc.auth.using }),
    };
    await writeLive<ThreadView>(this.d.threadViews, key, (view) => ({ ...view, auth })).catch(
      (err) => this.log.warn({ thread: a.thread, err }, "sign-in methods not shown"),
    );
  }

  /** Heartbeat and usage of a running turn, beside the projection in its view. */
  private async writeLive(key: string, a: ActiveTurn): Promise<void> {
    const { turns, ctx } = this.d;
    await writeLive<TurnView>(turns, key, (view) => ({
      ...view,
      heartbeatAt: ctx.now().toISOString(),
      ...(a.usage && { usage: a.usage }),
    }));
  }
}
