/**
 * The apps service: app commands on `ws.<wsid>.cmd.apps`, decided into events on
 * `ws.<wsid>.app.<app>.cfg` (stream WS_APPS); one supervised process group per started app,
 * whose spawn, readiness, exit or failure go to `.run`; both projected into the `apps` view.
 * Its output is kept in a bounded log, read in pages on `ws.<wsid>.read.apps`, which also says
 * which programs are installed. When plus stops, every app's process group is ended.
 */
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
  Keys,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { type AppCommand, type AppDecided, type AppState, appDecider } from "./decider.js";
import { AppProcess, type AppRunDecided, programOf } from "./process.js";
import { appsProjection } from "./projections.js";
import { type AppRunner, localRunner } from "./runner.js";

export const APPS_SERVICE = ServiceNames.apps;
export const appsRegistry = new EventRegistry<AppEvent>(AppEvents);
const versions = new Map<string, number>(AppEvents.map((d) => [d.type, d.v]));

export interface AppsServiceOptions {
  /** Where an app starts when no directory is given (default: the home directory). */
  home?: string;
  /** Where apps run (default: this machine, as plus's user). */
  runner?: AppRunner;
  /** What the service says its apps were ended by when it stops. */
  stoppedBy?: string;
  /** Its durable consumer (a launchpad host runs one service per workspace). */
  durable?: string;
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

export async function startApps(
  ctx: ServiceContext,
  opts: AppsServiceOptions = {},
): Promise<RunningService> {
  const log = ctx.log;
  const runner = opts.runner ?? localRunner(opts.home);
  const home = runner.home;
  const stoppedBy = opts.stoppedBy ?? "cocalc-plus stopped";
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

  // Apps a service killed without stopping left behind: their processes end now.
  for await (const key of await view.keys(Keys.apps(ctx.wsid))) {
    const e = await view.get(key);
    if (e?.operation !== "PUT" || e.length === 0) continue;
    const v = e.json<AppView>();
    if (v.status !== "starting" && v.status !== "running") continue;
    await runner.endLeftover(`${ctx.wsid}.${v.app}`, v.pid);
    log.info({ app: v.app, pid: v.pid }, "ended an app left behind");
    await publish(v.app, "config", { type: "AppStopped", data: { reason: stoppedBy } });
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
    const program = await programOf(runner, config.kind);
    if (program.needed && program.path === undefined) {
      const err = notInstalled(config.kind);
      await publish(app, "run", {
        type: "AppFailed",
        data: { code: err.code, message: err.message },
      });
      return;
    }
    const proc = new AppProcess({
      runner,
      wsid: ctx.wsid,
      app,
      config,
      log: log.child({ app }),
      readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
      emit: (e: AppRunDecided) => publish(app, "run", e),
    });
    apps.set(app, proc);
    await proc.start(program.path);
  };
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.WS_APPS,
    durable: opts.durable ?? APPS_SERVICE,
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
      decider: appDecider({ alive, home, origin: runner.origin }),
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
      if (d.port === undefined || d.port === "") d.port = await runner.freePort();
      const port = parseAppPort(d.port);
      const program = await programOf(runner, d.kind);
      if (program.needed && program.path === undefined) throw notInstalled(d.kind);
      const cwd = d.cwd === undefined || d.cwd.trim() === "" ? home : d.cwd;
      const dir = cwd.startsWith("/") && !cwd.includes("\0") && (await runner.isDirectory(cwd));
      if (!dir)
        throw new CocalcError(
          "ERR_APP_CWD",
          `an app's directory must be an existing directory, not ${JSON.stringify(cwd)}`,
        );
      if (alive(appIdFor(port))) return; // the decider says it runs
      const p = await runner.portProblem(port);
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
  const answer = async (r: AppReadRequest): Promise<unknown> => {
    if (r?.type === "Programs") {
      const names = AppKinds.flatMap((k) => AppPrograms[k].program ?? []);
      const found = await runner.programs(names);
      const out: Partial<AppProgramsAnswer> = {};
      for (const k of AppKinds) {
        const program = AppPrograms[k].program;
        const path = program === undefined ? undefined : found[program];
        out[k] = { installed: program === undefined || path !== undefined, ...(path && { path }) };
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
      // Answered as they come: one slow look into a container does not hold the others.
      void (async () => {
        try {
          m.respond(JSON.stringify({ ok: true, value: await answer(m.json<AppReadRequest>()) }));
        } catch (err) {
          m.respond(JSON.stringify({ ok: false, error: toErrorPayload(err) }));
        }
      })();
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
        await publish(app, "config", { type: "AppStopped", data: { reason: stoppedBy } }).catch(
          (err) => log.warn({ app, err }, "app stop not recorded"),
        );
      }),
    );
    apps.clear();
  };
  return runningService([commands, readPart, consumer], stopAll);
}
