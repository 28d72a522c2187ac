/**
 * The lifecycle of a workspace on a launchpad host, as a pure decider. People's commands
 * start an action (provision, start, stop, delete) by moving the workspace into its
 * transitional status; the host's own commands (step done, finished, failed) end it.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { EventRegistry } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  ActionStatus,
  type CreateSnapshot,
  type CreateWorkspaceOnHost,
  DEFAULT_QUOTA,
  type DeleteSnapshot,
  type DeleteWorkspace,
  type Quota,
  type RestoreSnapshot,
  type SetWorkspaceImage,
  type SetWorkspaceQuota,
  type StartWorkspace,
  type StopWorkspace,
  type WorkspaceAction,
  type WorkspaceHostEvent,
  WorkspaceHostEvents,
  type WorkspaceStatus,
} from "../../shared/launchpad.js";

/** The events of a workspace's life on a host, checked before they are published. */
export const workspaceHostRegistry = new EventRegistry(WorkspaceHostEvents);

/** Commands only the host itself sends (never accepted from the wire). */
export type HostInternalCommand =
  | {
      type: "RecordStep";
      data: { action: WorkspaceAction; step: string; detail?: string };
      actor: string;
      at: string;
    }
  | {
      type: "FinishAction";
      data: { action: WorkspaceAction; container?: string };
      actor: string;
      at: string;
    }
  | {
      /** The running workspace's container ended by itself (the host has cleaned up). */
      type: "RecordContainerEnded";
      data: { reason: string; exitCode?: number; oom?: boolean; monitorGone?: boolean };
      actor: string;
      at: string;
    }
  | {
      type: "FailAction";
      data: { action: WorkspaceAction; code: string; message: string };
      actor: string;
      at: string;
    };

export type LifecycleCommand =
  | (CommandOf<typeof CreateWorkspaceOnHost> & { hostId: string })
  | CommandOf<typeof StartWorkspace>
  | CommandOf<typeof StopWorkspace>
  | CommandOf<typeof DeleteWorkspace>
  | CommandOf<typeof SetWorkspaceImage>
  | CommandOf<typeof SetWorkspaceQuota>
  | CommandOf<typeof CreateSnapshot>
  | CommandOf<typeof DeleteSnapshot>
  | CommandOf<typeof RestoreSnapshot>
  | HostInternalCommand;

type Decided = { [E in WorkspaceHostEvent as E["type"]]: { type: E["type"]; data: E["data"] } };
export type LifecycleDecided = Decided[keyof Decided];

export interface LifecycleState {
  status: WorkspaceStatus;
  hostId: string;
  image: string;
  quota: Quota;
  account?: string;
  /** Nested user namespaces allowed inside. */
  userNamespaces?: boolean;
  /** `none`: only loopback; absent: the host's network. */
  network?: "none";
  snapshots: string[];
  container?: string;
  lastError?: { action: WorkspaceAction | "run"; code: string; message: string };
}

/** Where a failed action leaves the workspace: the host cleans up to this state. */
export const FAILED_TO: Readonly<Record<WorkspaceAction, WorkspaceStatus>> = {
  provision: "deleted",
  start: "stopped",
  stop: "stopped",
  delete: "stopped",
};

const exists = (s: LifecycleState) => s.status !== "none" && s.status !== "deleted";

function reject(state: LifecycleState, what: string): never {
  if (!exists(state)) throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", "no such workspace");
  throw new CocalcError(
    "ERR_WORKSPACE_STATE",
    `cannot ${what} a workspace that is ${state.status}`,
  );
}

function requireStatus(state: LifecycleState, what: string, ...allowed: WorkspaceStatus[]) {
  if (!allowed.includes(state.status)) reject(state, what);
}

export const lifecycleDecider: Decider<LifecycleCommand, LifecycleDecided, LifecycleState> = {
  initialState: () => ({
    status: "none",
    hostId: "",
    image: "",
    quota: DEFAULT_QUOTA,
    snapshots: [],
  }),

  decide(command, state) {
    switch (command.type) {
      case "CreateWorkspaceOnHost": {
        if (exists(state))
          throw new CocalcError("ERR_WORKSPACE_EXISTS", `the workspace is already ${state.status}`);
        const quota = { ...DEFAULT_QUOTA, ...command.data.quota };
        return [
          {
            type: "WorkspaceProvisioning",
            data: {
              hostId: command.hostId,
              image: command.data.image,
              quota,
              ...(command.data.account !== undefined && { account: command.data.account }),
              ...(command.data.userNamespaces === true && { userNamespaces: true }),
              ...(command.data.network === "none" && { network: "none" as const }),
            },
          },
        ];
      }
      case "StartWorkspace":
        if (state.status === "running" || state.status === "starting") return [];
        requireStatus(state, "start", "stopped");
        return [{ type: "WorkspaceStarting", data: {} }];
      case "StopWorkspace":
        if (state.status === "stopped" || state.status === "stopping") return [];
        requireStatus(state, "stop", "running");
        return [{ type: "WorkspaceStopping", data: {} }];
      case "DeleteWorkspace":
        if (state.status === "deleting") return [];
        requireStatus(state, "delete", "stopped");
        return [{ type: "WorkspaceDeleting", data: {} }];
      case "SetWorkspaceImage":
        requireStatus(state, "change the image of", "stopped");
        return command.data.image === state.image
          ? []
          : [{ type: "WorkspaceImageChanged", data: { image: command.data.image } }];
      case "SetWorkspaceQuota": {
        requireStatus(state, "change the quota of", "stopped", "running");
        const quota = { ...state.quota, ...command.data };
        return JSON.stringify(quota) === JSON.stringify(state.quota)
          ? []
          : [{ type: "WorkspaceQuotaChanged", data: { quota } }];
      }
      case "CreateSnapshot":
        requireStatus(state, "snapshot", "stopped", "running");
        if (state.snapshots.includes(command.data.name))
          throw new CocalcError(
            "ERR_WORKSPACE_SNAPSHOT",
            `a snapshot named ${command.data.name} already exists`,
          );
        return [{ type: "SnapshotCreated", data: { name: command.data.name } }];
      case "DeleteSnapshot":
        if (!exists(state)) reject(state, "delete a snapshot of");
        if (!state.snapshots.includes(command.data.name))
          throw new CocalcError("ERR_WORKSPACE_SNAPSHOT", `no snapshot named ${command.data.name}`);
        return [{ type: "SnapshotDeleted", data: { name: command.data.name } }];
      case "RestoreSnapshot":
        requireStatus(state, "restore", "stopped");
        if (!state.snapshots.includes(command.data.name))
          throw new CocalcError("ERR_WORKSPACE_SNAPSHOT", `no snapshot named ${command.data.name}`);
        return [{ type: "WorkspaceRestored", data: { snapshot: command.data.name } }];
      case "RecordStep":
        requireStatus(
          state,
          `record a ${command.data.action} step of`,
          ActionStatus[command.data.action],
        );
        return [{ type: "WorkspaceStepDone", data: command.data }];
      case "FinishAction": {
        const { action } = command.data;
        requireStatus(state, `finish ${action} of`, ActionStatus[action]);
        switch (action) {
          case "provision":
            return [{ type: "WorkspaceProvisioned", data: {} }];
          case "start":
            return [
              { type: "WorkspaceRunning", data: { container: command.data.container ?? "" } },
            ];
          case "stop":
            return [{ type: "WorkspaceStopped", data: {} }];
          case "delete":
            return [{ type: "WorkspaceDeleted", data: {} }];
          default: {
            const never: never = action;
            throw new Error(`unhandled action ${String(never)}`);
          }
        }
      }
      case "RecordContainerEnded": {
        requireStatus(state, "record the end of the container of", "running");
        const { reason, exitCode, oom, monitorGone } = command.data;
        const code = exitCode === undefined ? {} : { exitCode };
        // Init ended cleanly (exit 0): a stop from inside. Anything else is a failure.
        if (exitCode === 0 && !oom && !monitorGone)
          return [{ type: "WorkspaceStopped", data: { reason, ...code } }];
        return [
          {
            type: "WorkspaceFailed",
            data: {
              error: { code: "ERR_WORKSPACE_EXITED", message: reason },
              ...code,
              ...(oom && { oom: true }),
            },
          },
        ];
      }
      case "FailAction": {
        const { action, code, message } = command.data;
        requireStatus(state, `fail ${action} of`, ActionStatus[action]);
        return [
          {
            type: "WorkspaceActionFailed",
            data: { action, error: { code, message }, status: FAILED_TO[action] },
          },
        ];
      }
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "WorkspaceProvisioning": {
        // A new life: nothing of an earlier one (same id, deleted) carries over.
        const {
          lastError: _e,
          container: _c,
          userNamespaces: _u,
          network: _n,
          account: _a,
          ...rest
        } = state;
        return {
          ...rest,
          status: "provisioning",
          hostId: event.data.hostId,
          image: event.data.image,
          quota: event.data.quota,
          snapshots: [],
          ...(event.data.account !== undefined && { account: event.data.account }),
          ...(event.data.userNamespaces === true && { userNamespaces: true }),
          ...(event.data.network === "none" && { network: "none" as const }),
        };
      }
      case "WorkspaceStepDone":
        return state;
      case "WorkspaceProvisioned":
        return { ...state, status: "stopped" };
      case "WorkspaceStarting":
        return { ...state, status: "starting" };
      case "WorkspaceRunning":
        return { ...state, status: "running", container: event.data.container };
      case "WorkspaceStopping":
        return { ...state, status: "stopping" };
      case "WorkspaceStopped": {
        const { container: _c, ...rest } = state;
        return { ...rest, status: "stopped" };
      }
      case "WorkspaceDeleting":
        return { ...state, status: "deleting" };
      case "WorkspaceDeleted":
        return { ...state, status: "deleted", snapshots: [] };
      case "WorkspaceActionFailed": {
        const { container: _c, ...rest } = state;
        return {
          ...rest,
          status: event.data.status,
          lastError: { action: event.data.action, ...event.data.error },
        };
      }
      case "WorkspaceFailed": {
        const { container: _c, ...rest } = state;
        return { ...rest, status: "stopped", lastError: { action: "run", ...event.data.error } };
      }
      case "WorkspaceImageChanged":
        return { ...state, image: event.data.image };
      case "WorkspaceQuotaChanged":
        return { ...state, quota: event.data.quota };
      case "SnapshotCreated":
        return { ...state, snapshots: [...state.snapshots, event.data.name] };
      case "SnapshotDeleted":
        return { ...state, snapshots: state.snapshots.filter((n) => n !== event.data.name) };
      case "WorkspaceRestored":
        return state;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};
