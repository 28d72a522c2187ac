/**
 * The forwards service: forward commands on `ws.<wsid>.cmd.forwards`, decided into events on
 * `remote.<sid>.forward.<fid>.cfg` (stream REMOTE); one supervised ssh process per forward
 * while its session runs, whose starts, exits and restarts go to `.run`; both projected into
 * the `port-forwards` view. Which sessions run it learns from the `remote-sessions` view.
 */
import { readFileSync } from "node:fs";
import type { KV } from "@nats-io/kv";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  ForwardCommands,
  type ForwardConfig,
  type ForwardEvent,
  ForwardEvents,
  ForwardRunEvents,
  type ForwardView,
  sessionIdOfForward,
  sshForwardArgs,
} from "../../shared/forwards.js";
import { parseTarget, type RemoteSessionView, sessionIdOf } from "../../shared/remote.js";
import {
  AllForwards,
  Buckets,
  forwardIdOfSubject,
  forwardSubjects,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { KnownSessions } from "../runtime/known-sessions.js";
import { listenProblem } from "../runtime/ports.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import {
  checkNotDuplicate,
  configOf,
  type ForwardCommand,
  type ForwardDecided,
  type ForwardState,
  forwardDecider,
  type LiveForward,
} from "./decider.js";
import { ForwardProcess, type ForwardRunDecided, type ForwardSsh } from "./process.js";
import { portForwardsProjection } from "./projections.js";

export const FORWARDS_SERVICE = ServiceNames.forwards;
export const forwardsRegistry = new EventRegistry<ForwardEvent>(ForwardEvents);
const runVersions = new Map<string, number>(ForwardRunEvents.map((d) => [d.type, d.v]));
const configVersions = new Map<string, number>(ForwardEvents.map((d) => [d.type, d.v]));

export interface ForwardsServiceOptions {
  /** The ssh binary (default: ssh on PATH). */
  ssh?: string;
}

/** Throws ERR_FORWARD_PORT_IN_USE when something listens on 127.0.0.1:port (or [::1]:port). */
export async function checkPortFree(port: number): Promise<void> {
  const p = await listenProblem(port);
  if (p?.kind === "denied")
    throw new CocalcError(
      "ERR_FORWARD_PORT",
      `cannot listen on local port ${port}: permission denied (ports below 1024 need root)`,
    );
  if (p?.kind === "in-use")
    throw new CocalcError(
      "ERR_FORWARD_PORT_IN_USE",
      `local port ${port} is in use by another program (${p.code} on ${p.host})`,
    );
}

/**
 * Ends the ssh of a forward that a plus killed with SIGKILL left behind (it would hold the
 * port): only a process whose command line is that very forward's.
 */
function endLeftover(pid: number, config: ForwardConfig): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return false;
  }
  const [flag, spec] = sshForwardArgs(config);
  const ours =
    /(^|\/)ssh$/.test(argv[0] ?? "") &&
    argv.includes("ExitOnForwardFailure=yes") &&
    argv.some((a, i) => a === flag && argv[i + 1] === spec);
  if (!ours) return false;
  try {
    process.kill(pid, "SIGTERM");
    return true;
  } catch {
    return false;
  }
}

/** Does the session run (or reconnect), so that its forwards should? */
function sessionRuns(s: RemoteSessionView | undefined): boolean {
  return (
    s !== undefined &&
    s.desired === "running" &&
    (s.status === "running" || s.status === "reconnecting")
  );
}

interface Forward {
  sid: string;
  config: ForwardConfig;
  proc: ForwardProcess;
}

export async function startForwards(
  ctx: ServiceContext,
  opts: ForwardsServiceOptions = {},
): Promise<RunningService> {
  const log = ctx.log;
  const sessions = await KnownSessions.open(ctx.kvm, log);
  const forwards = new Map<string, Forward>();
  const removing = new Set<string>();
  const view: KV = await ctx.kvm.open(Buckets.portForwards);

  const publish = async (
    fid: string,
    kind: "config" | "run",
    e: { type: string; data: unknown },
  ) => {
    const versions = kind === "run" ? runVersions : configVersions;
    const ev = envelope({ type: e.type, v: versions.get(e.type)! }, e.data, {
      actor: FORWARDS_SERVICE,
      at: ctx.now(),
    });
    forwardsRegistry.check(ev);
    await publishEvent(ctx.js, forwardSubjects(sessionIdOfForward(fid)!, fid)[kind], ev);
  };

  const sshOf = (s: RemoteSessionView): ForwardSsh => ({
    target: parseTarget(s.target),
    options: s.options,
    ...(opts.ssh !== undefined && { binary: opts.ssh }),
  });

  const track = (fid: string, config: ForwardConfig, restarts: number): Forward => {
    let f = forwards.get(fid);
    if (f) return f;
    f = {
      sid: sessionIdOfForward(fid)!,
      config,
      proc: new ForwardProcess({
        forward: fid,
        config,
        ssh: { target: parseTarget(config.session), options: {} },
        restarts,
        log: log.child({ forward: fid }),
        emit: (e: ForwardRunDecided) => publish(fid, "run", e),
      }),
    };
    forwards.set(fid, f);
    return f;
  };

  /** Brings one forward in line with its session: running, stopped, or removed with it. */
  const apply = async (fid: string): Promise<void> => {
    const f = forwards.get(fid);
    if (!f || removing.has(fid)) return;
    const s = sessions.get(f.sid);
    if (s === undefined || s.desired === "removed") {
      removing.add(fid);
      await f.proc.stop();
      await publish(fid, "config", {
        type: "ForwardRemoved",
        data: { reason: `its session ${f.config.session} was removed` },
      }).catch((err) => log.warn({ forward: fid, err }, "forward not removed"));
      return;
    }
    if (sessionRuns(s)) f.proc.start(sshOf(s));
    else await f.proc.stop(`session ${s.target} is ${s.status}`);
  };
  const applySession = async (sid: string): Promise<void> => {
    for (const [fid, f] of forwards) if (f.sid === sid) await apply(fid);
  };

  // Forwards that were live before a restart come back (the consumer only has new events).
  for await (const key of await view.keys()) {
    const e = await view.get(key);
    if (e?.operation !== "PUT" || e.length === 0) continue;
    const v = e.json<ForwardView>();
    const config = configFromView(v);
    if (v.pid !== undefined && endLeftover(v.pid, config))
      log.info({ forward: v.forward, pid: v.pid }, "ended the ssh of a forward left behind");
    track(v.forward, config, v.restarts);
  }

  const project = await projectionHandler(ctx.kvm, [portForwardsProjection]);
  const handle = async (stored: StoredEvent<ForwardEvent>): Promise<void> => {
    const fid = forwardIdOfSubject(stored.subject);
    if (!fid || !sessionIdOfForward(fid)) return;
    const { event } = stored;
    if (event.type === "ForwardAdded") {
      // Its ssh starts first: a handshake is the slow part; the view follows.
      track(fid, event.data, 0);
      await apply(fid);
    }
    await project(stored);
    if (event.type === "ForwardRemoved") {
      const f = forwards.get(fid);
      forwards.delete(fid);
      removing.delete(fid);
      await f?.proc.stop();
    }
  };
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.REMOTE,
    durable: FORWARDS_SERVICE,
    filterSubject: AllForwards.all,
    registry: forwardsRegistry,
    log,
    handle,
    rejected: project,
  });

  // Forwards of a session removed while plus was not running go now.
  for (const [fid, f] of forwards) if (!sessions.has(f.sid)) await apply(fid);

  // The sessions' state decides which forwards run; the watch starts with every current value.
  await sessions.follow(applySession);

  const live = (): LiveForward[] =>
    [...forwards]
      .filter(([fid]) => !removing.has(fid))
      .map(([forward, f]) => ({ forward, sid: f.sid, config: f.config }));
  const session = (target: string) => sessions.find(target);
  const commands = serveCommands<ForwardCommand, ForwardDecided, ForwardState>({
    nc: ctx.nc,
    log,
    subject: workspaceSubjects(ctx.wsid).command(FORWARDS_SERVICE),
    commands: ForwardCommands,
    store: new AggregateStore({
      js: ctx.js,
      jsm: ctx.jsm,
      log,
      stream: Streams.REMOTE,
      registry: forwardsRegistry,
      events: ForwardEvents,
      decider: forwardDecider({ session, others: live }),
    }),
    aggregateSubject: (c) => {
      if (c.type === "AddForward") {
        const { sid, forward } = configOf(c.data, { session });
        return forwardSubjects(sid, forward).config;
      }
      const sid = sessionIdOfForward(c.data.forward);
      if (!sid) throw new CocalcError("ERR_FORWARD_NOT_FOUND", `no port forward ${c.data.forward}`);
      return forwardSubjects(sid, c.data.forward).config;
    },
    // Refused before anything is stored: a port another program holds.
    check: async (c) => {
      if (c.type !== "AddForward") return;
      // A session connected a moment ago may not have reached the watch yet.
      await sessions.refresh(sessionIdOf(c.data.session));
      const { sid, forward, config } = configOf(c.data, { session });
      checkNotDuplicate(sid, forward, config, live());
      if (config.direction === "remote-to-local") await checkPortFree(config.local);
    },
    now: ctx.now,
  });

  const stopAll = async () => {
    await sessions.stop();
    await Promise.all([...forwards.values()].map((f) => f.proc.stop("cocalc-plus stopped")));
  };
  return runningService([commands, consumer], stopAll);
}

function configFromView(v: ForwardView): ForwardConfig {
  return {
    session: v.session,
    local: v.local,
    remote: v.remote,
    direction: v.direction,
    ...(v.name !== undefined && { name: v.name }),
  };
}
