/**
 * The hub's workspace views: each workspace (its members with their roles, its open invite
 * links), and each account's memberships (its list, with its role: the dashboard's "shared
 * with me" rows are the ones it does not own).
 */
import type { Envelope, StoredEvent } from "../../shared/envelope.js";
import { WorkspaceRoles } from "../../shared/hub-permissions.js";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceEvent,
  HubWorkspaceEvents,
  type HubWorkspaceView,
  type MembershipView,
} from "../../shared/hub-workspaces.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(HubWorkspaceEvents.map((d) => d.type));
/** `hubws.<wsid>` → wsid. */
const wsidOf = (subject: string) => subject.split(".")[1]!;

export const hubWorkspacesProjection: Projection<HubWorkspaceView, HubWorkspaceEvent> = {
  name: "hub-workspaces",
  bucket: HubWorkspaceBuckets.workspaces,
  canHandle: (e: Envelope): e is HubWorkspaceEvent => types.has(e.type),
  key: (e) => wsidOf(e.subject),
  evolve(view, { event, subject }: StoredEvent<HubWorkspaceEvent>) {
    switch (event.type) {
      case "HubWorkspaceCreated":
        return {
          wsid: wsidOf(subject),
          owner: event.data.owner,
          members: { [event.data.owner]: WorkspaceRoles.owner },
          title: event.data.title,
          image: event.data.image,
          quota: event.data.quota,
          placement: "placing",
          created: event.at,
        };
      case "HubWorkspacePlaced": {
        if (!view) return null;
        const { error: _e, ...rest } = view;
        return { ...rest, placement: "placed", hostId: event.data.hostId };
      }
      case "HubWorkspacePlacementFailed":
        return view && { ...view, placement: "failed", error: event.data };
      case "HubWorkspaceRenamed":
        return view && { ...view, title: event.data.title };
      case "MemberAdded":
      case "MemberRoleChanged":
        return (
          view && { ...view, members: { ...view.members, [event.data.account]: event.data.role } }
        );
      case "MemberRemoved": {
        if (!view) return null;
        const { [event.data.account]: _gone, ...members } = view.members;
        return { ...view, members };
      }
      case "HubWorkspaceInviteCreated": {
        if (!view) return null;
        const { inviteId, role, expires, by } = event.data;
        return { ...view, invites: { ...view.invites, [inviteId]: { role, expires, by } } };
      }
      case "HubWorkspaceInviteRevoked":
      case "HubWorkspaceInviteUsed": {
        if (!view) return null;
        const { [event.data.inviteId]: _spent, ...invites } = view.invites ?? {};
        return { ...view, invites };
      }
      case "HubPortShared":
      case "HubPortUnshared": {
        if (!view) return null;
        const others = (view.publicPorts ?? []).filter((p) => p !== event.data.port);
        const publicPorts =
          event.type === "HubPortShared"
            ? [...others, event.data.port].sort((a, b) => a - b)
            : others;
        return { ...view, publicPorts };
      }
      case "HubWorkspaceDeleted":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

const membershipTypes = new Set([
  "HubWorkspaceCreated",
  "MemberAdded",
  "MemberRoleChanged",
  "MemberRemoved",
]);
type MembershipEvent = Extract<
  HubWorkspaceEvent,
  { type: "HubWorkspaceCreated" | "MemberAdded" | "MemberRoleChanged" | "MemberRemoved" }
>;

export const membershipsProjection: Projection<MembershipView, MembershipEvent> = {
  name: "hub-memberships",
  bucket: HubWorkspaceBuckets.memberships,
  canHandle: (e: Envelope): e is MembershipEvent => membershipTypes.has(e.type),
  key: ({ event, subject }) =>
    `${event.type === "HubWorkspaceCreated" ? event.data.owner : event.data.account}.${wsidOf(subject)}`,
  evolve(_view, { event, subject }) {
    switch (event.type) {
      case "HubWorkspaceCreated":
        return { wsid: wsidOf(subject), account: event.data.owner, role: WorkspaceRoles.owner };
      case "MemberAdded":
      case "MemberRoleChanged":
        return { wsid: wsidOf(subject), account: event.data.account, role: event.data.role };
      case "MemberRemoved":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
