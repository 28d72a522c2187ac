/**
 * The gate of a container workspace (`WorkspaceGate`), from its lifecycle events: the state
 * folded from the WORKSPACES stream (not the view, which may lag a moment behind), and the
 * events as they are published while it starts.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { CocalcError } from "../../shared/errors.js";
import { WorkspaceHostEvents } from "../../shared/launchpad.js";
import { Streams, workspaceSubjects } from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import type { WorkspaceGate } from "../runtime/gate.js";
import type { Logger } from "../runtime/logger.js";
import {
  type LifecycleCommand,
  type LifecycleDecided,
  type LifecycleState,
  lifecycleDecider,
  workspaceHostRegistry,
} from "./decider.js";

/** How long something opened while the workspace starts waits for it. */
const START_WAIT_MS = 5 * 60_000;

/** Why nothing can run in a workspace in `state` (undefined: it runs or is starting). */
function refusal(wsid: string, state: LifecycleState): CocalcError | undefined {
  switch (state.status) {
    case "running":
    case "starting":
      return undefined;
    case "none":
    case "deleted":
      return new CocalcError("ERR_WORKSPACE_NOT_FOUND", `no workspace ${wsid}: create it first`);
    case "provisioning":
      return new CocalcError(
        "ERR_WORKSPACE_STATE",
        `workspace ${wsid} is being provisioned: start the workspace once it is ready`,
      );
    case "deleting":
      return new CocalcError("ERR_WORKSPACE_STATE", `workspace ${wsid} is being deleted`);
    case "stopped":
    case "stopping":
      return new CocalcError(
        "ERR_WORKSPACE_STATE",
        `workspace ${wsid} is ${state.status}: start the workspace`,
      );
    default: {
      const never: never = state.status;
      throw new Error(`unhandled status ${String(never)}`);
    }
  }
}

/** Events that end a start without the workspace running. */
const START_ENDED = new Set([
  "WorkspaceActionFailed",
  "WorkspaceStopping",
  "WorkspaceStopped",
  "WorkspaceFailed",
]);

export function workspaceGate(nc: NatsConnection, wsid: string, log: Logger): WorkspaceGate {
  let store: Promise<AggregateStore<LifecycleCommand, LifecycleDecided, LifecycleState>>;
  const subject = workspaceSubjects(wsid).hostLife;
  const state = async () => {
    store ??= jetstreamManager(nc).then(
      (jsm) =>
        new AggregateStore({
          js: jetstream(nc),
          jsm,
          log,
          stream: Streams.WORKSPACES,
          registry: workspaceHostRegistry,
          events: WorkspaceHostEvents,
          decider: lifecycleDecider,
        }),
    );
    return (await (await store).state(subject)).state;
  };
  const o = { nc };
  return {
    async check() {
      const refused = refusal(wsid, await state());
      if (refused) throw refused;
    },
    async whenRunning() {
      // Listening first, then reading the state: an event in between is in both.
      const sub = o.nc.subscribe(subject);
      try {
        await o.nc.flush();
        const s = await state();
        if (s.status === "running") return;
        const refused = refusal(wsid, s);
        if (refused) throw refused;
        const timer = setTimeout(() => sub.unsubscribe(), START_WAIT_MS);
        try {
          for await (const m of sub) {
            const ev = m.json<{ type: string; data: { error?: { message: string } } }>();
            if (ev.type === "WorkspaceRunning") return;
            if (START_ENDED.has(ev.type))
              throw new CocalcError(
                "ERR_WORKSPACE_STATE",
                `workspace ${wsid} did not start${ev.data.error ? `: ${ev.data.error.message}` : ""}; start the workspace`,
              );
          }
        } finally {
          clearTimeout(timer);
        }
        throw new CocalcError(
          "ERR_WORKSPACE_STATE",
          `workspace ${wsid} is still starting after ${START_WAIT_MS / 60_000} minutes`,
        );
      } finally {
        sub.unsubscribe();
      }
    },
  };
}
