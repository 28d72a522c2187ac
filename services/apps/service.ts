/**
 * The apps service: app commands on `ws.<wsid>.cmd.apps`, decided into events on
 * `ws.<wsid>.app.<app>.cfg` (stream WS_APPS); one supervised process group per started app,
 * whose spawn, readiness, exit or failure go to `.run`; both projected into the `apps` view.
 * Its output is kept in a bounded log, read in pages on `ws.<wsid>.read.apps`, which also says
 * which programs are installed. When plus stops, every app's process group is ended.
 */
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import type { KV } from "@nats-io/kv";
import {
  AppCommands,
  type AppEvent,
  AppEvents,
  AppKinds,
  AppPrograms,
  type AppProgramsAnswer,
  type AppReadRequest,
  type AppView,
  appIdFor,
  parseAppPort,
} from "../../shared/apps.js";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  appIdOfSubject,
  appSubjects,
  Buckets,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { freePort, listenProblem } from "../runtime/ports.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { type AppCommand, type AppDecided, type AppState, appDecider } from "./decider.js";
import { APP_MARK, AppProcess, type AppRunDecided, endGroup, programOf } from "./process.js";
import { appsProjection } from "./projections.js";

export const APPS_SERVICE = ServiceNames.apps;
export const appsRegistry = new EventRegistry<AppEvent>(AppEvents);
const versions = new Map<string, number>(AppEvents.map((d) => [d.type, d.v]));

export interface AppsServiceOptions {
  /** Where an app starts when no directory is given (default: the home directory). */
  home?: string;
  /** How long an app's port may take to answer HTTP (default 120 s). */
  readyTimeoutMs?: number;
}

function notInstalled(kind: keyof typeof AppPrograms): CocalcError {
  const p = AppPrograms[kind];
  return new CocalcError(
    "ERR_APP_NOT_INSTALLED",
    `${p.name} is not installed (${p.program} is not on the PATH); install it with: ${p.install}`,
    { kind },
  );
}

/** Is `pid` a process of app `mark` (its environment says so)? */
function isAppProcess(pid: number, mark: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`${APP_MARK}=${mark}`);
  } catch {
    return false;
  }
}

export async function startApps(
  ctx: ServiceContext,
  opts: AppsServiceOptions = {},
): Promise<RunningService> {
  const log = ctx.log;
  const home = opts.home ?? homedir();
  const apps = new Map<string, AppProcess>();
  const view: KV = await ctx.kvm.open(Buckets.apps);

  const publish = async (
    app: string,
    kind: "config" | "run",
    e: { type: string; data: unknown },
  ) => {
    const ev = envelope({ type: e.type, v: versions.get(e.type)! }, e.data, {
      actor: APPS_SERVICE,
      at: ctx.now(),
    });
    appsRegistry.check(ev);
    await publishEvent(ctx.js, appSubjects(ctx.wsid, app)[kind], ev);
  };

  // Apps a plus killed without stopping left behind: their process groups end now.
  for await (const key of await view.keys()) {
    const e = await view.get(key);
    if (e?.operation !== "PUT" || e.length === 0) continue;
    const v = e.json<AppView>();
    if (v.status !== "starting" && v.status !== "running") continue;
    if (v.pid !== undefined && isAppProcess(v.pid, `${ctx.wsid}.${v.app}`)) {
      await endGroup(v.pid);
      log.info({ app: v.app, pid: v.pid }, "ended an app left behind");
    }
    await publish(v.app, "config", { type: "AppStopped", data: { reason: "cocalc-plus stopped" } });
  }

  const project = await projectionHandler(ctx.kvm, [appsProjection]);
  const handle = async (stored: StoredEvent<AppEvent>): Promise<void> => {
    const app = appIdOfSubject(stored.subject);
    if (!app) return;
    const { event } = stored;
    // Asked to start (again), stop or go: its process ends first. A stopped app's log stays
    // readable until it starts again or is removed.
    if (event.type === "AppStarted" || event.type === "AppStopped" || event.type === "AppRemoved")
      await apps.get(app)?.stop();
    if (event.type === "AppRemoved") apps.delete(app);
    await project(stored);
    if (event.type !== "AppStarted") return;
    const config = event.data;
    const program = programOf(config.kind);
    if (program.needed && program.path === undefined) {
      const err = notInstalled(config.kind);
      await publish(app, "run", {
        type: "AppFailed",
        data: { code: err.code, message: err.message },
      });
      return;
    }
    const proc = new AppProcess({
      wsid: ctx.wsid,
      app,
      config,
      log: log.child({ app }),
      readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
      emit: (e: AppRunDecided) => publish(app, "run", e),
    });
    apps.set(app, proc);
    proc.start(program.path);
  };
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.WS_APPS,
    durable: APPS_SERVICE,
    filterSubject: `ws.${ctx.wsid}.app.>`,
    registry: appsRegistry,
    log,
    handle,
    rejected: project,
  });

  const alive = (app: string) => apps.get(app)?.alive ?? false;
  const commands = serveCommands<AppCommand, AppDecided, AppState>({
    nc: ctx.nc,
    log,
    subject: workspaceSubjects(ctx.wsid).command(APPS_SERVICE),
    commands: AppCommands,
    store: new AggregateStore({
      js: ctx.js,
      jsm: ctx.jsm,
      log,
      stream: Streams.WS_APPS,
      registry: appsRegistry,
      events: AppEvents,
      decider: appDecider({ alive, home }),
    }),
    aggregateSubject: (c) =>
      appSubjects(
        ctx.wsid,
        c.type === "StartApp" ? appIdFor(parseAppPort(c.data.port)) : c.data.app,
      ).config,
    // Refused before anything is stored: a program not installed, a directory that is not
    // there, a port another program holds. A StartApp without a port gets a free one here.
    check: async (c) => {
      if (c.type !== "StartApp") return;
      const d = c.data;
      if (d.port === undefined || d.port === "") d.port = await freePort();
      const port = parseAppPort(d.port);
      const program = programOf(d.kind);
      if (program.needed && program.path === undefined) throw notInstalled(d.kind);
      const cwd = d.cwd === undefined || d.cwd.trim() === "" ? home : d.cwd;
      let dir = false;
      try {
        dir = cwd.startsWith("/") && !cwd.includes("\0") && statSync(cwd).isDirectory();
      } catch {
        dir = false;
      }
      if (!dir)
        throw new CocalcError(
          "ERR_APP_CWD",
          `an app's directory must be an existing directory, not ${JSON.stringify(cwd)}`,
        );
      if (alive(appIdFor(port))) return; // the decider says it runs
      const p = await listenProblem(port);
      if (p)
        throw new CocalcError(
          "ERR_APP_PORT_IN_USE",
          p.kind === "denied"
            ? `cannot listen on port ${port}: permission denied (ports below 1024 need root)`
            : `port ${port} is in use by another program (${p.code} on ${p.host})`,
        );
    },
    now: ctx.now,
  });

  // Pages of an app's log, and which programs are installed.
  const readSubject = workspaceSubjects(ctx.wsid).read(APPS_SERVICE);
  const reads = ctx.nc.subscribe(readSubject, { queue: readSubject });
  const answer = (r: AppReadRequest): unknown => {
    if (r?.type === "Programs") {
      const out: Partial<AppProgramsAnswer> = {};
      for (const k of AppKinds) {
        const p = programOf(k);
        out[k] = { installed: !p.needed || p.path !== undefined, ...(p.path && { path: p.path }) };
      }
      return out;
    }
    if (r?.type === "AppLog") {
      const proc = typeof r.app === "string" ? apps.get(r.app) : undefined;
      if (!proc) return { lines: [], first: 0, next: 0 };
      const before = typeof r.before === "number" ? r.before : undefined;
      return proc.output.page(before, typeof r.limit === "number" ? r.limit : 200);
    }
    throw new CocalcError("ERR_COMMAND_INVALID", "unknown apps request");
  };
  const reading = (async () => {
    for await (const m of reads) {
      try {
        m.respond(JSON.stringify({ ok: true, value: answer(m.json<AppReadRequest>()) }));
      } catch (err) {
        m.respond(JSON.stringify({ ok: false, error: toErrorPayload(err) }));
      }
    }
  })();
  const readPart = {
    done: reading,
    async stop() {
      await reads.drain();
      await reading;
    },
  };

  // A plus that exits without stopping its services (a stop that took too long) still takes
  // its apps with it; only a plus killed with SIGKILL leaves them, for the next start to end.
  const onExit = () => {
    for (const proc of apps.values()) proc.killNow();
  };
  process.on("exit", onExit);

  const stopAll = async () => {
    process.off("exit", onExit);
    await Promise.all(
      [...apps].map(async ([app, proc]) => {
        if (!proc.alive) return;
        await proc.stop();
        await publish(app, "config", {
          type: "AppStopped",
          data: { reason: "cocalc-plus stopped" },
        }).catch((err) => log.warn({ app, err }, "app stop not recorded"));
      }),
    );
    apps.clear();
  };
  return runningService([commands, readPart, consumer], stopAll);
}
