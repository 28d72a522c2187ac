/**
 * One hub workspace as a pure decider: made for its owner, placed on a host (or not, with
 * the reason), renamed, deleted (its members removed first, so each account's list loses it).
 * Who may ask is checked here too, from the state: members act, viewers only look, the owner
 * alone deletes.
 */
import type { Command } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import { WorkspaceRoles } from "../../shared/hub-permissions.js";
import type { HubWorkspaceView } from "../../shared/hub-workspaces.js";

type Quota = HubWorkspaceView["quota"];

export type WorkspaceCommand =
  | Command<"Create", { owner: string; title: string; image: string; quota: Quota }>
  | Command<"RecordPlacement", { hostId: string } | { code: string; message: string }>
  | Command<"Rename", { by: string; title: string }>
  | Command<"Delete", { by: string }>;

export type WorkspaceDecided =
  | {
      type: "HubWorkspaceCreated";
      data: { owner: string; title: string; image: string; quota: Quota };
    }
  | { type: "HubWorkspacePlaced"; data: { hostId: string } }
  | { type: "HubWorkspacePlacementFailed"; data: { code: string; message: string } }
  | { type: "HubWorkspaceRenamed"; data: { title: string } }
  | { type: "MemberRemoved"; data: { account: string } }
  | { type: "HubWorkspaceDeleted"; data: Record<string, never> };

export type WorkspaceState =
  | { status: "none" }
  | ({ status: "active" | "deleted" } & Omit<HubWorkspaceView, "wsid" | "created">);

export const NO_SUCH_WORKSPACE = () =>
  new CocalcError("ERR_WORKSPACE_NOT_FOUND", "no such workspace (it may have been deleted)");

/** The state of a workspace `by` may act on (start, stop, snapshot): a member, not a viewer. */
export function actingMember(state: WorkspaceState, by: string) {
  if (state.status !== "active" || state.members[by] === undefined) throw NO_SUCH_WORKSPACE();
  if (state.members[by] === WorkspaceRoles.viewer)
    throw new CocalcError("ERR_HUB_FORBIDDEN", "a viewer cannot change this workspace");
  return state;
}

export const workspaceDecider: Decider<WorkspaceCommand, WorkspaceDecided, WorkspaceState> = {
  initialState: () => ({ status: "none" }),
  decide(c, s) {
    switch (c.type) {
      case "Create":
        if (s.status !== "none")
          throw new CocalcError("ERR_COMMAND_CONFLICT", "a workspace with this id exists");
        return [{ type: "HubWorkspaceCreated", data: c.data }];
      case "RecordPlacement":
        if (s.status !== "active") return [];
        return "hostId" in c.data
          ? [{ type: "HubWorkspacePlaced", data: { hostId: c.data.hostId } }]
          : [{ type: "HubWorkspacePlacementFailed", data: c.data }];
      case "Rename": {
        const state = actingMember(s, c.data.by);
        return state.title === c.data.title
          ? []
          : [{ type: "HubWorkspaceRenamed", data: { title: c.data.title } }];
      }
      case "Delete": {
        if (s.status !== "active" || s.members[c.data.by] === undefined) throw NO_SUCH_WORKSPACE();
        if (s.owner !== c.data.by)
          throw new CocalcError("ERR_HUB_FORBIDDEN", "only its owner may delete a workspace");
        return [
          ...Object.keys(s.members).map(
            (account): WorkspaceDecided => ({ type: "MemberRemoved", data: { account } }),
          ),
          { type: "HubWorkspaceDeleted", data: {} },
        ];
      }
      default: {
        const never: never = c;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case "HubWorkspaceCreated":
        return {
          status: "active",
          owner: e.data.owner,
          members: { [e.data.owner]: WorkspaceRoles.owner },
          title: e.data.title,
          image: e.data.image,
          quota: e.data.quota,
          placement: "placing",
        };
      case "HubWorkspacePlaced":
        if (s.status === "none") return s;
        return { ...withoutError(s), placement: "placed", hostId: e.data.hostId };
      case "HubWorkspacePlacementFailed":
        if (s.status === "none") return s;
        return { ...s, placement: "failed", error: e.data };
      case "HubWorkspaceRenamed":
        return s.status === "none" ? s : { ...s, title: e.data.title };
      case "MemberRemoved": {
        if (s.status === "none") return s;
        const { [e.data.account]: _gone, ...members } = s.members;
        return { ...s, members };
      }
      case "HubWorkspaceDeleted":
        return s.status === "none" ? s : { ...s, status: "deleted" };
      default: {
        const never: never = e;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

function withoutError<S extends { error?: unknown }>(s: S): Omit<S, "error"> {
  const { error: _e, ...rest } = s;
  return rest;
}
