/** The hub's workspace views: each workspace, and each account's memberships (its list). */
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
      case "MemberRemoved": {
        if (!view) return null;
        const { [event.data.account]: _gone, ...members } = view.members;
        return { ...view, members };
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

type MembershipEvent = Extract<
  HubWorkspaceEvent,
  { type: "HubWorkspaceCreated" | "MemberRemoved" }
>;

export const membershipsProjection: Projection<MembershipView, MembershipEvent> = {
  name: "hub-memberships",
  bucket: HubWorkspaceBuckets.memberships,
  canHandle: (e: Envelope): e is MembershipEvent =>
    e.type === "HubWorkspaceCreated" || e.type === "MemberRemoved",
  key: ({ event, subject }) =>
    `${event.type === "HubWorkspaceCreated" ? event.data.owner : event.data.account}.${wsidOf(subject)}`,
  evolve(_view, { event, subject }) {
    switch (event.type) {
      case "HubWorkspaceCreated":
        return { wsid: wsidOf(subject), account: event.data.owner, role: WorkspaceRoles.owner };
      case "MemberRemoved":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
