/**
 * The agents service: thread commands and events (stream WS_CHAT) projected into the
 * `threads` and `turns` views; the turn runner, which starts each thread's queued turns one
 * at a time in an agent process of the pool, and writes every ACP update to the turn's log
 * (WS_AGENT_LOG); and requests that are not thread events (installed agents, permission
 * answers, API keys, reverting a file).
 *
 * A thread's turns run in the instance that started them; after a restart of the service, a
 * turn the view still shows as running did not finish and is marked failed, and the queue
 * goes on.
 */
import { readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type * as acp from "@agentclientprotocol/sdk";
import type { KV } from "@nats-io/kv";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import {
  type AgentRequest,
  AgentRequestSchema,
  type AgentResults,
  PERMISSION_TIMEOUT_MS,
  type StopReason,
  StopReasons,
  ThreadCommands,
  type ThreadEvent,
  ThreadEvents,
  type ThreadSettings,
  type ThreadView,
  TURN_HEARTBEAT_MS,
  type TurnLogEvent,
  TurnLogEvents,
  type TurnStatus,
  type TurnView,
  threadIdentifiers,
  turnEnded,
  turnIdentifiers,
  workspaceThreadIdentifiers,
} from "../../shared/agents.js";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { Buckets, ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { AggregateStore, KeyedMutex } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import type { Logger } from "../runtime/logger.js";
import { PathResolver } from "../runtime/paths.js";
import { projectionHandler } from "../runtime/projection.js";
import { isWrongLastSequence, publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";
import {
  clientSide,
  type LogData,
  replaceText,
  type TurnLogSink,
  type TurnScope,
} from "./client-side.js";
import {
  type ServiceCommand,
  type ThreadCommand,
  type ThreadDecided,
  type ThreadState,
  threadDecider,
} from "./decider.js";
import { EgressProxy } from "./egress.js";
import {
  type AgentPlace,
  type ContainerExec,
  containerPlace,
  hostPlace,
  WorkspaceFiles,
} from "./place.js";
import { AgentKeys, AgentPool } from "./pool.js";
import { threadOfSubject, threadsProjection, turnsProjection } from "./projections.js";
import {
  checkNotProtected,
  type ProtectedPath,
  protectedPaths,
  realOrNearest,
  resolveProtected,
} from "./protected.js";

export const AGENTS_SERVICE = ServiceNames.agents;
export const threadRegistry = new EventRegistry<ThreadEvent>(ThreadEvents);
export const turnLogRegistry = new EventRegistry<TurnLogEvent>(TurnLogEvents);

export interface AgentsServiceOptions {
  /** Where the 0600 file of API keys lives. */
  dataDir: string;
  /** The home directory (default: the user's). */
  home?: string;
  /** More places to look for installed agents (e.g. the package's node_modules/.bin). */
  binDirs?: string[];
  /** Agent processes at most (default 8). */
  maxProcesses?: number;
  /** An idle agent process is stopped after this long (default 10 min). */
  idleMs?: number;
  /** Time for initialize (default 30 s) and for session/new or load (default 60 s). */
  initTimeoutMs?: number;
  sessionTimeoutMs?: number;
  permissionTimeoutMs?: number;
  /** After a stop, the agent has this long to end its turn before it is killed (default 1.5 s). */
  cancelGraceMs?: number;
  /**
   * A container workspace (launchpad): agents and their commands run inside it through
   * `exec`, as the workspace user; files go through the workspace's fs service; paths (the
   * working directory, `home`) are the ones inside the container.
   */
  container?: { exec: ContainerExec; home: string };
  /** Rewrites error answers' and failed turns' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  /**
   * Files outside the data directory that hold plus's secrets (the connection-info and token
   * files): protected from agents outside full access like the data directory.
   */
  secretFiles?: readonly string[];
  /**
   * The durable consumer's name (default: the service's). Where one NATS serves many
   * workspaces (a launchpad host), each workspace's service needs its own.
   */
  durable?: string;
}

/** The largest update stored as is; bigger ones keep their kind and lose their content. */
const MAX_UPDATE_BYTES = 900 * 1024;

/** A turn's log: events published in order, pipelined; close() waits for all of them. */
class TurnLog implements TurnLogSink {
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  count = 0;

  constructor(
    private readonly ctx: ServiceContext,
    readonly subject: string,
  ) {}

  append<T extends TurnLogEvent["type"]>(type: T, data: LogData<T>): void {
    if (this.closed) return;
    const ev = envelope({ type, v: 1 }, data, { actor: AGENTS_SERVICE, at: new Date() });
    try {
      turnLogRegistry.check(ev);
    } catch (err) {
      this.ctx.log.warn({ type, err }, "turn log event not valid; skipped");
      return;
    }
    this.count++;
    const p = publishEvent(this.ctx.js, this.subject, ev, { timeoutMs: 30_000 }).then(
      () => {
        this.inflight.delete(p);
      },
      (err: unknown) => {
        this.inflight.delete(p);
        this.ctx.log.warn({ subject: this.subject, err }, "turn log event lost");
      },
    );
    this.inflight.add(p);
  }

  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(status: TurnStatus): Promise<void> {
    await this.flush();
    this.append("LogClosed", { status });
    this.closed = true;
    await this.flush();
  }
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
}

export async function startAgents(
  ctx: ServiceContext,
  opts: AgentsServiceOptions,
): Promise<RunningService> {
  return new Agents(ctx, opts).start();
}

class Agents {
  private readonly home: string;
  private readonly keys: AgentKeys;
  private readonly pool: AgentPool;
  private readonly place: AgentPlace;
  /** What confined agents can neither read nor write. */
  private readonly protect: readonly ProtectedPath[];
  private egress: EgressProxy | undefined;
  private readonly store: AggregateStore<ThreadCommand, ThreadDecided, ThreadState>;
  private readonly mutex = new KeyedMutex();
  /** The running turn of each thread (by thread id). */
  private readonly active = new Map<string, ActiveTurn>();
  /** Which running turn a session's requests and updates belong to. */
  private readonly bySession = new Map<string, ActiveTurn>();
  private readonly runs = new Set<Promise<void>>();
  private turns!: KV;
  private threads!: KV;
  private sub: Subscription | undefined;
  private stopping = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly o: AgentsServiceOptions,
  ) {
    this.home = o.container?.home ?? o.home ?? homedir();
    this.place = o.container
      ? containerPlace(o.container.exec, new WorkspaceFiles(ctx.nc, ctx.wsid))
      : hostPlace();
    this.keys = new AgentKeys(join(o.dataDir, "agent-keys.json"));
    this.protect = protectedPaths({
      dataDir: o.dataDir,
      home: this.home,
      ...(o.secretFiles && { secretFiles: o.secretFiles }),
    });
    this.pool = new AgentPool({
      max: o.maxProcesses ?? 8,
      idleMs: o.idleMs ?? 10 * 60_000,
      initTimeoutMs: o.initTimeoutMs ?? 30_000,
      binDirs: o.binDirs ?? [],
      keys: this.keys,
      log: ctx.log,
      home: this.home,
      protect: this.protect,
      egressSocket: () => {
        if (!this.egress) throw new Error("bug: the egress proxy is not running");
        return this.egress.socket;
      },
      place: this.place,
      handlers: clientSide(
        (sessionId) => this.bySession.get(sessionId)?.scope,
        (n) => this.onUpdate(n),
      ),
    });
    this.store = new AggregateStore({
      js: ctx.js,
      jsm: ctx.jsm,
      log: ctx.log,
      stream: workspaceThreadIdentifiers(ctx.wsid).stream,
      registry: threadRegistry,
      events: ThreadEvents,
      decider: threadDecider,
    });
  }

  private get log(): Logger {
    return this.ctx.log;
  }

  async start(): Promise<RunningService> {
    const { ctx } = this;
    const ws = workspaceThreadIdentifiers(ctx.wsid);
    const durable = this.o.durable ?? AGENTS_SERVICE;
    [this.threads, this.turns] = await Promise.all([
      ctx.kvm.open(ws.bucket),
      ctx.kvm.open(Buckets.turns),
    ]);
    const project = await projectionHandler(ctx.kvm, [threadsProjection, turnsProjection]);
    // Confined agents on this machine reach their API through it (a container has its own network).
    if (this.place.kind === "host") this.egress = await EgressProxy.start({ log: this.log });
    const consumer = await consumeEvents({
      nc: ctx.nc,
      js: ctx.js,
      jsm: ctx.jsm,
      stream: ws.stream,
      durable,
      filterSubject: ws.subjects,
      registry: threadRegistry,
      log: this.log,
      handle: async (e) => {
        await project(e);
        this.react(e);
      },
      rejected: project,
    });
    const commands = serveCommands<ThreadCommand, ThreadDecided, ThreadState>({
      nc: ctx.nc,
      log: this.log,
      subject: workspaceSubjects(ctx.wsid).command(AGENTS_SERVICE),
      commands: ThreadCommands,
      // One store for the wire's commands and the runner's: one cache per thread.
      store: this.store,
      aggregateSubject: (c) => {
        const d = c.data as { room: string; thread: string };
        return threadIdentifiers(ctx.wsid, d.room, d.thread).subject;
      },
      now: ctx.now,
    });
    this.serveRequests();
    // Threads whose queue was left waiting (or whose turn was cut by a restart) go on.
    void this.resume().catch((err) => this.log.warn({ err }, "resume failed"));
    return runningService([commands, consumer], async () => {
      this.stopping = true;
      this.sub?.unsubscribe();
      // Running turns are not ended here: the next start of the service marks them failed
      // (as after a crash) and goes on with the queues.
      await this.pool.stop();
      await Promise.race([
        Promise.allSettled([...this.runs]),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      await this.egress?.close();
    });
  }

  private async resume(): Promise<void> {
    const ws = workspaceThreadIdentifiers(this.ctx.wsid);
    for await (const key of await this.threads.keys(ws.keys)) {
      const e = await this.threads.get(key);
      if (e?.operation !== "PUT" || e.length === 0) continue;
      const v = e.json<ThreadView>();
      if (v.running || v.queue.length > 0) this.poke(v.room, v.thread);
    }
  }

  /** What an event means for the runner. */
  private react({ event, subject }: StoredEvent<ThreadEvent>): void {
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

  private poke(room: string, thread: string): void {
    void this.mutex
      .run(thread, () => this.pump(room, thread))
      .catch((err) => this.log.error({ thread, err }, "turn runner failed"));
  }

  private command(type: ServiceCommand["type"], data: ServiceCommand["data"]): ThreadCommand {
    return { type, data, actor: AGENTS_SERVICE, at: this.ctx.now().toISOString() } as ThreadCommand;
  }

  /** Starts the thread's next turn when none runs. */
  private async pump(room: string, thread: string): Promise<void> {
    if (this.active.has(thread) || this.stopping) return;
    const { subject } = threadIdentifiers(this.ctx.wsid, room, thread);
    let { state } = await this.store.state(subject);
    if (state.status !== "active") return;
    if (state.running) {
      const turn = state.running;
      this.log.warn({ thread, turn }, "a turn was cut by a restart of the service");
      await this.closeLog(thread, turn, "failed");
      state = (
        await this.store.execute(
          subject,
          this.command("FailTurn", {
            turn,
            code: "ERR_AGENT_RESTARTED",
            reason: "the agents service restarted while this turn ran; submit it again",
          }),
        )
      ).state;
      if (state.status !== "active") return;
    }
    const head = state.queue[0];
    if (!head) return;
    try {
      state = (await this.store.execute(subject, this.command("StartTurn", { turn: head }))).state;
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
      scope: {
        thread,
        turn: head,
        mode: state.settings.mode,
        cwd: state.settings.cwd,
        home: this.home,
        log: new TurnLog(this.ctx, turnIdentifiers(this.ctx.wsid, thread, head).logSubject),
        permissionTimeoutMs: this.o.permissionTimeoutMs ?? PERMISSION_TIMEOUT_MS,
        protect: this.protect,
        network: state.settings.network === true,
        place: this.place,
        keeper: this.pool.keeper,
        usage: (used, size) => {
          a.usage = { used, size };
        },
        terminals: new Map(),
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
    const log = new TurnLog(this.ctx, turnIdentifiers(this.ctx.wsid, thread, turn).logSubject);
    await log.close(status);
  }

  /** Runs one turn to its end and records how it ended. Never throws. */
  private async run(
    a: ActiveTurn,
    settings: ThreadSettings,
    known: string | undefined,
  ): Promise<void> {
    const { thread, turn, scope } = a;
    const log = scope.log as TurnLog;
    const ids = turnIdentifiers(this.ctx.wsid, thread, turn);
    const beat = setInterval(() => void this.writeLive(ids.key, a), TURN_HEARTBEAT_MS);
    let outcome: { stopReason: StopReason } | { code: string; reason: string };
    let proc: AgentProcess | undefined;
    try {
      // A stopped container workspace: say so (its root file system is there only while it runs).
      if (this.place.files) await this.place.files.realDir("/");
      const isDir = this.place.files
        ? await this.place.files.isDirectory(settings.cwd)
        : (await stat(settings.cwd).catch(() => undefined))?.isDirectory() === true;
      if (!isDir) {
        throw new CocalcError(
          "ERR_AGENT_SETTINGS",
          `the working directory ${settings.cwd} does not exist; change it in the thread settings`,
        );
      }
      if (this.place.kind === "host" && settings.mode !== "full-access") {
        // It would be hidden from the agent (and it holds secrets): choose another one.
        const real = await realOrNearest(settings.cwd);
        checkNotProtected(await resolveProtected(this.protect), settings.cwd, real);
      }
      const acquiring = this.pool.acquire(thread, settings, () =>
        log.append("AgentNotice", {
          level: "info",
          text: "every agent process is busy: this turn starts when one is free",
        }),
      );
      acquiring.then((p) => a.cancelled && this.pool.release(p)).catch(() => undefined);
      proc = await Promise.race([acquiring, a.stopped]);
      a.proc = proc;
      if (!proc.announced) {
        proc.announced = true;
        const info = proc.init?.agentInfo;
        log.append("AgentNotice", {
          level: "info",
          text: `${info?.name ?? "the agent"}${info?.version ? ` ${info.version}` : ""} started (ACP protocol ${proc.init?.protocolVersion ?? "?"})`,
        });
      }
      if (this.place.kind === "container" && settings.mode !== "full-access") {
        log.append("AgentNotice", {
          level: "info",
          text: `in a container workspace the agent and its commands run inside the container as the workspace user: ${settings.mode} mode governs the agent's file writes, and the container (not the working directory) bounds its commands`,
        });
      }
      if (a.cancelled) throw new Stopped();
      const sessionId = await Promise.race([this.session(a, proc, settings, known), a.stopped]);
      a.sessionId = sessionId;
      this.bySession.set(sessionId, a);
      if (a.cancelled) throw new Stopped();
      const prompt = await this.promptOf(turn, thread, proc);
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
          reason: this.o.hidePaths?.(e.message) ?? e.message,
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
    const status: TurnStatus =
      "code" in outcome ? "failed" : outcome.stopReason === "cancelled" ? "cancelled" : "finished";
    // The whole log is stored before the view says the turn ended.
    await log.close(status).catch(() => undefined);
    await this.writeLive(ids.key, a).catch(() => undefined);
    const { subject } = threadIdentifiers(this.ctx.wsid, a.room, thread);
    try {
      await this.store.execute(
        subject,
        "code" in outcome
          ? this.command("FailTurn", { turn, code: outcome.code, reason: outcome.reason })
          : this.command("FinishTurn", { turn, stopReason: outcome.stopReason }),
      );
    } catch (err) {
      this.log.error({ thread, turn, err }, "the end of a turn was not recorded");
    }
  }

  /** The thread's session in this process: reused, loaded, or created and assigned. */
  private async session(
    a: ActiveTurn,
    proc: AgentProcess,
    settings: ThreadSettings,
    known: string | undefined,
  ): Promise<string> {
    const timeout = this.o.sessionTimeoutMs ?? 60_000;
    const { subject } = threadIdentifiers(this.ctx.wsid, a.room, a.thread);
    const caps = proc.init?.agentCapabilities;
    const agentName = proc.init?.agentInfo?.name ?? settings.agent;
    const log = a.scope.log;
    if (known && proc.sessionId === known) return known;
    let configOptions: acp.SessionConfigOption[] | null | undefined;
    let sessionId: string | undefined;
    if (known) {
      const params = { sessionId: known, cwd: settings.cwd, mcpServers: [] };
      try {
        if (caps?.loadSession) {
          const r = await proc.within(
            proc.connection.agent.request(acpSdk().methods.agent.session.load, params),
            timeout,
            "session/load",
            "ERR_AGENT_SESSION",
          );
          configOptions = (r as { configOptions?: acp.SessionConfigOption[] } | undefined)
            ?.configOptions;
          sessionId = known;
          log.append("AgentNotice", { level: "info", text: `session ${known} loaded` });
        } else if (caps?.sessionCapabilities?.resume) {
          const r = await proc.within(
            proc.connection.agent.request(acpSdk().methods.agent.session.resume, params),
            timeout,
            "session/resume",
            "ERR_AGENT_SESSION",
          );
          configOptions = (r as { configOptions?: acp.SessionConfigOption[] } | undefined)
            ?.configOptions;
          sessionId = known;
          log.append("AgentNotice", { level: "info", text: `session ${known} resumed` });
        }
      } catch (err) {
        if (!proc.alive || (err instanceof CocalcError && err.code === "ERR_AGENT_AUTH")) throw err;
        log.append("AgentNotice", {
          level: "warning",
          text: `the agent could not load session ${known} (${err instanceof Error ? err.message : String(err)}); a new session starts`,
        });
      }
      if (!sessionId && !caps?.loadSession && !caps?.sessionCapabilities?.resume) {
        log.append("AgentNotice", {
          level: "warning",
          text: "this agent cannot load sessions: a new session starts, without the earlier turns",
        });
      }
    }
    if (!sessionId) {
      const r = await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.session.new, {
          cwd: settings.cwd,
          mcpServers: [],
        }),
        timeout,
        "session/new",
        "ERR_AGENT_SESSION",
      );
      sessionId = r.sessionId;
      configOptions = r.configOptions;
      await this.store.execute(
        subject,
        this.command("AssignSession", {
          sessionId,
          agent: agentName,
          ...(known !== undefined && { replaces: known }),
        }),
      );
    }
    proc.sessionId = sessionId;
    if (settings.model) await this.chooseModel(proc, sessionId, settings.model, configOptions, log);
    return sessionId;
  }

  private async chooseModel(
    proc: AgentProcess,
    sessionId: string,
    model: string,
    options: acp.SessionConfigOption[] | null | undefined,
    log: TurnLogSink,
  ): Promise<void> {
    const option = options?.find((o) => o.category === "model" || o.id === "model");
    if (!option) {
      log.append("AgentNotice", {
        level: "warning",
        text: `the agent offers no model choice; model ${model} is not applied`,
      });
      return;
    }
    try {
      await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.session.setConfigOption, {
          sessionId,
          configId: option.id,
          value: model,
        }),
        30_000,
        "session/set_config_option",
        "ERR_AGENT_SESSION",
      );
    } catch (err) {
      log.append("AgentNotice", {
        level: "warning",
        text: `model ${model} was not accepted: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  /** The prompt's content blocks: the text, and each image (inline when the agent takes images). */
  private async promptOf(
    turn: string,
    thread: string,
    proc: AgentProcess,
  ): Promise<acp.ContentBlock[]> {
    const view = await this.turns.get(turnIdentifiers(this.ctx.wsid, thread, turn).key);
    const t =
      view && view.operation === "PUT" && view.length > 0 ? view.json<TurnView>() : undefined;
    if (!t) throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `turn ${turn} has no record`);
    const blocks: acp.ContentBlock[] = [];
    if (t.prompt.trim() !== "") blocks.push({ type: "text", text: t.prompt });
    const inline = proc.init?.agentCapabilities?.promptCapabilities?.image === true;
    for (const path of t.images) {
      const mimeType = mimeOf(path);
      if (inline) {
        const data = await (this.place.files?.readBytes(path) ?? readFile(path)).catch(() => {
          throw new CocalcError("ERR_AGENT_PROMPT", `the image ${path} cannot be read`);
        });
        blocks.push({
          type: "image",
          data: data.toString("base64"),
          mimeType,
          uri: `file://${path}`,
        });
      } else {
        blocks.push({
          type: "resource_link",
          name: path.slice(path.lastIndexOf("/") + 1),
          uri: `file://${path}`,
          mimeType,
        });
      }
    }
    return blocks;
  }

  private onUpdate(n: acp.SessionNotification): void {
    const a = this.bySession.get(n.sessionId);
    if (!a) return;
    let update = n.update as unknown as { sessionUpdate: string } & Record<string, unknown>;
    if (update.sessionUpdate === "usage_update") {
      const u = update as unknown as { used: number; size: number };
      a.scope.usage(u.used, u.size);
    }
    if (JSON.stringify(update).length > MAX_UPDATE_BYTES) {
      update = { sessionUpdate: update.sessionUpdate, truncated: true };
    }
    a.scope.log.append("AgentUpdate", { update });
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
    }, this.o.cancelGraceMs ?? 1500);
  }

  /** Heartbeat and usage of a running turn, beside the projection in its view. */
  private async writeLive(key: string, a: ActiveTurn): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const e = await this.turns.get(key);
      if (e?.operation !== "PUT" || e.length === 0) return;
      const view = e.json<TurnView>();
      const next: TurnView = {
        ...view,
        heartbeatAt: this.ctx.now().toISOString(),
        ...(a.usage && { usage: a.usage }),
      };
      try {
        await this.turns.update(key, JSON.stringify(next), e.revision);
        return;
      } catch (err) {
        if (isWrongLastSequence(err) || /wrong last sequence/i.test(String(err))) continue;
        throw err;
      }
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  private serveRequests(): void {
    const subject = workspaceSubjects(this.ctx.wsid).request(AGENTS_SERVICE);
    this.sub = this.ctx.nc.subscribe(subject, {
      queue: subject,
      callback: (err, m) => {
        if (!err) void this.respond(m);
      },
    });
  }

  private async respond(m: Msg): Promise<void> {
    let reply: unknown;
    try {
      reply = { ok: true, result: await this.answer(parseRequest(m.data)) };
    } catch (err) {
      const error = toErrorPayload(err);
      if (error.code === "ERR_INTERNAL") this.log.error({ err }, "agents request failed");
      if (this.o.hidePaths) error.message = this.o.hidePaths(error.message);
      reply = { ok: false, error };
    }
    if (m.reply) m.respond(JSON.stringify(reply));
  }

  private async answer(r: AgentRequest): Promise<AgentResults[keyof AgentResults]> {
    switch (r.op) {
      case "detect":
        return { agents: await this.pool.detect() };
      case "keys":
        return { names: await this.keys.names() };
      case "setKey":
        return { names: await this.keys.set(r.name, r.value) };
      case "answer": {
        const a = this.active.get(r.thread);
        const answer = a?.turn === r.turn ? a.scope.permissions.get(r.request) : undefined;
        if (!answer) {
          throw new CocalcError(
            "ERR_AGENT_NOT_WAITING",
            `turn ${r.turn} is not waiting for ${r.request}`,
          );
        }
        answer(r.optionId, "user");
        return { answered: true };
      }
      case "revert": {
        const writes = await this.turnWrites(r.thread, r.turn);
        const file = writes.find((w) => w.path === r.path);
        if (!file)
          throw new CocalcError("ERR_AGENT_REQUEST", `turn ${r.turn} did not write ${r.path}`);
        refuseCut([file]);
        if (await this.changedSince(file)) {
          throw new CocalcError(
            "ERR_COMMAND_REJECTED",
            `${r.path} changed after the turn wrote it; not reverted`,
          );
        }
        await this.putBack(file);
        await this.recordRevert(r.thread, r.turn, [file.path], false);
        return { reverted: true };
      }
      case "revertTurn": {
        // Newest write first: a file written later may depend on one written before it.
        const writes = (await this.turnWrites(r.thread, r.turn)).reverse();
        if (writes.length === 0) {
          throw new CocalcError("ERR_AGENT_REQUEST", `turn ${r.turn} wrote no files`);
        }
        refuseCut(writes);
        const changed: string[] = [];
        for (const w of writes) if (await this.changedSince(w)) changed.push(w.path);
        if (changed.length > 0 && !r.force) {
          throw new CocalcError(
            "ERR_AGENT_REVERT_CONFLICT",
            `${changed.length === 1 ? "1 file" : `${changed.length} files`} changed after the turn wrote ${changed.length === 1 ? "it" : "them"} (${changed.join(", ")}); nothing was reverted`,
          );
        }
        for (const w of writes) await this.putBack(w);
        const paths = writes.map((w) => w.path);
        await this.recordRevert(r.thread, r.turn, paths, changed.length > 0);
        return { reverted: paths };
      }
      default: {
        const never: never = r;
        throw new Error(`unhandled op ${(never as { op: string }).op}`);
      }
    }
  }

  /**
   * What an ended turn wrote, one entry per file in the order of its last write: the content
   * before the turn's first write and after its last (or marked cut short: not revertable).
   */
  private async turnWrites(thread: string, turn: string): Promise<TurnWrite[]> {
    const ids = turnIdentifiers(this.ctx.wsid, thread, turn);
    const view = await this.turns.get(ids.key);
    if (view?.operation !== "PUT" || view.length === 0) {
      throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `no turn ${turn} in thread ${thread}`);
    }
    if (!turnEnded(view.json<TurnView>().status)) {
      throw new CocalcError(
        "ERR_AGENT_REQUEST",
        `turn ${turn} has not ended; it cannot be reverted yet`,
      );
    }
    const last = await lastSubjectSeq(this.ctx.jsm, ids.logStream, ids.logSubject);
    const events = await readSubject(
      this.ctx.js,
      turnLogRegistry,
      ids.logStream,
      ids.logSubject,
      0,
      last,
    );
    const files = new Map<string, TurnWrite>();
    for (const { event: e } of events) {
      if (e.type !== "FileWritten") continue;
      const prior = files.get(e.data.path);
      if (e.data.truncated || prior?.truncated) {
        files.delete(e.data.path);
        files.set(e.data.path, { path: e.data.path, before: null, after: "", truncated: true });
        continue;
      }
      files.delete(e.data.path);
      files.set(e.data.path, {
        path: e.data.path,
        before: prior ? prior.before : e.data.before,
        after: e.data.after,
        truncated: false,
      });
    }
    return [...files.values()];
  }

  private async changedSince(w: TurnWrite): Promise<boolean> {
    // A container workspace's files are read through its fs service, as its user.
    const files = this.place.files;
    const now = await (files ? files.readIfExists(w.path) : readFile(w.path, "utf8")).catch(
      () => null,
    );
    return now !== w.after;
  }

  /** Puts a file back as it was before the turn wrote it. */
  private async putBack(w: TurnWrite): Promise<void> {
    const files = this.place.files;
    if (files) {
      if (w.before === null) await files.remove(w.path);
      else await files.write(w.path, w.before);
    } else if (w.before === null) await rm(w.path, { force: true });
    else await replaceText(await PathResolver.create({ home: this.home }), w.path, w.before);
  }

  private async recordRevert(thread: string, turn: string, paths: string[], forced: boolean) {
    const view = await this.turns.get(turnIdentifiers(this.ctx.wsid, thread, turn).key);
    const room = view?.operation === "PUT" ? view.json<TurnView>().room : undefined;
    if (!room) return;
    const { subject } = threadIdentifiers(this.ctx.wsid, room, thread);
    await this.store.execute(subject, this.command("RecordRevert", { turn, paths, forced }));
  }
}

function refuseCut(writes: TurnWrite[]): void {
  const cut = writes.filter((w) => w.truncated).map((w) => w.path);
  if (cut.length > 0) {
    throw new CocalcError(
      "ERR_AGENT_REQUEST",
      `${cut.join(", ")} ${cut.length === 1 ? "is" : "are"} too large to revert from the log; nothing was reverted`,
    );
  }
}

interface TurnWrite {
  path: string;
  before: string | null;
  after: string;
  truncated: boolean;
}

class Stopped extends Error {
  constructor() {
    super("stopped");
  }
}

function parseRequest(raw: Uint8Array): AgentRequest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new CocalcError("ERR_AGENT_REQUEST", "the request is not valid JSON");
  }
  if (!Value.Check(AgentRequestSchema, value)) {
    const err = Value.Errors(AgentRequestSchema, value).First();
    throw new CocalcError(
      "ERR_AGENT_REQUEST",
      `bad request at ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  return value;
}

function mimeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const types: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    svg: "image/svg+xml",
  };
  return types[ext] ?? "application/octet-stream";
}
