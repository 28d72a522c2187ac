/**
 * The terminals service: lifecycle commands and events (stream WS_TERM_LIFE, `.life`
 * subjects) projected into the `terms` view; the side effects on the pty host (spawn, kill); each
 * terminal's output pipe; keystrokes, resizes and viewer presence from core NATS.
 */
import { accessSync, constants } from "node:fs";
import { homedir, userInfo } from "node:os";
import type { KV } from "@nats-io/kv";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import type { StoredEvent } from "../../shared/envelope.js";
import { envelope } from "../../shared/envelope.js";
import {
  Buckets,
  Keys,
  ServiceNames,
  Streams,
  terminalIdOfSubject,
  terminalSubjects,
  workspaceSubjects,
  workspaceTerminalSubjects,
} from "../../shared/subjects.js";
import {
  type InputAck,
  parseInputTag,
  ResizeRequestSchema,
  TERM_INPUT_HEADER,
  TERM_MAX_INPUT,
  TerminalCommands,
  type TerminalEvent,
  TerminalEvents,
  TerminalExited,
  type TerminalView,
  type TerminalViewerInfo,
  VIEWER_HEARTBEAT_MS,
  ViewerPresenceSchema,
} from "../../shared/terminals.js";
import type { SettingsView } from "../../shared/workspace.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import type { WorkspaceGate } from "../runtime/gate.js";
import { writeLive } from "../runtime/live.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import {
  type TerminalCommand,
  type TerminalDecided,
  type TerminalState,
  terminalDecider,
} from "./decider.js";
import { type HostEvents, type HostLocation, PtyHostClient } from "./host-client.js";
import type { HostMessage, SpawnSpec } from "./host-protocol.js";
import { InputOrder } from "./input-order.js";
import { moveLifecycle } from "./lifecycle-move.js";
import { TerminalPipe } from "./pipe.js";
import { termsProjection } from "./projections.js";
import { TerminalReplay, terminalRegistry } from "./replay.js";

export const TERMINALS_SERVICE = ServiceNames.terminals;

export interface TerminalsServiceOptions {
  /** Rewrites error answers' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  /** The pty host's directory (socket, pid file, log); one per workspace. */
  dir: string;
  /** The pty host script, run with this Node. */
  hostScript: string;
  /**
   * The host ends its shells when no service has been connected for this long; 0 keeps them
   * until told otherwise (daemon mode). Default 60 s.
   */
  orphanExitMs?: number;
  /** The shell when neither the workspace settings nor the login database name one. */
  shell?: string;
  /** Where a terminal without a directory starts (default: the home directory). */
  home?: string;
  /**
   * The durable consumer's name (default: the service's). Where one NATS serves many
   * workspaces (a launchpad host), each workspace's service needs its own.
   */
  durable?: string;
  /**
   * Shells that run elsewhere (a container workspace): the command that starts a login shell
   * in `cwd` there (falling back to the home directory itself). `home` is then the home
   * directory over there.
   */
  /**
   * Shells can start only while the workspace runs (a container workspace): opening a terminal
   * is refused unless it runs or is starting, and a shell starts once it runs.
   */
  gate?: WorkspaceGate;
  shellCommand?(o: { cwd: string; env: Record<string, string> }): {
    file: string;
    args: string[];
    /** Keystrokes wait for the shell's first output (see SpawnSpec.holdInput). */
    holdInput?: boolean;
  };
}

const VIEWER_TIMEOUT_MS = 3 * VIEWER_HEARTBEAT_MS;
const STOP_SETTLE_MS = 3000;
/** How long keystrokes for a terminal whose open was just decided wait for it to start. */
const EARLY_INPUT_MS = 30_000;

type Live = Pick<TerminalView, "pid" | "viewers">;

function executable(path: string | undefined): path is string {
  if (!path?.startsWith("/")) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function startTerminals(
  ctx: ServiceContext,
  opts: TerminalsServiceOptions,
): Promise<RunningService> {
  const t = new Terminals(ctx, opts);
  return t.start();
}

class Terminals {
  private readonly pipes = new Map<string, TerminalPipe>();
  private readonly pipesOpening = new Map<string, Promise<TerminalPipe>>();
  private host: PtyHostClient | undefined;
  private hostOpening: Promise<PtyHostClient> | undefined;
  private readonly location: HostLocation;
  private readonly home: string;
  private terms!: KV;
  private snapshots!: KV;
  private settings!: KV;
  private readonly subs: Subscription[] = [];
  private readonly viewers = new Map<string, Map<string, TerminalViewerInfo & { seen: number }>>();
  private readonly viewerWrites = new Map<string, NodeJS.Timeout>();
  /** Keystrokes for terminals whose shell is being started: they go in once it runs. */
  private readonly early = new Map<string, Uint8Array[]>();
  /** Numbered keystrokes: each written once, in order. */
  private readonly inputOrder = new InputOrder();
  private sweeper: NodeJS.Timeout | undefined;
  private failure!: (err: unknown) => void;
  private readonly failed: Promise<never>;
  private stopping = false;

  constructor(
    private readonly ctx: ServiceContext,
    opts: TerminalsServiceOptions,
  ) {
    this.location = {
      dir: opts.dir,
      script: opts.hostScript,
      orphanExitMs: opts.orphanExitMs ?? 60_000,
    };
    this.home = opts.home ?? homedir();
    this.shellDefault = opts.shell;
    this.shellCommand = opts.shellCommand;
    this.hidePaths = opts.hidePaths;
    this.gate = opts.gate;
    this.durable = opts.durable ?? TERMINALS_SERVICE;
    this.failed = new Promise<never>((_, reject) => {
      this.failure = reject;
    });
    this.failed.catch(() => undefined);
  }

  private readonly shellDefault: string | undefined;
  private readonly shellCommand: TerminalsServiceOptions["shellCommand"];
  private readonly hidePaths: TerminalsServiceOptions["hidePaths"];
  private readonly gate: WorkspaceGate | undefined;
  private readonly durable: string;

  private get log() {
    return this.ctx.log;
  }

  private readonly hostEvents: HostEvents = {
    output: (tid, offset, data) => this.pipes.get(tid)?.output(offset, data),
    exit: (m) => void this.onExit(m),
    lost: (err) => this.fail(err),
  };

  private fail(err: unknown): void {
    if (this.stopping) return;
    this.log.error({ err }, "terminals service failed; it will be restarted");
    this.failure(err);
  }

  async start(): Promise<RunningService> {
    const { ctx } = this;
    [this.terms, this.snapshots, this.settings] = await Promise.all([
      ctx.kvm.open(Buckets.terms),
      ctx.kvm.open(Buckets.termSnapshots),
      ctx.kvm.open(Buckets.settings),
    ]);
    try {
      // A host that runs already has our shells; none running is fine until a terminal opens.
      this.host = await PtyHostClient.connect(this.location, this.hostEvents, this.log, false);
      if (this.host) this.log.info({ hostPid: this.host.hello.pid }, "reattached to the pty host");
      await moveLifecycle({
        js: ctx.js,
        jsm: ctx.jsm,
        terms: this.terms,
        wsid: ctx.wsid,
        durable: this.durable,
        actor: TERMINALS_SERVICE,
        log: this.log,
        now: ctx.now,
      });
      await this.reconcile();
      this.listen();
    } catch (err) {
      await this.teardown();
      throw err;
    }
    const project = await projectionHandler(ctx.kvm, [termsProjection]);
    const consumer = await consumeEvents({
      nc: ctx.nc,
      js: ctx.js,
      jsm: ctx.jsm,
      stream: Streams.WS_TERM_LIFE,
      durable: this.durable,
      filterSubject: workspaceTerminalSubjects(ctx.wsid).life,
      registry: terminalRegistry,
      log: this.log,
      handle: (e) => this.handle(e, project),
      rejected: project,
    });
    const decider: typeof terminalDecider = {
      ...terminalDecider,
      decide: (command, state) => {
        const decided = terminalDecider.decide(command, state);
        // Keystrokes sent right after the reply must not be lost while the shell starts.
        if (decided.some((e) => e.type === "TerminalOpened" || e.type === "TerminalRestarted"))
          this.holdEarly(command.data.tid);
        return decided;
      },
    };
    const commands = serveCommands<TerminalCommand, TerminalDecided, TerminalState>({
      nc: ctx.nc,
      log: this.log,
      subject: workspaceSubjects(ctx.wsid).command(TERMINALS_SERVICE),
      commands: TerminalCommands,
      store: new AggregateStore({
        js: ctx.js,
        jsm: ctx.jsm,
        log: this.log,
        stream: Streams.WS_TERM_LIFE,
        registry: terminalRegistry,
        events: TerminalEvents,
        decider,
      }),
      aggregateSubject: (c) => terminalSubjects(ctx.wsid, c.data.tid).life,
      now: ctx.now,
      ...(this.hidePaths && { hidePaths: this.hidePaths }),
      // A shell needs a running (or starting) workspace.
      check: async (c) => {
        if (c.type === "OpenTerminal" || c.type === "RestartTerminal") await this.gate?.check();
      },
    });
    return runningService([commands, consumer], (graceful) => this.teardown(graceful), this.failed);
  }

  /** Releases everything; the pty host and its shells keep running. */
  private async teardown(graceful = false): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    for (const t of this.viewerWrites.values()) clearTimeout(t);
    for (const s of this.subs) s.unsubscribe();
    if (graceful) {
      // Store what is in flight and leave a fresh snapshot, so the next start attaches fast.
      await Promise.all(
        [...this.pipes.values()].map(async (p) => {
          const settled = p.settled().then(() => p.snapshot());
          await Promise.race([settled, new Promise((r) => setTimeout(r, STOP_SETTLE_MS))]);
        }),
      );
    }
    for (const p of this.pipes.values()) p.close();
    this.pipes.clear();
    this.host?.close();
    this.host = undefined;
  }

  /** After a (re)start: the view says what should run, the host what does. */
  private async reconcile(): Promise<void> {
    const { wsid } = this.ctx;
    const hosted = new Map((this.host?.terminals ?? []).map((h) => [h.tid, h]));
    const views = new Map<string, TerminalView>();
    for await (const key of await this.terms.keys(Keys.terminals(wsid))) {
      const e = await this.terms.get(key);
      if (e && e.operation === "PUT" && e.length > 0) {
        const v = e.json<TerminalView>();
        views.set(v.tid, v);
      }
    }
    const now = Date.now();
    for (const v of views.values()) {
      // Viewers from before the restart get one timeout to show they are still there.
      this.viewers.set(
        v.tid,
        new Map((v.viewers ?? []).map((x) => [x.id, { ...x, seen: now }] as const)),
      );
      const h = hosted.get(v.tid);
      if (h) {
        const pipe = await this.ensurePipe(
          v.tid,
          v.generation,
          v.status === "exited" ? v.generation : undefined,
        );
        this.host!.attach(v.tid, pipe.offset);
        await this.setLive(v.tid, (live) => ({ ...live, pid: h.alive ? h.pid : undefined }));
      } else if (v.status === "running") {
        this.log.warn({ tid: v.tid }, "terminal lost: its pty host is not running");
        const event = envelope(
          TerminalExited,
          {
            generation: v.generation,
            code: null,
            signal: null,
            reason: "the shell ended with its pty host (the machine or cocalc-plus was restarted)",
          },
          { actor: TERMINALS_SERVICE, at: this.ctx.now() },
        );
        await publishEvent(this.ctx.js, terminalSubjects(wsid, v.tid).life, event);
      }
    }
    for (const h of hosted.values()) {
      if (views.has(h.tid)) continue;
      // Not (yet) in the view: either an open not projected yet, or a terminal that was closed.
      const life = terminalSubjects(wsid, h.tid).life;
      const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_TERM_LIFE, life);
      const events = last > 0 ? await this.eventsOf(h.tid, last - 1, last) : [];
      if (events.length === 0 || events[0]!.event.type === "TerminalClosed") {
        this.log.info({ tid: h.tid }, "ending a shell whose terminal is closed");
        await this.host!.kill(h.tid);
        this.host!.forget(h.tid);
      } else {
        const pipe = await this.ensurePipe(h.tid, h.generation);
        this.host!.attach(h.tid, pipe.offset);
      }
    }
  }

  private eventsOf(tid: string, after: number, upTo: number) {
    return readSubject(
      this.ctx.js,
      terminalRegistry,
      Streams.WS_TERM_LIFE,
      terminalSubjects(this.ctx.wsid, tid).life,
      after,
      upTo,
    );
  }

  private ensureHost(): Promise<PtyHostClient> {
    if (this.host) return Promise.resolve(this.host);
    this.hostOpening ??= PtyHostClient.connect(this.location, this.hostEvents, this.log, true)
      .then((h) => {
        this.host = h!;
        return this.host;
      })
      .finally(() => {
        this.hostOpening = undefined;
      });
    return this.hostOpening;
  }

  /** The terminal's pipe, its mirror rebuilt from the newest snapshot and the stream after it. */
  private ensurePipe(
    tid: string,
    generation: number,
    exitRecorded?: number,
  ): Promise<TerminalPipe> {
    const existing = this.pipes.get(tid);
    if (existing) return Promise.resolve(existing);
    let opening = this.pipesOpening.get(tid);
    if (!opening) {
      opening = (async () => {
        // Loaded with the first terminal: most of a start-up does not need an emulator.
        const { HeadlessScreen } = await import("./screen.js");
        const screen = new HeadlessScreen(80, 24);
        const replay = new TerminalReplay({
          js: this.ctx.js,
          jsm: this.ctx.jsm,
          snapshots: this.snapshots,
          wsid: this.ctx.wsid,
          tid,
          screen,
          onGap: (expected, got) =>
            this.log.warn({ tid, expected, got }, "stored output has a gap"),
        });
        const at = await replay.attach();
        await screen.idle();
        const pipe = new TerminalPipe({
          js: this.ctx.js,
          snapshots: this.snapshots,
          host: await this.ensureHost(),
          wsid: this.ctx.wsid,
          tid,
          screen,
          seq: at.seq,
          offset: at.offset,
          snapshotSeq: at.snapshotSeq,
          generation,
          ...(exitRecorded !== undefined && { exitRecorded }),
          log: this.log,
          now: this.ctx.now,
          fail: (err) => this.fail(err),
        });
        this.pipes.set(tid, pipe);
        return pipe;
      })().finally(() => this.pipesOpening.delete(tid));
      this.pipesOpening.set(tid, opening);
    }
    return opening;
  }

  private async onExit(m: Extract<HostMessage, { op: "exit" }>): Promise<void> {
    const pipe = this.pipes.get(m.tid);
    if (!pipe) return;
    try {
      await pipe.exited(m.generation, m.code, m.signal, m.reason);
      if (m.generation === pipe.generation)
        await this.setLive(m.tid, (l) => ({ ...l, pid: undefined }));
    } catch (err) {
      this.fail(err);
    }
  }

  /** The consumer's handler: the side effect first, then the view (a redelivery is a no-op). */
  private async handle(
    stored: StoredEvent<TerminalEvent>,
    project: (e: StoredEvent) => Promise<void>,
  ): Promise<void> {
    const { event, seq, subject } = stored;
    const tid = terminalIdOfSubject(subject);
    if (!tid) return;
    const entry = await this.terms.get(Keys.terminal(this.ctx.wsid, tid));
    const view =
      entry && entry.operation === "PUT" && entry.length > 0
        ? entry.json<TerminalView & { _seq: number }>()
        : undefined;
    if (view && view._seq >= seq) return;
    let pid: number | undefined;
    switch (event.type) {
      case "TerminalOpened":
      case "TerminalRestarted":
        if (!(await this.superseded(tid, seq, event.data.generation))) {
          pid = await this.spawn(tid, event, view);
        }
        break;
      case "TerminalClosed":
        await this.close(tid);
        break;
      default:
        break;
    }
    await project(stored);
    if (event.type === "TerminalOpened" || pid !== undefined) {
      // Viewers may have come before the record did.
      const viewers = this.viewerList(tid);
      await this.setLive(tid, (l) => ({ pid: pid ?? l.pid, viewers }));
    }
  }

  /** True when later events ended or replaced this generation (then it must not be started). */
  private async superseded(tid: string, seq: number, generation: number): Promise<boolean> {
    const life = terminalSubjects(this.ctx.wsid, tid).life;
    const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_TERM_LIFE, life);
    if (last <= seq) return false;
    return (await this.eventsOf(tid, seq, last)).some(({ event: e }) => {
      switch (e.type) {
        case "TerminalClosed":
          return true;
        case "TerminalExited":
          return e.data.generation >= generation;
        case "TerminalOpened":
        case "TerminalRestarted":
          return e.data.generation > generation;
        default:
          return false;
      }
    });
  }

  private async shell(): Promise<string> {
    try {
      const e = await this.settings.get(Keys.settings(this.ctx.wsid));
      const chosen = e && e.operation === "PUT" ? e.json<SettingsView>().settings.defaultShell : "";
      if (executable(chosen)) return chosen;
    } catch {
      // no settings yet
    }
    let login: string | undefined;
    try {
      login = userInfo().shell ?? undefined;
    } catch {
      login = undefined;
    }
    for (const candidate of [this.shellDefault, login, process.env.SHELL, "/bin/bash"]) {
      if (executable(candidate)) return candidate;
    }
    return "/bin/sh";
  }

  private async spawn(
    tid: string,
    event: Extract<TerminalEvent, { type: "TerminalOpened" | "TerminalRestarted" }>,
    view: TerminalView | undefined,
  ): Promise<number | undefined> {
    const generation = event.data.generation;
    if (this.gate) {
      // Opened while the workspace starts: the shell starts once it runs.
      try {
        await this.gate.whenRunning();
      } catch (err) {
        await this.exitedBeforeStart(tid, generation, (err as Error).message);
        return undefined;
      }
    }
    const pipe = await this.ensurePipe(tid, generation);
    pipe.generation = generation;
    const host = await this.ensureHost();
    const opened = event.type === "TerminalOpened" ? event.data : undefined;
    const cwd = opened?.cwd ?? view?.cwd ?? this.home;
    const env = {
      TERM: "xterm-256color",
      COLORTERM: "truecolor",
      TERM_PROGRAM: "cocalc-plus",
      COCALC_TERMINAL_ID: tid,
    };
    // Elsewhere, the command (podman exec) runs here from / and finds the directory there.
    const elsewhere = this.shellCommand?.({ cwd, env });
    const spec: SpawnSpec = {
      tid,
      generation,
      restart: event.type === "TerminalRestarted",
      shell: elsewhere?.file ?? (await this.shell()),
      // A login shell: the PATH and environment a login gives (/etc/profile, ~/.profile).
      args: elsewhere?.args ?? ["-l"],
      cwd: elsewhere ? "/" : cwd,
      home: elsewhere ? "/" : this.home,
      env,
      cols: opened?.cols ?? pipe.cols,
      rows: opened?.rows ?? pipe.rows,
      startOffset: pipe.offset,
      ...(elsewhere?.holdInput && { holdInput: true }),
    };
    // The recording starts with the terminal's size, so a replay from scratch has it.
    if (opened && (!pipe.recorded || pipe.cols !== opened.cols || pipe.rows !== opened.rows)) {
      pipe.mark(opened.cols, opened.rows);
    }
    if (!this.early.has(tid)) this.early.set(tid, []);
    let r: Awaited<ReturnType<PtyHostClient["spawn"]>>;
    try {
      r = await host.spawn(spec);
    } finally {
      for (const data of this.early.get(tid) ?? []) host.input(tid, data);
      this.early.delete(tid);
    }
    host.attach(tid, pipe.offset);
    this.log.info({ tid, generation, shellPid: r.pid, adopted: r.adopted }, "terminal started");
    return r.pid;
  }

  /** A shell that could not start because its workspace does not run. */
  private async exitedBeforeStart(tid: string, generation: number, reason: string): Promise<void> {
    this.early.delete(tid);
    this.log.info({ tid, reason }, "terminal not started");
    const event = envelope(
      TerminalExited,
      { generation, code: null, signal: null, reason },
      { actor: TERMINALS_SERVICE, at: this.ctx.now() },
    );
    await publishEvent(this.ctx.js, terminalSubjects(this.ctx.wsid, tid).life, event);
  }

  /** Holds keystrokes for a terminal about to start (given up if it never does). */
  private holdEarly(tid: string): void {
    if (this.early.has(tid) || this.pipes.has(tid)) return;
    this.early.set(tid, []);
    setTimeout(() => {
      if (!this.pipes.has(tid)) this.early.delete(tid);
    }, EARLY_INPUT_MS).unref();
  }

  private async close(tid: string): Promise<void> {
    const pipe = this.pipes.get(tid);
    pipe?.close();
    this.pipes.delete(tid);
    const host = this.host;
    if (host) {
      await host.kill(tid);
      host.forget(tid);
    }
    await this.snapshots.purge(Keys.terminal(this.ctx.wsid, tid)).catch(() => undefined);
    // The output goes with the terminal; its lifecycle events stay as history.
    await this.ctx.jsm.streams
      .purge(Streams.WS_TERM, { filter: terminalSubjects(this.ctx.wsid, tid).out })
      .catch((err) => this.log.warn({ tid, err }, "output not purged"));
    this.viewers.delete(tid);
  }

  // ---- core NATS: keystrokes, resizes, presence --------------------------------------------

  private listen(): void {
    const s = workspaceTerminalSubjects(this.ctx.wsid);
    this.subscribe(s.input, (m, tid) => {
      if (m.data.length === 0 || m.data.length > TERM_MAX_INPUT) return;
      const early = this.early.get(tid);
      const tag = parseInputTag(m.headers?.get(TERM_INPUT_HEADER));
      const answer = (ack: InputAck) => {
        if (tag && m.reply) m.respond(JSON.stringify(ack));
      };
      if (!early && !this.pipes.has(tid)) {
        answer({ ok: false, gone: true });
        return;
      }
      // Held keys of a terminal about to start are at most 64 pieces; more are asked again.
      if (early && early.length >= 64) {
        if (tag) answer({ ok: false, expect: tag.seq });
        return;
      }
      const taken = tag ? this.inputOrder.take(tid, tag) : { write: true };
      if (taken.write) {
        if (early) early.push(m.data);
        else this.host?.input(tid, m.data);
      }
      if ("ack" in taken) answer(taken.ack);
    });
    this.subscribe(s.resize, (m, tid) => {
      const req = parseJson(m.data);
      if (!Value.Check(ResizeRequestSchema, req)) return;
      const pipe = this.pipes.get(tid);
      if (!pipe || !this.host || !pipe.resize(req.cols, req.rows)) return;
      this.host.resize(tid, req.cols, req.rows);
    });
    this.subscribe(s.viewer, (m, tid) => {
      const p = parseJson(m.data);
      if (!Value.Check(ViewerPresenceSchema, p)) return;
      const map = this.viewers.get(tid) ?? new Map();
      this.viewers.set(tid, map);
      const known = map.has(p.viewer);
      if (p.state === "closed") {
        if (map.delete(p.viewer)) this.writeViewers(tid);
        return;
      }
      const now = Date.now();
      const since = map.get(p.viewer)?.since ?? new Date(now).toISOString();
      map.set(p.viewer, { id: p.viewer, label: p.label, since, seen: now });
      if (!known) this.writeViewers(tid);
    });
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [tid, map] of this.viewers) {
        let changed = false;
        for (const [id, v] of map) {
          if (now - v.seen > VIEWER_TIMEOUT_MS) changed = map.delete(id) || changed;
        }
        if (changed) this.writeViewers(tid);
      }
    }, VIEWER_HEARTBEAT_MS / 2);
    this.sweeper.unref();
  }

  private subscribe(subject: string, handle: (m: Msg, tid: string) => void): void {
    const sub = this.ctx.nc.subscribe(subject);
    this.subs.push(sub);
    void (async () => {
      for await (const m of sub) {
        const tid = terminalIdOfSubject(m.subject);
        if (!tid) continue;
        try {
          handle(m, tid);
        } catch (err) {
          this.log.warn({ tid, subject: m.subject, err }, "message ignored");
        }
      }
    })();
  }

  /** Presence changes are written a moment later, so a burst of them is one write. */
  private writeViewers(tid: string): void {
    if (this.viewerWrites.has(tid)) return;
    const timer = setTimeout(() => {
      this.viewerWrites.delete(tid);
      const list = this.viewerList(tid);
      void this.setLive(tid, (l) => ({ ...l, viewers: list })).catch((err) =>
        this.log.warn({ tid, err }, "viewers not written"),
      );
    }, 100);
    timer.unref();
    this.viewerWrites.set(tid, timer);
  }

  private viewerList(tid: string): TerminalViewerInfo[] {
    return [...(this.viewers.get(tid)?.values() ?? [])]
      .map(({ id, label, since }) => ({ id, label, since }))
      .sort((a, b) => a.since.localeCompare(b.since));
  }

  /** Writes live fields into a terminal's view; no view, no write. */
  private async setLive(tid: string, patch: (live: Live) => Live): Promise<void> {
    await writeLive<TerminalView>(this.terms, Keys.terminal(this.ctx.wsid, tid), (view) => {
      const live = patch({ pid: view.pid, viewers: view.viewers ?? [] });
      const next = { ...view, viewers: live.viewers };
      if (live.pid === undefined) delete next.pid;
      else next.pid = live.pid;
      return next;
    });
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
