/**
 * The hub's workspaces: who owns each one, its title, and where the hub placed it. The
 * workspace itself (its container, disk, status) is its host's; the hub keeps what people
 * see on the dashboard and decides who may start, stop or delete it. Events on stream HUB
 * (`hubws.<wsid>`), projected into `hub-workspaces` (one entry per workspace) and
 * `hub-memberships` (one per account and workspace: the dashboard's list); commands on
 * `hubcmd.workspaces` from the hub's gateway only.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import type { AccountLimits } from "./hub.js";
import type { WorkspaceRoles as Role } from "./hub-permissions.js";
import { QuotaSchema } from "./launchpad.js";
import { validateKeyToken } from "./subjects.js";

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const Name = Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" });
const Title = Type.String({ minLength: 1, maxLength: 200 });
const WorkspaceQuota = Type.Partial(QuotaSchema, { additionalProperties: false });

export const HubWorkspaceSubjects = {
  /** Outside `hub.>`, so that the accounts service's consumer never sees these events. */
  workspace: (wsid: string) => `hubws.${validateKeyToken(wsid, "workspace id")}`,
  all: "hubws.*",
  /** Requests to the workspaces service; only the hub's own services may send them. */
  command: "hubcmd.workspaces",
} as const;

export { HubWorkspaceBuckets } from "./hub.js";

/** A workspace id the hub makes: lower-case letters and digits (it becomes a host name). */
export const HUB_WSID = /^w[0-9a-f]{12}$/;

// hubws.<wsid>
export const HubWorkspaceCreated = defineEvent(
  "HubWorkspaceCreated",
  1,
  Type.Object({ owner: Id, title: Title, image: Name, quota: WorkspaceQuota }),
);
export const HubWorkspacePlaced = defineEvent(
  "HubWorkspacePlaced",
  1,
  Type.Object({ hostId: Name }),
);
export const HubWorkspacePlacementFailed = defineEvent(
  "HubWorkspacePlacementFailed",
  1,
  Type.Object({ code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 1000 }) }),
);
export const HubWorkspaceRenamed = defineEvent(
  "HubWorkspaceRenamed",
  1,
  Type.Object({ title: Title }),
);
/** An account's membership ends (a workspace's members are removed before it is deleted). */
export const MemberRemoved = defineEvent("MemberRemoved", 1, Type.Object({ account: Id }));
export const HubWorkspaceDeleted = defineEvent("HubWorkspaceDeleted", 1, Type.Object({}));
export const HubWorkspaceEvents = [
  HubWorkspaceCreated,
  MemberRemoved,
  HubWorkspacePlaced,
  HubWorkspacePlacementFailed,
  HubWorkspaceRenamed,
  HubWorkspaceDeleted,
] as const;
export type HubWorkspaceEvent = EventOf<(typeof HubWorkspaceEvents)[number]>;

/** Commands of the workspaces service; `by` is the signed-in account that asks. */
export const CreateHubWorkspace = defineCommand(
  "CreateHubWorkspace",
  Type.Object({ by: Id, title: Title, image: Name, quota: WorkspaceQuota }),
);
const OnWorkspace = { by: Id, wsid: Id };
export const StartHubWorkspace = defineCommand("StartHubWorkspace", Type.Object(OnWorkspace));
export const StopHubWorkspace = defineCommand("StopHubWorkspace", Type.Object(OnWorkspace));
export const DeleteHubWorkspace = defineCommand("DeleteHubWorkspace", Type.Object(OnWorkspace));
export const RenameHubWorkspace = defineCommand(
  "RenameHubWorkspace",
  Type.Object({ ...OnWorkspace, title: Title }),
);
export const SnapshotHubWorkspace = defineCommand(
  "SnapshotHubWorkspace",
  Type.Object({ ...OnWorkspace, name: Name }),
);
export const RestoreHubWorkspace = defineCommand(
  "RestoreHubWorkspace",
  Type.Object({ ...OnWorkspace, name: Name }),
);
export const ListHubSnapshots = defineCommand("ListHubSnapshots", Type.Object(OnWorkspace));
/** The images a new workspace may have (those some ready host has), and the account's limits. */
export const HubCreateOptions = defineCommand("HubCreateOptions", Type.Object({ by: Id }));
export const HubWorkspaceCommands = [
  CreateHubWorkspace,
  StartHubWorkspace,
  StopHubWorkspace,
  DeleteHubWorkspace,
  RenameHubWorkspace,
  SnapshotHubWorkspace,
  RestoreHubWorkspace,
  ListHubSnapshots,
  HubCreateOptions,
] as const;

export { type AccountLimits, DEFAULT_ACCOUNT_LIMITS } from "./hub.js";

/** One workspace as the hub knows it (`hub-workspaces`, key `<wsid>`). */
export interface HubWorkspaceView {
  wsid: string;
  owner: string;
  /** Account → role, the owner included. */
  members: Record<string, Role>;
  title: string;
  image: string;
  quota: Static<typeof WorkspaceQuota>;
  /** `placing` until a host took it; `failed` with the reason when none could. */
  placement: "placing" | "placed" | "failed";
  hostId?: string;
  error?: { code: string; message: string };
  created: string;
}

/** That an account belongs to a workspace (`hub-memberships`, key `<account>.<wsid>`). */
export interface MembershipView {
  wsid: string;
  account: string;
  role: Role;
}

/** The answer of the workspaces service. */
export type HubWorkspaceReply =
  | {
      ok: true;
      wsid?: string;
      images?: { name: string; hosts: string[] }[];
      limits?: AccountLimits;
      snapshots?: { name: string; takenAt: string; exclusiveBytes: number | null }[];
    }
  | { ok: false; error: { code: string; message: string } };
