/**
 * The agents service: thread commands and events (stream WS_CHAT) projected into the
 * `threads` and `turns` views; the turn runner (turn-runner.ts), which reacts to those events;
 * and requests that are not thread events (requests.ts). Its parts start and stop together.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import {
  ThreadCommands,
  threadIdentifiers,
  workspaceThreadIdentifiers,
} from "../../shared/agents.js";
import { Buckets, workspaceSubjects } from "../../shared/subjects.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { projectionHandler } from "../runtime/projection.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import type { ThreadCommand, ThreadDecided, ThreadState } from "./decider.js";
import { EgressProxy } from "./egress.js";
import { forgetThread } from "./forget.js";
import type { AgentsServiceOptions } from "./options.js";
import { containerPlace, hostPlace, WorkspaceFiles } from "./place.js";
import { AgentKeys } from "./pool.js";
import { threadOfSubject, threadsProjection, turnsProjection } from "./projections.js";
import { protectedPaths } from "./protected.js";
import { serveRequests } from "./requests.js";
import { TurnReverts } from "./revert.js";
import { Scheduler } from "./scheduler.js";
import { SignIns } from "./sign-in.js";
import { AGENTS_SERVICE, ServiceThreads, threadRegistry } from "./threads.js";
import { TurnRunner } from "./turn-runner.js";

export async function startAgents(
  ctx: ServiceContext,
  opts: AgentsServiceOptions,
): Promise<RunningService> {
  const log = ctx.log;
  const home = opts.container?.home ?? opts.home ?? homedir();
  const place = opts.container
    ? containerPlace(opts.container.exec, new WorkspaceFiles(ctx.nc, ctx.wsid), opts.container)
    : hostPlace();
  const keys = new AgentKeys(join(opts.dataDir, "agent-keys.json"));
  const protect = protectedPaths({
    dataDir: opts.dataDir,
    home,
    ...(opts.secretFiles && { secretFiles: opts.secretFiles }),
  });
  const threads = new ServiceThreads(ctx);
  const ws = workspaceThreadIdentifiers(ctx.wsid);
  const [threadViews, turnViews, turnLogs] = await Promise.all([
    ctx.kvm.open(ws.bucket),
    ctx.kvm.open(Buckets.turns),
    ctx.kvm.open(Buckets.turnLogs),
  ]);
  const project = await projectionHandler(ctx.kvm, [threadsProjection, turnsProjection]);
  // Confined agents on this machine reach their API through it (a container has its own network).
  const egress = place.kind === "host" ? await EgressProxy.start({ log }) : undefined;
  const runner = new TurnRunner({
    ctx,
    options: opts,
    home,
    place,
    keysFor: opts.turnKeys ?? (() => keys.all()),
    protect,
    threads,
    threadViews,
    turns: turnViews,
    egressSocket: () => {
      if (!egress) throw new Error("bug: the egress proxy is not running");
      return egress.socket;
    },
  });
  const reverts = new TurnReverts({ ctx, turns: turnViews, place, home, threads });
  const scheduler = new Scheduler({
    ctx,
    threads,
    threadViews,
    ...(opts.scheduleCheckMs !== undefined && { checkMs: opts.scheduleCheckMs }),
  });
  const signIns = new SignIns({ ctx, pool: runner.pool, place, threads, threadViews });
  const consumer = await consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: ws.stream,
    durable: opts.durable ?? AGENTS_SERVICE,
    filterSubject: ws.subjects,
    registry: threadRegistry,
    log,
    handle: async (e) => {
      await project(e);
      runner.react(e);
      scheduler.react(e);
      const t = e.event.type === "ThreadDeleted" ? threadOfSubject(e.subject) : undefined;
      if (t)
        await forgetThread(
          { ctx, turns: turnViews, turnLogs, pool: runner.pool },
          t.room,
          t.thread,
        );
    },
    rejected: project,
  });
  const commands = serveCommands<ThreadCommand, ThreadDecided, ThreadState>({
    nc: ctx.nc,
    log,
    subject: workspaceSubjects(ctx.wsid).command(AGENTS_SERVICE),
    commands: ThreadCommands,
    // One store for the wire's commands and the runner's: one cache per thread.
    store: threads.store,
    aggregateSubject: (c) => {
      const d = c.data as { room: string; thread: string };
      return threadIdentifiers(ctx.wsid, d.room, d.thread).subject;
    },
    now: ctx.now,
  });
  const requests = serveRequests({
    ctx,
    runner,
    keys,
    keysAtHub: opts.turnKeys !== undefined,
    reverts,
    signIns,
    ...(opts.hidePaths && { hidePaths: opts.hidePaths }),
  });
  void runner.resume(threadViews).catch((err) => log.warn({ err }, "resume failed"));
  void scheduler.resume().catch((err) => log.warn({ err }, "schedules not resumed"));
  return runningService([commands, consumer], async () => {
    requests.unsubscribe();
    scheduler.stop();
    await signIns.close();
    await runner.stop();
    await egress?.close();
  });
}
