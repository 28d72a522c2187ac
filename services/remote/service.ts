/**
 * The remote service: sessions as events (stream REMOTE, `remote.<sid>.session`) projected
 * into the `remote-sessions` view; one supervisor per session that works towards what the
 * user asked for last (running, stopped, removed): connect over ssh, install, start the
 * remote daemon, forward a local port, and restart the tunnel with backoff when it dies.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { Value } from "@sinclair/typebox/value";
import { randomId } from "../../shared/base64url.js";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  ASK_TIMEOUT_MS,
  type ConnectMode,
  formatTarget,
  parseTarget,
  RemoteCommands,
  type RemoteEvent,
  RemoteEvents,
  RemoteRequestSchema,
  type RemoteSessionView,
  type SessionOptions,
  secretPrompt,
  sessionIdOf,
} from "../../shared/remote.js";
import {
  AllRemoteSessions,
  Buckets,
  Keys,
  remoteSubjects,
  ServiceNames,
  Streams,
  sessionIdOfSubject,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import type { Logger } from "../runtime/logger.js";
import { freePort, listenProblem } from "../runtime/ports.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { type AskpassQuestion, AskpassServer } from "./askpass.js";
import {
  type RemoteCommand,
  type RemoteDecided,
  remoteDecider,
  type SessionState,
} from "./decider.js";
import { remoteSessionsProjection } from "./projections.js";
import {
  checkRunnable,
  hasBuild,
  install,
  type LocalBundle,
  probe,
  startDaemon,
  stopDaemon,
} from "./remote-host.js";
import { SnapshotWriter, sessionsSnapshotFile } from "./snapshot.js";
import { SshClient, sshOutputOf } from "./ssh.js";

export const REMOTE_SERVICE = ServiceNames.remote;

export const remoteRegistry = new EventRegistry<RemoteEvent>(RemoteEvents);

export interface RemoteServiceOptions {
  /** The local plus's data directory: control sockets and the remote daemons' tokens live here. */
  dataDir: string;
  bundle: LocalBundle;
  /** The ssh binary (default: ssh on PATH). */
  ssh?: string;
  /**
   * The delay before the first retry of a failed session (default 1 s); each later one waits
   * twice as long, up to 30 s.
   */
  retryMs?: number;
}

/** Where the sessions' ControlMaster sockets are (SshClient may put one under /tmp when too long). */
export function sessionControlDir(dataDir: string): string {
  return join(dataDir, "remote", "ctl");
}

/** Where the token of a session's remote daemon is kept locally (0600). */
export function remoteTokenFile(dataDir: string, sid: string): string {
  return join(dataDir, "remote", `${sid}.token`);
}

const RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/**
 * Attempts in a row (failed connects and tunnels that died before they were stable) after
 * which a session stays "failed" until its person connects it again: about two minutes.
 */
export const MAX_ATTEMPTS = 8;
/** A tunnel that stayed up this long starts its backoff from the beginning again. */
const STABLE_MS = 60_000;
const HTTP_WAIT_MS = 30_000;
/** Failures a later attempt may not have: the network, the tunnel, the daemon. */
const RETRYABLE = new Set(["ERR_REMOTE_UNREACHABLE", "ERR_REMOTE_SSH", "ERR_REMOTE_DAEMON"]);

type EventType = RemoteEvent["type"];

type DataOf<T extends EventType> = Extract<RemoteEvent, { type: T }>["data"];

/**
 * Throws ERR_REMOTE_PORT when the local port a session asks for (--local-port) cannot be
 * listened on: checked before anything starts, so a port in use starts no remote daemon.
 */
export async function checkLocalPort(port: number): Promise<void> {
  const p = await listenProblem(port);
  if (p?.kind === "denied")
    throw new CocalcError(
      "ERR_REMOTE_PORT",
      `cannot listen on local port ${port} (--local-port): permission denied (ports below 1024 need root); choose another with --local-port`,
    );
  if (p?.kind === "in-use")
    throw new CocalcError(
      "ERR_REMOTE_PORT",
      `local port ${port} (--local-port) is in use by another program (${p.code} on ${p.host}): free it or choose another with --local-port; nothing was started`,
    );
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String((err as Error).cause ?? err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CocalcError(
    "ERR_REMOTE_DAEMON",
    `the remote cocalc-plus does not answer through the tunnel (${last})`,
  );
}

export async function startRemote(
  ctx: ServiceContext,
  opts: RemoteServiceOptions,
): Promise<RunningService> {
  const kv = await ctx.kvm.open(Buckets.remoteSessions);
  const askpass = await AskpassServer.start(ctx.log);
  const sessions = new Sessions(ctx, opts, kv, askpass);
  const project = await projectionHandler(ctx.kvm, [remoteSessionsProjection]);
  const snapshot = new SnapshotWriter(sessionsSnapshotFile(opts.dataDir), kv, ctx.log, ctx.now);
  await snapshot.load();
  await sessions.reconcile();
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.REMOTE,
    durable: REMOTE_SERVICE,
    filterSubject: AllRemoteSessions,
    registry: remoteRegistry,
    log: ctx.log,
    handle: async (e) => {
      await project(e);
      const sid = sessionIdOfSubject(e.subject);
      if (sid) await snapshot.refresh(sid);
      sessions.onEvent(e);
    },
    rejected: project,
  });
  const commands = serveCommands<RemoteCommand, RemoteDecided, SessionState>({
    nc: ctx.nc,
    log: ctx.log,
    subject: workspaceSubjects(ctx.wsid).command(REMOTE_SERVICE),
    commands: RemoteCommands,
    store: new AggregateStore({
      js: ctx.js,
      jsm: ctx.jsm,
      log: ctx.log,
      stream: Streams.REMOTE,
      registry: remoteRegistry,
      events: RemoteEvents,
      decider: remoteDecider,
    }),
    aggregateSubject: (c) =>
      remoteSubjects(c.type === "ConnectSession" ? sessionIdOf(c.data.target) : c.data.sid).session,
    // Refused before anything is stored: a local port another program holds.
    check: async (c) => {
      if (c.type !== "ConnectSession") return;
      const port = c.data.options?.localPort;
      if (port !== undefined && !sessions.forwards(sessionIdOf(c.data.target), port))
        await checkLocalPort(port);
    },
    now: ctx.now,
  });
  // Answers to what ssh asks: by request, so they are never stored.
  const requestSubject = workspaceSubjects(ctx.wsid).request(REMOTE_SERVICE);
  const requests = ctx.nc.subscribe(requestSubject, {
    queue: requestSubject,
    callback: (err, m) => {
      if (err) return;
      let body: unknown;
      try {
        body = m.json();
      } catch {
        body = undefined;
      }
      const reply = !Value.Check(RemoteRequestSchema, body)
        ? {
            ok: false,
            error: toErrorPayload(
              new CocalcError(
                "ERR_COMMAND_INVALID",
                'a remote request is { op: "answer", sid, ask, answer? }',
              ),
            ),
          }
        : sessions.answer(body.sid, body.ask, body.answer)
          ? { ok: true, result: {} }
          : {
              ok: false,
              error: toErrorPayload(
                new CocalcError(
                  "ERR_REMOTE_NOT_ASKED",
                  "nothing waits for that answer (answered already, or given up)",
                ),
              ),
            };
      m.respond(JSON.stringify(reply));
    },
  });
  // A crashed service is started afresh by the supervisor: its ssh processes go with it.
  return runningService([commands, consumer], async () => {
    requests.unsubscribe();
    await sessions.stop();
    await askpass.close();
  });
}

class Sessions {
  private readonly actors = new Map<string, SessionActor>();
  /** Questions of ssh waiting for their person, by `<sid> <ask>`. */
  private readonly waiting = new Map<string, (answer: string | undefined) => void>();

  constructor(
    readonly ctx: ServiceContext,
    readonly opts: RemoteServiceOptions,
    readonly kv: KV,
    readonly askpass: AskpassServer,
  ) {}

  /**
   * Asks the person connecting session `sid` what ssh asks, and waits: the answer, or
   * undefined (cancelled, or not answered in time). Only the question is stored.
   */
  async ask(sid: string, q: AskpassQuestion): Promise<string | undefined> {
    const ask = `q${randomId()}`;
    const secret = q.kind !== "confirm" && secretPrompt(q.prompt);
    await this.publish(sid, "SessionAsked", { ask, prompt: q.prompt, secret });
    const key = `${sid} ${ask}`;
    let timer: NodeJS.Timeout | undefined;
    const answer = await new Promise<{
      a: string | undefined;
      how: "answered" | "cancelled" | "timed-out";
    }>((resolve) => {
      this.waiting.set(key, (a) => resolve({ a, how: a === undefined ? "cancelled" : "answered" }));
      timer = setTimeout(() => resolve({ a: undefined, how: "timed-out" }), ASK_TIMEOUT_MS);
    });
    clearTimeout(timer);
    this.waiting.delete(key);
    await this.publish(sid, "SessionAnswered", { ask, how: answer.how });
    return answer.a;
  }

  /** Hands an answer to the question waiting for it; false when none waits. */
  answer(sid: string, ask: string, answer: string | undefined): boolean {
    const w = this.waiting.get(`${sid} ${ask}`);
    if (!w) return false;
    w(answer);
    return true;
  }

  get log(): Logger {
    return this.ctx.log;
  }

  async view(sid: string): Promise<RemoteSessionView | undefined> {
    const e = await this.kv.get(Keys.remoteSession(sid));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<RemoteSessionView>() : undefined;
  }

  async publish<T extends EventType>(sid: string, type: T, data: DataOf<T>): Promise<void> {
    const def = RemoteEvents.find((d) => d.type === type)!;
    const ev = envelope(def, data, { actor: REMOTE_SERVICE, at: this.ctx.now() });
    remoteRegistry.check(ev);
    await publishEvent(this.ctx.js, remoteSubjects(sid).session, ev);
  }

  private actor(sid: string, target: string): SessionActor {
    let a = this.actors.get(sid);
    if (!a) {
      a = new SessionActor(this, sid, target);
      this.actors.set(sid, a);
    }
    return a;
  }

  forget(sid: string): void {
    this.actors.delete(sid);
  }

  /** Does session `sid`'s own tunnel listen on local port `port` now? */
  forwards(sid: string, port: number): boolean {
    return this.actors.get(sid)?.forwardedPort === port;
  }

  /**
   * After a start: work towards what every session's view says was asked for. A session that
   * failed stays failed: only its person's connect tries it again.
   */
  async reconcile(): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    for (const sid of keys) {
      const v = await this.view(sid);
      if (!v) continue;
      if (v.desired === "removed") this.actor(sid, v.target).want("removed", v.mode, v.options);
      else if (v.desired === "running" && v.status !== "failed")
        // Retries that were under way go on counting where they were.
        this.actor(sid, v.target).resume(v.mode, v.options, v.error?.attempt ?? 0);
    }
  }

  onEvent({ event, subject, seq }: StoredEvent<RemoteEvent>): void {
    const sid = sessionIdOfSubject(subject);
    if (!sid) return;
    switch (event.type) {
      case "SessionAdded":
        this.actor(sid, event.data.target);
        return;
      case "SessionConnectRequested":
        void this.view(sid).then((v) => {
          if (v)
            this.actor(sid, v.target).want(
              "running",
              event.data.mode,
              event.data.options,
              seq,
              event.data.interactive,
            );
        });
        return;
      case "SessionStopRequested":
      case "SessionRemoveRequested":
        void this.view(sid).then((v) => {
          const target = v?.target ?? this.actors.get(sid)?.target;
          if (target === undefined) return;
          this.actor(sid, target).want(
            event.type === "SessionStopRequested" ? "stopped" : "removed",
          );
        });
        return;
      default:
        return;
    }
  }

  async stop(): Promise<void> {
    for (const w of this.waiting.values()) w(undefined);
    await Promise.all([...this.actors.values()].map((a) => a.shutdown()));
  }
}

/** Works towards one session's desired state, one step at a time. */
class SessionActor {
  private desired: "running" | "stopped" | "removed" | "idle" = "idle";
  private mode: ConnectMode = { install: true, upgrade: false, forwardOnly: false };
  private options: SessionOptions = {};
  /** The connect request the current attempt answers, if it answers one. */
  private request: number | undefined;
  /** The next connect may ask its person what ssh asks (their connect, in the page or a terminal). */
  private interactive = false;
  private ssh: SshClient | undefined;
  private sshKey = "";
  private forwarded: { local: number; remote: number; master: number } | undefined;
  private watchedMaster: number | undefined;
  private working = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private stable: NodeJS.Timeout | undefined;
  /** Attempts in a row that failed (a connect, or a tunnel that died before it was stable). */
  private failures = 0;
  private restarts = 0;
  private connectedOnce = false;
  private closed = false;

  constructor(
    private readonly s: Sessions,
    readonly sid: string,
    readonly target: string,
  ) {}

  want(
    desired: "running" | "stopped" | "removed",
    mode?: ConnectMode,
    options?: SessionOptions,
    request?: number,
    interactive?: boolean,
  ) {
    if (this.closed) return;
    this.desired = desired;
    this.request = request;
    // Only this connect may ask its person; the attempts after it never do.
    this.interactive = request !== undefined && interactive === true;
    if (mode) this.mode = mode;
    if (options) this.options = options;
    // A person's connect (or stop) starts the count again, also of a session that gave up.
    if (desired !== "running" || request !== undefined) this.failures = 0;
    this.kick();
  }

  /** After a start: connects again, counting from `failures` attempts that failed before it. */
  resume(mode: ConnectMode, options: SessionOptions, failures: number): void {
    this.failures = Math.min(failures, MAX_ATTEMPTS - 1);
    this.want("running", mode, options);
  }

  /** The local port the session's tunnel listens on now, if it runs. */
  get forwardedPort(): number | undefined {
    return this.forwarded !== undefined && this.forwarded.master === this.ssh?.masterPid
      ? this.forwarded.local
      : undefined;
  }

  private kick(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    if (this.working) {
      this.again = true;
      return;
    }
    this.working = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.step();
        } while (this.again && !this.closed);
      } catch (err) {
        this.s.log.error({ err, sid: this.sid }, "remote session step failed");
      } finally {
        this.working = false;
      }
    })();
  }

  private async step(): Promise<void> {
    if (this.desired === "running") await this.connect();
    else if (this.desired === "stopped") await this.stopRemote(false);
    else if (this.desired === "removed") await this.stopRemote(true);
  }

  private client(): SshClient {
    const key = JSON.stringify(this.options);
    if (!this.ssh || key !== this.sshKey) {
      const old = this.ssh;
      // Its master's exit is ours, not a dead tunnel to restart.
      this.watchedMaster = undefined;
      this.forwarded = undefined;
      if (old) void old.close();
      this.sshKey = key;
      this.ssh = new SshClient({
        target: parseTarget(this.target),
        label: formatTarget(parseTarget(this.target)),
        options: this.options,
        controlDir: sessionControlDir(this.s.opts.dataDir),
        ...(this.s.opts.ssh !== undefined && { ssh: this.s.opts.ssh }),
        onCommand: (line) => {
          if (this.options.verboseSsh)
            void this.progress("ssh", "ssh command", line).catch(() => undefined);
        },
      });
    }
    return this.ssh;
  }

  private progress(step: string, message: string, command?: string): Promise<void> {
    return this.s.publish(this.sid, "SessionProgressed", {
      step,
      message,
      ...(command !== undefined && { command }),
    });
  }

  private async connect(): Promise<void> {
    const { bundle } = this.s.opts;
    const ssh = this.client();
    const mode = this.mode;
    // The request this attempt answers: a connect asked for while it runs gets its own attempt.
    const request = this.request;
    this.request = undefined;
    try {
      // A --local-port another program holds is found before anything runs on the remote.
      const port = this.options.localPort;
      if (port !== undefined && this.forwardedPort !== port) await checkLocalPort(port);
      if (ssh.masterPid === undefined) await this.progress("ssh", `connecting to ${this.target}`);
      const interactive = this.interactive;
      this.interactive = false;
      const asking = interactive
        ? this.s.askpass.attempt((q) => this.s.ask(this.sid, q))
        : undefined;
      try {
        // Each question may wait for its person; ssh asks at most a few (3 passwords, a key).
        await ssh.connect(
          asking ? { askpass: { env: asking.env, waitMs: 4 * ASK_TIMEOUT_MS } } : {},
        );
      } finally {
        asking?.close();
      }
      const p = await probe(ssh);
      let daemon = p.daemon;
      let token = p.token;
      let installed = false;
      // --upgrade replaces what runs there, even the same version of another build.
      if (daemon && mode.upgrade) {
        await this.progress(
          "upgrade",
          `stopping cocalc-plus ${daemon.version} on the remote to upgrade it to ${bundle.version}`,
        );
        await stopDaemon(ssh, p);
        daemon = undefined;
        token = undefined;
      }
      if (!daemon) {
        if (mode.forwardOnly) {
          throw new CocalcError(
            "ERR_REMOTE_DAEMON",
            "--forward-only: no cocalc-plus daemon runs on the remote to forward to",
          );
        }
        const fromRegistry = checkRunnable(p, undefined, bundle.root);
        if (!hasBuild(p, bundle) || mode.upgrade) {
          if (!mode.install) {
            throw new CocalcError(
              "ERR_REMOTE_NOT_INSTALLED",
              `cocalc-plus ${bundle.version} ${p.versions.includes(bundle.version) ? "of this build " : ""}is not installed on ${this.target} (${p.versions.length > 0 ? `it has ${p.versions.join(", ")}` : "it has none"}) and --no-install forbids installing it; run without --no-install to copy it there`,
            );
          }
          await this.progress(
            "install",
            `installing cocalc-plus ${bundle.version} into ~/.cache/cocalc/cocalc-plus/${bundle.version}`,
          );
          if (fromRegistry.length > 0)
            await this.progress(
              "install",
              `the remote is ${p.os} ${p.arch}: installing ${fromRegistry.map((m) => `${m.name}@${m.version}`).join(", ")} there from the npm registry (this cocalc-plus carries no build of ${fromRegistry.length === 1 ? "it" : "them"} for that platform)`,
            );
          const { missing } = await install(
            ssh,
            bundle,
            (bytes) => {
              void this.progress(
                "install",
                `copied ${(bytes / 1024 / 1024).toFixed(1)} MiB of cocalc-plus ${bundle.version}`,
              ).catch(() => undefined);
            },
            { probe: p, fromRegistry },
          );
          for (const m of missing)
            await this.progress(
              "install",
              `npm could not install ${m.name}@${m.version} on the remote, so ${m.without ?? "a part of it is missing"}; the rest works (npm needs the npm registry there and, without a prebuilt binary, a C++ toolchain: python3, make, g++)`,
            );
          installed = true;
        }
        await this.progress("start", `starting cocalc-plus ${bundle.version} on the remote`);
        const started = await startDaemon(ssh, {
          version: bundle.version,
          node: p.node!,
          ...(this.options.remotePort !== undefined && { remotePort: this.options.remotePort }),
          title: this.target,
        });
        daemon = started.info;
        token = started.token;
      } else if (daemon.version !== bundle.version) {
        await this.progress(
          "version",
          `version mismatch: the remote runs cocalc-plus ${daemon.version}, this is ${bundle.version}; upgrade with \`cocalc-plus ssh ${this.target} --upgrade\` (running terminals and notebooks restart)`,
        );
      }
      if (!token) {
        throw new CocalcError(
          "ERR_REMOTE_DAEMON",
          "the remote cocalc-plus runs but its token file ~/.local/share/cocalc-plus/ssh/token is missing",
        );
      }
      await mkdir(join(this.s.opts.dataDir, "remote"), { recursive: true, mode: 0o700 });
      await writeSecretFile(remoteTokenFile(this.s.opts.dataDir, this.sid), `${token}\n`);
      // An upgrade happens once: a tunnel restart after this reuses what runs there.
      if (this.mode === mode) this.mode = { ...mode, upgrade: false };
      await this.s.publish(this.sid, "SessionConnected", {
        os: p.os,
        arch: p.arch,
        remoteVersion: daemon.version,
        localVersion: bundle.version,
        remotePid: daemon.pid,
        remotePort: daemon.port,
        remoteHome: p.home,
        installed,
        reused: !installed && p.daemon !== undefined && daemon.pid === p.daemon.pid,
      });
      const view = await this.s.view(this.sid);
      const master = ssh.masterPid!;
      if (
        !this.forwarded ||
        this.forwarded.master !== master ||
        this.forwarded.remote !== daemon.port ||
        (this.options.localPort !== undefined && this.options.localPort !== this.forwarded.local)
      ) {
        // The same master still forwards to where the daemon was: free the local port first.
        if (this.forwarded && this.forwarded.master === master)
          await ssh.cancelForward(this.forwarded.local, this.forwarded.remote);
        // The port of the last tunnel is kept (the page's URL stays) unless another program took it.
        const last = view?.localPort;
        const local =
          this.options.localPort ??
          (last !== undefined && (await listenProblem(last)) === undefined
            ? last
            : await freePort());
        await ssh.forward(local, daemon.port);
        this.forwarded = { local, remote: daemon.port, master };
      }
      await this.progress(
        "tunnel",
        `waiting for the remote to answer on 127.0.0.1:${this.forwarded.local}`,
      );
      await waitHttp(`http://127.0.0.1:${this.forwarded.local}/healthz`, HTTP_WAIT_MS);
      this.watch(ssh, master);
      this.connectedOnce = true;
      await this.s.publish(this.sid, "TunnelStarted", {
        localPort: this.forwarded.local,
        pid: master,
        restarts: this.restarts,
        ...(request !== undefined && { request }),
      });
      if (this.stable) clearTimeout(this.stable);
      this.stable = setTimeout(() => {
        this.failures = 0;
      }, STABLE_MS);
      this.stable.unref();
    } catch (err) {
      const payload = toErrorPayload(err);
      const code = payload.code === "ERR_INTERNAL" ? "ERR_REMOTE_SSH" : payload.code;
      // A person's first connect answers at once; the service's own attempts (a start's, a
      // dead tunnel's) and a session that ran try again, with growing delays, a few times.
      const retrying =
        RETRYABLE.has(code) &&
        this.desired === "running" &&
        !this.closed &&
        (this.connectedOnce || request === undefined);
      const sshOutput = sshOutputOf(err);
      let message = payload.message;
      let retryInMs: number | undefined;
      let attempt: number | undefined;
      if (retrying) {
        attempt = ++this.failures;
        if (attempt < MAX_ATTEMPTS) retryInMs = this.delay();
        else message = `${message}; gave up after ${attempt} attempts: ${this.howToConnect()}`;
      }
      this.s.log.warn(
        { sid: this.sid, code, reason: payload.message, attempt, retryInMs },
        "remote connect failed",
      );
      await this.s.publish(this.sid, "SessionFailed", {
        code,
        message,
        ...(sshOutput && { sshOutput }),
        ...(retryInMs !== undefined && { retryInMs }),
        ...(attempt !== undefined && { attempt, maxAttempts: MAX_ATTEMPTS }),
        ...(request !== undefined && { request }),
      });
      // A connect asked for meanwhile is the next attempt already.
      if (this.again) return;
      if (retryInMs !== undefined) this.schedule(retryInMs);
      else await this.closeSsh();
    }
  }

  private howToConnect(): string {
    return `connect it again with \`cocalc-plus ssh ${this.target}\` or Connect on the sessions page`;
  }

  /** The delay before the next attempt: twice the last one, from retryMs up to 30 s. */
  private delay(): number {
    const first = this.s.opts.retryMs ?? RETRY_MS;
    return Math.min(MAX_RETRY_MS, first * 2 ** Math.max(0, this.failures - 1));
  }

  /** Tries again in `ms`: an attempt of the service's own, which answers no request. */
  private schedule(ms: number): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.desired === "running") this.kick();
    }, ms);
    this.retry.unref();
  }

  /** Restarts the tunnel with backoff when its ssh exits while the session should run. */
  private watch(ssh: SshClient, master: number): void {
    if (this.watchedMaster === master) return;
    this.watchedMaster = master;
    void ssh.exited?.then(async (r) => {
      if (this.watchedMaster !== master || this.closed) return;
      this.watchedMaster = undefined;
      this.forwarded = undefined;
      // It did not stay up: its attempts are not forgiven.
      if (this.stable) clearTimeout(this.stable);
      this.stable = undefined;
      if (this.desired !== "running") return;
      this.restarts++;
      // A tunnel that dies soon after it started counts as a failed attempt: one that keeps
      // dying gives up like one that never connects.
      const attempt = ++this.failures;
      if (attempt >= MAX_ATTEMPTS) {
        this.s.log.warn(
          { sid: this.sid, pid: master, code: r.code, attempt },
          "tunnel exited; giving up",
        );
        await this.s
          .publish(this.sid, "TunnelExited", { pid: master, code: r.code, signal: r.signal })
          .catch(() => undefined);
        await this.s
          .publish(this.sid, "SessionFailed", {
            code: "ERR_REMOTE_SSH",
            message: `the tunnel to ${this.target} kept exiting (ssh exited with ${r.signal ?? `code ${r.code}`}); gave up after ${attempt} attempts: ${this.howToConnect()}`,
            attempt,
            maxAttempts: MAX_ATTEMPTS,
          })
          .catch(() => undefined);
        await this.closeSsh();
        return;
      }
      const retryInMs = this.delay();
      this.s.log.warn(
        { sid: this.sid, pid: master, code: r.code, attempt, retryInMs },
        "tunnel exited; restarting",
      );
      await this.s
        .publish(this.sid, "TunnelExited", {
          pid: master,
          code: r.code,
          signal: r.signal,
          retryInMs,
        })
        .catch(() => undefined);
      this.schedule(retryInMs);
    });
  }

  private async closeSsh(): Promise<void> {
    this.watchedMaster = undefined;
    this.forwarded = undefined;
    await this.ssh?.close().catch(() => undefined);
  }

  /**
   * Stops the remote daemon and ends every local process of the session; `remove` forgets it
   * too. Its sync pairs and port forwards follow `SessionRemoved` on their own.
   */
  private async stopRemote(remove: boolean): Promise<void> {
    const view = await this.s.view(this.sid);
    let message = "";
    let killed = false;
    let remotePid: number | undefined;
    const daemonMayRun = view !== undefined && view.remotePid !== undefined;
    if (!remove || daemonMayRun) {
      const ssh = this.client();
      try {
        await this.progress("stop", `stopping cocalc-plus on ${this.target}`);
        await ssh.connect();
        const p = await probe(ssh);
        const r = await stopDaemon(ssh, p);
        message = r.pid
          ? `stopped cocalc-plus (pid ${r.pid}) on ${this.target}${r.killed ? "; it did not stop in 15 s and was killed" : ""}`
          : `no cocalc-plus was running on ${this.target}`;
        killed = r.killed;
        remotePid = r.pid;
      } catch (err) {
        message = `could not reach ${this.target} to stop cocalc-plus there: ${(err as Error).message}`;
      }
    }
    if (this.retry) clearTimeout(this.retry);
    await this.closeSsh();
    await rm(remoteTokenFile(this.s.opts.dataDir, this.sid), { force: true });
    if (this.desired === "stopped" && !remove) {
      await this.s.publish(this.sid, "SessionStopped", {
        ...(remotePid !== undefined && { remotePid }),
        killed,
        message,
      });
    } else if (remove) {
      this.closed = true;
      await this.s.publish(this.sid, "SessionRemoved", {
        message: `removed ${this.target}${message ? `; ${message}` : ""}; its files were not touched`,
      });
      this.s.forget(this.sid);
    }
  }

  /** Plus stops: end our ssh processes; the remote daemon keeps running (like tmux). */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.stable) clearTimeout(this.stable);
    const pid = this.watchedMaster;
    await this.closeSsh();
    // The view says so until the next start reconnects.
    if (pid !== undefined && this.desired === "running")
      await this.s
        .publish(this.sid, "TunnelExited", { pid, code: null, signal: "SIGTERM" })
        .catch(() => undefined);
  }
}
