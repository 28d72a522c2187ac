/**
 * Which host a workspace is on, as a pure decider: the control plane places a workspace when
 * it is created and frees the id again when it is deleted (or its create is refused). Its
 * commands go to that host only.
 */
import type { Decider } from "../../shared/decider.js";
import { EventRegistry } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { type PlacementEvent, PlacementEvents } from "../../shared/launchpad.js";

export const placementRegistry = new EventRegistry(PlacementEvents);

export type PlacementCommand =
  | { type: "PlaceWorkspace"; data: { wsid: string; hostId: string }; actor: string; at: string }
  | { type: "UnplaceWorkspace"; data: { wsid: string }; actor: string; at: string };

type Decided = { [E in PlacementEvent as E["type"]]: { type: E["type"]; data: E["data"] } };
export type PlacementDecided = Decided[keyof Decided];

export interface PlacementState {
  hostId: string | null;
}

export const placementDecider: Decider<PlacementCommand, PlacementDecided, PlacementState> = {
  initialState: () => ({ hostId: null }),

  decide(command, state) {
    switch (command.type) {
      case "PlaceWorkspace": {
        const { wsid, hostId } = command.data;
        if (state.hostId === hostId) return [];
        if (state.hostId !== null)
          throw new CocalcError(
            "ERR_WORKSPACE_EXISTS",
            `workspace ${wsid} already exists on host ${state.hostId}`,
          );
        return [{ type: "WorkspacePlaced", data: { hostId } }];
      }
      case "UnplaceWorkspace":
        return state.hostId === null ? [] : [{ type: "WorkspaceUnplaced", data: {} }];
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "WorkspacePlaced":
        return { hostId: event.data.hostId };
      case "WorkspaceUnplaced":
        return { hostId: null };
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

/** Where a new workspace goes when its create names no host: the least busy ready host. */
export function pickHost(
  hosts: readonly { hostId: string; running: number; workspaces: number }[],
): string | undefined {
  return [...hosts].sort(
    (a, b) =>
      a.workspaces - b.workspaces ||
      a.running - b.running ||
      (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0),
  )[0]?.hostId;
}
