/**
 * The sync service: pair commands on `ws.<wsid>.cmd.sync`, decided into events on
 * `remote.<sid>.sync.<pair>.cfg` (stream REMOTE); one engine per live pair, whose decisions and
 * transfers go to `remote.<sid>.sync.<pair>.run`; both projected into the `sync-pairs` view.
 * A pair is of a remote session that exists (the `remote-sessions` view has it); a session whose
 * removal is asked for takes its pairs with it, and a removed pair takes its temp dir on both
 * sides (its files stay).
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { Value } from "@sinclair/typebox/value";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type RemoteEvent,
  RemoteEvents,
  type RemoteSessionView,
  sessionIdOf,
} from "../../shared/remote.js";
import {
  AllRemoteSessions,
  AllSync,
  Buckets,
  remoteSubjects,
  ServiceNames,
  Streams,
  sessionIdOfSubject,
  syncPairOfSubject,
  syncSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import {
  type PairConfig,
  type PairRoots,
  SyncCommands,
  type SyncEvent,
  SyncEvents,
  type SyncPairView,
  type SyncPathStatus,
  type SyncPreview,
  SyncRequestSchema,
  SyncRunEvents,
  sessionIdOfPair,
} from "../../shared/sync.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { KnownSessions } from "../runtime/known-sessions.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import {
  type PairState,
  pairDecider,
  pairOf,
  type SyncCommand,
  type SyncDecided,
} from "./decider.js";
import { PairEngine } from "./engine.js";
import { previewPair } from "./preview.js";
import { syncPairsProjection } from "./projections.js";
import { type RemoteTarget, removeLocalTemp, removeRemoteTemp } from "./sides.js";
import { SyncState } from "./state.js";

export const SYNC_SERVICE = ServiceNames.sync;
/** The durable that follows remote sessions' lifecycle, for their removal. */
export const SYNC_SESSIONS_DURABLE = `${SYNC_SERVICE}-sessions`;
export const syncRegistry = new EventRegistry<SyncEvent>(SyncEvents);
const sessionRegistry = new EventRegistry<RemoteEvent>(RemoteEvents);
const runVersions = new Map<string, number>(SyncRunEvents.map((d) => [d.type, d.v]));

export interface SyncServiceOptions {
  /** The SQLite file with the last synced state of every pair. */
  stateFile: string;
  /** The local home (default: the user's). */
  home?: string;
  /**
   * How to reach a session's remote: the seam to remote sessions. `known` is the session as
   * the `remote-sessions` view last had it (its target and ssh options), also when it was
   * removed since; undefined for a session this plus never saw.
   */
  resolveTarget(
    session: string,
    known: Pick<RemoteSessionView, "target" | "options"> | undefined,
  ): RemoteTarget | Promise<RemoteTarget>;
  /** Full rescan interval while watching (default 5 minutes). */
  rescanMs?: number;
}

export async function startSync(
  ctx: ServiceContext,
  opts: SyncServiceOptions,
): Promise<RunningService> {
  const home = opts.home ?? homedir();
  const log = ctx.log;
  // Opened with the first pair: a plus without sync pairs never loads SQLite.
  let openedState: SyncState | undefined;
  const state = () => (openedState ??= new SyncState(opts.stateFile));
  const engines = new Map<string, PairEngine>();
  /** How each engine reaches its remote, as text: a session's new ssh options restart it. */
  const engineTargets = new Map<string, string>();
  // Engines start and stop one change at a time: a pair's events and a restart for new ssh
  // options never interleave.
  let engineChanges: Promise<void> = Promise.resolve();
  const serially = (change: () => Promise<void>): Promise<void> => {
    const done = engineChanges.then(change);
    engineChanges = done.catch(() => undefined);
    return done;
  };
  /** Live pairs as the view has them, for the nesting check and restarts. */
  const pairs = new Map<string, { config: PairConfig; paused: boolean }>();
  const view: KV = await ctx.kvm.open(Buckets.syncPairs);
  const sessions = await KnownSessions.open(ctx.kvm, log);
  /** Temp dirs of removed pairs being removed on the remote: awaited when the service stops. */
  const cleanups = new Set<Promise<void>>();
  // The session's own ssh, with its options: also while it is not connected, or once removed.
  const resolveTarget = async (session: string): Promise<RemoteTarget> =>
    opts.resolveTarget(session, sessions.lastSeen(sessionIdOf(session)));

  const emitter = (pair: string) => async (e: { type: string; data: unknown }) => {
    const ev = envelope({ type: e.type, v: runVersions.get(e.type)! }, e.data, {
      actor: SYNC_SERVICE,
      at: ctx.now(),
    });
    syncRegistry.check(ev);
    await publishEvent(ctx.js, syncSubjects(sessionIdOfPair(pair), pair).run, ev);
  };

  const startEngine = async (pair: string, config: PairConfig): Promise<void> => {
    if (engines.has(pair)) return;
    let target: RemoteTarget;
    try {
      target = await resolveTarget(config.session);
    } catch (err) {
      log.warn({ pair, session: config.session, err }, "no target for the session");
      await emitter(pair)({
        type: "SyncCycleFailed",
        data: {
          cycle: state().nextCycle(pair),
          code: "ERR_SYNC_REMOTE",
          message: `cannot reach session ${config.session}: ${String((err as Error).message ?? err)}`,
        },
      });
      return;
    }
    const engine = new PairEngine({
      pair,
      config,
      target,
      state: state(),
      home,
      log: log.child({ pair }),
      emit: emitter(pair),
      now: ctx.now,
      ...(opts.rescanMs !== undefined && { rescanMs: opts.rescanMs }),
    });
    engines.set(pair, engine);
    engineTargets.set(pair, JSON.stringify(target));
    await engine.start();
  };

  const stopEngine = async (pair: string): Promise<void> => {
    const e = engines.get(pair);
    engines.delete(pair);
    engineTargets.delete(pair);
    await e?.stop();
  };

  /** Removes a removed pair's temp dirs: here at once, on the remote over ssh in the background. */
  const removeTempDirs = (pair: string, config: PairConfig): void => {
    const where = { pair, session: config.session };
    try {
      removeLocalTemp(config.local, home);
    } catch (err) {
      log.warn(
        { ...where, err, path: config.local },
        "the local temp dir of a removed pair stayed",
      );
    }
    const done = (async () => {
      try {
        await removeRemoteTemp(await resolveTarget(config.session), config.remote);
        log.info(where, "removed the temp dirs of a removed pair");
      } catch (err) {
        log.warn(
          { ...where, err, path: config.remote },
          "the remote temp dir of a removed pair stayed",
        );
      }
    })();
    cleanups.add(done);
    void done.finally(() => cleanups.delete(done));
  };

  // Pairs that were live before a restart start again (the consumer only has new events).
  for await (const key of await view.keys()) {
    const e = await view.get(key);
    if (e?.operation !== "PUT" || e.length === 0) continue;
    const v = e.json<SyncPairView>();
    const config: PairConfig = {
      session: v.session,
      local: v.local,
      remote: v.remote,
      ignore: v.ignore,
      prefer: v.prefer,
      outsideHome: v.outsideHome,
    };
    pairs.set(v.pair, { config, paused: v.paused });
    if (!v.paused) await startEngine(v.pair, config);
  }

  /**
   * A session connected again with other ssh options (another --identity, --ssh-arg): its
   * pairs' engines restart with them, so that their logins while it reconnects are its own.
   */
  const followSshOptions = (sid: string): Promise<void> =>
    serially(async () => {
      for (const [pair, was] of [...engineTargets]) {
        const p = pairs.get(pair);
        if (!p || sessionIdOf(p.config.session) !== sid) continue;
        const now = JSON.stringify(await resolveTarget(p.config.session));
        if (now === was) continue;
        log.info({ pair, session: p.config.session }, "the session's ssh changed: sync restarts");
        await stopEngine(pair);
        if (pairs.get(pair) === p && !p.paused) await startEngine(pair, p.config);
      }
    });
  // Not awaited: the view stays current while an engine stops.
  await sessions.follow(async (sid) => {
    void followSshOptions(sid).catch((err) =>
      log.warn({ sid, err }, "sync did not restart with the session's new ssh"),
    );
  });

  const project = await projectionHandler(ctx.kvm, [syncPairsProjection]);
  const handleEvent = async (stored: StoredEvent<SyncEvent>): Promise<void> => {
    const pair = syncPairOfSubject(stored.subject);
    if (!pair) return;
    const { event } = stored;
    switch (event.type) {
      case "SyncPairAdded":
        pairs.set(pair, { config: event.data, paused: false });
        await project(stored);
        await startEngine(pair, event.data);
        return;
      case "SyncPairChanged": {
        const p = pairs.get(pair);
        if (p) {
          p.config = { ...p.config, ...event.data };
          engines.get(pair)?.reconfigure(p.config);
        }
        break;
      }
      case "SyncPairPaused": {
        const p = pairs.get(pair);
        if (p) p.paused = true;
        await stopEngine(pair);
        break;
      }
      case "SyncPairResumed": {
        const p = pairs.get(pair);
        if (p) {
          p.paused = false;
          await project(stored);
          await startEngine(pair, p.config);
          return;
        }
        break;
      }
      case "SyncPairRemoved": {
        const removed = pairs.get(pair);
        pairs.delete(pair);
        await stopEngine(pair);
        // The files stay on both sides; only what sync remembered about them goes, and the
        // temp dir its transfers used.
        state().drop(pair);
        if (removed) removeTempDirs(pair, removed.config);
        break;
      }
      case "SyncCheckRequested":
        engines.get(pair)?.check();
        break;
      case "SyncConflictResolveRequested": {
        const { path, keptAs, keep } = event.data;
        const engine = engines.get(pair);
        if (engine) engine.resolve(path, keptAs, keep);
        else {
          await project(stored);
          await emitter(pair)({
            type: "SyncConflictResolved",
            data: {
              path,
              keptAs,
              keep,
              ok: false,
              message: "the pair is not running (its session is not connected): nothing changed",
            },
          });
          return;
        }
        break;
      }
      default:
        break;
    }
    await project(stored);
  };
  const handle = (stored: StoredEvent<SyncEvent>): Promise<void> =>
    serially(() => handleEvent(stored));
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.REMOTE,
    durable: SYNC_SERVICE,
    filterSubject: AllSync.all,
    registry: syncRegistry,
    log,
    handle,
    rejected: project,
  });

  const others = (): PairRoots[] =>
    [...pairs].map(([pair, p]) => ({
      pair,
      session: p.config.session,
      local: p.config.local,
      remote: p.config.remote,
    }));
  const decider = pairDecider({ home, others, session: (target) => sessions.find(target) });

  // A removed session's pairs are removed as a person would remove them: by the pair command.
  // The commands of the wire use this store too.
  const aggregates = new AggregateStore<SyncCommand, SyncDecided, PairState>({
    js: ctx.js,
    jsm: ctx.jsm,
    log: ctx.log,
    stream: Streams.REMOTE,
    registry: syncRegistry,
    events: SyncEvents,
    decider,
  });
  const removeSessionPairs = async (sid: string): Promise<void> => {
    const { state } = await ctx.jsm.streams.info(Streams.REMOTE, {
      subjects_filter: remoteSubjects(sid).syncConfigs,
    });
    for (const subject of Object.keys(state.subjects ?? {})) {
      const pair = syncPairOfSubject(subject)!;
      try {
        await aggregates.execute(subject, {
          type: "RemoveSyncPair",
          data: { pair },
          actor: SYNC_SERVICE,
          at: ctx.now().toISOString(),
        });
        log.info({ pair, session: sid }, "sync pair removed with its session");
      } catch (err) {
        // Removed before (by its person, or by this event's first delivery).
        if (!(err instanceof CocalcError && err.code === "ERR_SYNC_NOT_FOUND")) throw err;
      }
    }
  };
  const sessionEvents = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.REMOTE,
    durable: SYNC_SESSIONS_DURABLE,
    filterSubject: AllRemoteSessions,
    registry: sessionRegistry,
    log,
    handle: async ({ event, subject }) => {
      const sid = sessionIdOfSubject(subject);
      // At the request, while the session's ssh still runs (its pairs' remote temp dirs go
      // through it); again when it is gone, for a pair added meanwhile.
      if ((event.type === "SessionRemoveRequested" || event.type === "SessionRemoved") && sid)
        await removeSessionPairs(sid);
    },
  });

  const commands = serveCommands<SyncCommand, SyncDecided, PairState>({
    nc: ctx.nc,
    log,
    subject: workspaceSubjects(ctx.wsid).command(SYNC_SERVICE),
    commands: SyncCommands,
    // The same store as the removal of a session's pairs: one cache per pair.
    store: aggregates,
    // A session connected a moment ago may not have reached the watch yet.
    check: async (c) => {
      if (c.type === "AddSyncPair") await sessions.refresh(sessionIdOf(c.data.session));
    },
    aggregateSubject: (c) => {
      const pair = pairOf(c, home);
      return syncSubjects(sessionIdOfPair(pair), pair).config;
    },
    now: ctx.now,
  });

  // Dry runs: what a pair would do, decided as its AddSyncPair would be (bad input refused the
  // same way), nothing stored, nothing written.
  const answer = async (raw: Uint8Array): Promise<SyncPreview | SyncPathStatus> => {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      body = undefined;
    }
    if (!Value.Check(SyncRequestSchema, body)) {
      throw new CocalcError(
        "ERR_COMMAND_INVALID",
        'a sync request is { op: "preview", pair } or { op: "status", pair, path }',
      );
    }
    if (body.op === "status") {
      const { pair, path } = body;
      if (!pairs.has(pair)) throw new CocalcError("ERR_SYNC_NOT_FOUND", `no sync pair ${pair}`);
      const rel = path.replace(/^\.\/+/, "").replace(/\/+$/, "");
      const engine = engines.get(pair);
      if (engine) return { pair, path: rel, ...engine.status(rel) };
      const synced = state().get(pair, rel);
      const last = state().lastDecision(pair, rel);
      return {
        pair,
        path: rel,
        ignored: false,
        running: false,
        ...(synced && {
          synced: {
            kind: synced.kind,
            size: synced.size,
            ...(synced.hash && { hash: synced.hash }),
          },
        }),
        ...(last && { last }),
      };
    }
    await sessions.refresh(sessionIdOf(body.pair.session));
    const [added] = decider.decide(
      { type: "AddSyncPair", data: body.pair, actor: SYNC_SERVICE, at: ctx.now().toISOString() },
      { status: "none" },
    );
    if (added?.type !== "SyncPairAdded") throw new Error("bug: AddSyncPair decided no pair");
    return previewPair({
      config: added.data,
      target: await resolveTarget(added.data.session),
      home,
    });
  };
  const requestSubject = workspaceSubjects(ctx.wsid).request(SYNC_SERVICE);
  const requests = ctx.nc.subscribe(requestSubject, {
    queue: requestSubject,
    callback: (err, m) => {
      if (err) return;
      void answer(m.data).then(
        (result) => m.respond(JSON.stringify({ ok: true, result })),
        (e) => {
          const error = toErrorPayload(e);
          if (error.code === "ERR_INTERNAL") log.error({ err: e }, "sync request failed");
          m.respond(JSON.stringify({ ok: false, error }));
        },
      );
    },
  });

  const stopAll = async () => {
    requests.unsubscribe();
    await sessions.stop();
    // A restart for new ssh options under way ends before the engines stop.
    await engineChanges;
    await Promise.all([...engines.keys()].map((p) => stopEngine(p)));
    await Promise.all(cleanups);
    openedState?.close();
  };
  return runningService([commands, consumer, sessionEvents], stopAll);
}

/** Where plus keeps the sync state. */
export function syncStateFile(dataDir: string): string {
  return join(dataDir, "sync", "state.sqlite");
}
