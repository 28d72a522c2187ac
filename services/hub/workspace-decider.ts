/**
 * One hub workspace as a pure decider: made for its owner, placed on a host (or not, with
 * the reason), renamed, shared (members added by an owner or through one-time invite links,
 * their roles changed, removed), deleted (its members removed first, so each account's list
 * loses it). Who may ask is checked here too, from the state: members act, viewers only look,
 * owners alone change who is in and delete, and the last owner stays.
 */
import type { Command } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import { WorkspaceRoles } from "../../shared/hub-permissions.js";
import type { HubWorkspaceView, WorkspaceInviteView } from "../../shared/hub-workspaces.js";

type Quota = HubWorkspaceView["quota"];
type Role = WorkspaceRoles;

export type WorkspaceCommand =
  | Command<"Create", { owner: string; title: string; image: string; quota: Quota }>
  | Command<"RecordPlacement", { hostId: string } | { code: string; message: string }>
  | Command<"Rename", { by: string; title: string }>
  | Command<"Delete", { by: string }>
  | Command<"AddMember", { by: string; account: string; role: Role }>
  | Command<"ChangeRole", { by: string; account: string; role: Role }>
  | Command<"RemoveMember", { by: string; account: string }>
  | Command<"CreateInvite", { by: string; inviteId: string; role: Role; expires: string }>
  | Command<"RevokeInvite", { by: string; inviteId: string }>
  | Command<"AcceptInvite", { account: string; inviteId: string }>
  | Command<"SharePort", { by: string; port: number }>
  | Command<"UnsharePort", { by: string; port: number }>;

export type WorkspaceDecided =
  | {
      type: "HubWorkspaceCreated";
      data: { owner: string; title: string; image: string; quota: Quota };
    }
  | { type: "HubWorkspacePlaced"; data: { hostId: string } }
  | { type: "HubWorkspacePlacementFailed"; data: { code: string; message: string } }
  | { type: "HubWorkspaceRenamed"; data: { title: string } }
  | { type: "MemberAdded"; data: { account: string; role: Role; by: string; invite?: string } }
  | { type: "MemberRoleChanged"; data: { account: string; role: Role; by: string } }
  | { type: "MemberRemoved"; data: { account: string; by?: string } }
  | {
      type: "HubWorkspaceInviteCreated";
      data: { inviteId: string; role: Role; expires: string; by: string };
    }
  | { type: "HubWorkspaceInviteRevoked"; data: { inviteId: string; by: string } }
  | { type: "HubWorkspaceInviteUsed"; data: { inviteId: string; account: string } }
  | { type: "HubPortShared"; data: { port: number; by: string } }
  | { type: "HubPortUnshared"; data: { port: number; by: string } }
  | { type: "HubWorkspaceDeleted"; data: Record<string, never> };

export type WorkspaceState =
  | { status: "none" }
  | ({ status: "active" | "deleted" } & Omit<HubWorkspaceView, "wsid" | "created" | "invites"> & {
        /** Every invite link ever made, and whether it is still open. */
        links: Record<string, WorkspaceInviteView & { status: "open" | "revoked" | "used" }>;
      });

export const NO_SUCH_WORKSPACE = () =>
  new CocalcError("ERR_WORKSPACE_NOT_FOUND", "no such workspace (it may have been deleted)");

/** The state of a workspace `by` may act on (start, stop, snapshot): a member, not a viewer. */
export function actingMember(state: WorkspaceState, by: string) {
  if (state.status !== "active" || state.members[by] === undefined) throw NO_SUCH_WORKSPACE();
  if (state.members[by] === WorkspaceRoles.viewer)
    throw new CocalcError("ERR_HUB_FORBIDDEN", "a viewer cannot change this workspace");
  return state;
}

/** The state of a workspace whose membership `by` may change: only an owner's. */
export function ownedBy(state: WorkspaceState, by: string) {
  if (state.status !== "active" || state.members[by] === undefined) throw NO_SUCH_WORKSPACE();
  if (state.members[by] !== WorkspaceRoles.owner)
    throw new CocalcError("ERR_HUB_FORBIDDEN", "only an owner may change who is in this workspace");
  return state;
}

/** Whether `account` is the workspace's only owner. */
function lastOwner(members: Record<string, Role>, account: string): boolean {
  return (
    members[account] === WorkspaceRoles.owner &&
    Object.values(members).filter((r) => r === WorkspaceRoles.owner).length === 1
  );
}

const LAST_OWNER = () =>
  new CocalcError(
    "ERR_HUB_LAST_OWNER",
    "the workspace's last owner cannot be removed or made anything else: make another owner first",
  );
const NOT_A_MEMBER = () =>
  new CocalcError("ERR_HUB_MEMBER_NOT_FOUND", "that account is not a member of this workspace");
const ALREADY_A_MEMBER = () =>
  new CocalcError("ERR_HUB_MEMBER_EXISTS", "that account is a member of this workspace already");
const BAD_INVITE = () =>
  new CocalcError("ERR_HUB_INVITE", "this invite link is not valid: ask for a new one");

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
        if (s.members[c.data.by] !== WorkspaceRoles.owner)
          throw new CocalcError("ERR_HUB_FORBIDDEN", "only an owner may delete a workspace");
        return [
          ...Object.keys(s.members).map(
            (account): WorkspaceDecided => ({ type: "MemberRemoved", data: { account } }),
          ),
          { type: "HubWorkspaceDeleted", data: {} },
        ];
      }
      case "AddMember": {
        const state = ownedBy(s, c.data.by);
        if (state.members[c.data.account] !== undefined) throw ALREADY_A_MEMBER();
        const { by, account, role } = c.data;
        return [{ type: "MemberAdded", data: { account, role, by } }];
      }
      case "ChangeRole": {
        const state = ownedBy(s, c.data.by);
        const now = state.members[c.data.account];
        if (now === undefined) throw NOT_A_MEMBER();
        if (now === c.data.role) return [];
        if (lastOwner(state.members, c.data.account)) throw LAST_OWNER();
        return [{ type: "MemberRoleChanged", data: c.data }];
      }
      case "RemoveMember": {
        const state = ownedBy(s, c.data.by);
        if (state.members[c.data.account] === undefined) throw NOT_A_MEMBER();
        if (lastOwner(state.members, c.data.account)) throw LAST_OWNER();
        return [{ type: "MemberRemoved", data: c.data }];
      }
      case "CreateInvite": {
        const state = ownedBy(s, c.data.by);
        if (state.links[c.data.inviteId] !== undefined)
          throw new CocalcError("ERR_COMMAND_REJECTED", "invite id taken");
        if (!(Date.parse(c.data.expires) > Date.parse(c.at)))
          throw new CocalcError("ERR_COMMAND_INVALID", "an invite link must expire in the future");
        return [{ type: "HubWorkspaceInviteCreated", data: c.data }];
      }
      case "RevokeInvite": {
        const state = ownedBy(s, c.data.by);
        const link = state.links[c.data.inviteId];
        if (link === undefined) throw new CocalcError("ERR_HUB_INVITE", "no such invite link");
        return link.status === "open" ? [{ type: "HubWorkspaceInviteRevoked", data: c.data }] : [];
      }
      case "AcceptInvite": {
        if (s.status !== "active") throw BAD_INVITE();
        const link = s.links[c.data.inviteId];
        if (link === undefined) throw BAD_INVITE();
        if (link.status === "used")
          throw new CocalcError(
            "ERR_HUB_INVITE",
            "this invite link was used already (each works once): ask for a new one",
          );
        if (link.status === "revoked")
          throw new CocalcError(
            "ERR_HUB_INVITE",
            "this invite link was revoked: ask for a new one",
          );
        if (Date.parse(c.at) >= Date.parse(link.expires))
          throw new CocalcError(
            "ERR_HUB_INVITE",
            "this invite link has expired: ask for a new one",
          );
        // A member keeps the link for someone else, and its role: it is not spent.
        if (s.members[c.data.account] !== undefined) throw ALREADY_A_MEMBER();
        const { account, inviteId } = c.data;
        return [
          { type: "HubWorkspaceInviteUsed", data: { inviteId, account } },
          {
            type: "MemberAdded",
            data: { account, role: link.role, by: account, invite: inviteId },
          },
        ];
      }
      case "SharePort": {
        const state = ownedBy(s, c.data.by);
        if (state.hostId === undefined)
          throw new CocalcError(
            "ERR_WORKSPACE_STATE",
            "the workspace is not on a host yet: start it, then share its app",
          );
        return [{ type: "HubPortShared", data: c.data }];
      }
      case "UnsharePort": {
        const state = ownedBy(s, c.data.by);
        return state.publicPorts?.includes(c.data.port)
          ? [{ type: "HubPortUnshared", data: c.data }]
          : [];
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
          links: {},
        };
      case "HubWorkspacePlaced":
        if (s.status === "none") return s;
        return { ...withoutError(s), placement: "placed", hostId: e.data.hostId };
      case "HubWorkspacePlacementFailed":
        if (s.status === "none") return s;
        return { ...s, placement: "failed", error: e.data };
      case "HubWorkspaceRenamed":
        return s.status === "none" ? s : { ...s, title: e.data.title };
      case "MemberAdded":
      case "MemberRoleChanged":
        if (s.status === "none") return s;
        return { ...s, members: { ...s.members, [e.data.account]: e.data.role } };
      case "MemberRemoved": {
        if (s.status === "none") return s;
        const { [e.data.account]: _gone, ...members } = s.members;
        return { ...s, members };
      }
      case "HubWorkspaceInviteCreated": {
        if (s.status === "none") return s;
        const { inviteId, ...link } = e.data;
        return { ...s, links: { ...s.links, [inviteId]: { ...link, status: "open" } } };
      }
      case "HubWorkspaceInviteRevoked":
      case "HubWorkspaceInviteUsed": {
        if (s.status === "none") return s;
        const link = s.links[e.data.inviteId];
        if (!link) return s;
        const status = e.type === "HubWorkspaceInviteUsed" ? "used" : "revoked";
        return { ...s, links: { ...s.links, [e.data.inviteId]: { ...link, status } } };
      }
      case "HubPortShared":
      case "HubPortUnshared": {
        if (s.status === "none") return s;
        const others = (s.publicPorts ?? []).filter((p) => p !== e.data.port);
        const publicPorts =
          e.type === "HubPortShared" ? [...others, e.data.port].sort((a, b) => a - b) : others;
        return { ...s, publicPorts };
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
