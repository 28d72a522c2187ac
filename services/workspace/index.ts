/**
 * The workspace service: workspace settings as events (stream WORKSPACES) projected into the
 * `settings` view. On start it creates the workspace if it does not exist yet.
 */
import { hostname } from "node:os";
import { commandReply } from "../../shared/command-client.js";
import { EventRegistry } from "../../shared/envelope.js";
import { AllWorkspaces, ServiceNames, Streams, workspaceSubjects } from "../../shared/subjects.js";
import { WorkspaceCommands, WorkspaceEvents } from "../../shared/workspace.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { projectionHandler } from "../runtime/projection.js";
import { type RunningService, runningService, type ServiceDefinition } from "../runtime/service.js";
import {
  type WorkspaceCommand,
  type WorkspaceDecided,
  type WorkspaceState,
  workspaceDecider,
} from "./decider.js";
import { settingsProjection } from "./projections.js";

export const WORKSPACE_SERVICE = ServiceNames.workspace;
export const workspaceRegistry = new EventRegistry(WorkspaceEvents);

export interface WorkspaceServiceOptions {
  /** Title of a workspace created on first start. */
  defaultTitle?: string;
  /**
   * The durable of this one workspace's settings (a launchpad host runs one service per
   * workspace); without it, the one service of plus reads every workspace's.
   */
  durable?: string;
}

export function workspaceService(opts: WorkspaceServiceOptions = {}): ServiceDefinition {
  const durable = opts.durable ?? WORKSPACE_SERVICE;
  return {
    name: WORKSPACE_SERVICE,
    durables: [durable],
    async start(ctx): Promise<RunningService> {
      const subjects = workspaceSubjects(ctx.wsid);
      const project = await projectionHandler(ctx.kvm, [settingsProjection]);
      const projector = await consumeEvents({
        nc: ctx.nc,
        js: ctx.js,
        jsm: ctx.jsm,
        stream: Streams.WORKSPACES,
        durable,
        // Only settings: the stream also holds the host lifecycle of launchpad workspaces.
        filterSubject: opts.durable === undefined ? AllWorkspaces.settings : subjects.life,
        registry: workspaceRegistry,
        log: ctx.log,
        handle: project,
        rejected: project,
      });
      const commands = serveCommands<WorkspaceCommand, WorkspaceDecided, WorkspaceState>({
        nc: ctx.nc,
        log: ctx.log,
        subject: subjects.command(WORKSPACE_SERVICE),
        commands: WorkspaceCommands,
        store: new AggregateStore({
          js: ctx.js,
          jsm: ctx.jsm,
          log: ctx.log,
          stream: Streams.WORKSPACES,
          registry: workspaceRegistry,
          events: WorkspaceEvents,
          decider: workspaceDecider,
        }),
        aggregateSubject: () => subjects.life,
        now: ctx.now,
      });
      // Idempotent: once created, CreateWorkspace decides nothing.
      const reply = await commandReply(
        ctx.nc,
        subjects.command(WORKSPACE_SERVICE),
        {
          type: "CreateWorkspace",
          data: { title: (opts.defaultTitle ?? hostname()).slice(0, 100) },
        },
        { timeoutMs: 10_000 },
      );
      if (!reply.ok) ctx.log.warn({ reason: reply.error.message }, "workspace not created");
      // One part failing stops the other too: the supervisor then starts one fresh instance.
      return runningService([commands, projector], async () => undefined);
    },
  };
}
