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
import { WorkspaceRoles as Role } from "./hub-permissions.js";
import { QuotaSchema } from "./launchpad.js";
import { validateKeyToken } from "./subjects.js";

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const Name = Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" });
const Title = Type.String({ minLength: 1, maxLength: 200 });
const WorkspaceQuota = Type.Partial(QuotaSchema, { additionalProperties: false });
const RoleSchema = Type.Union(Object.values(Role).map((r) => Type.Literal(r)));
/** An ISO time (compared with Date.parse in the decider). */
const Time = Type.String({ minLength: 10, maxLength: 40 });

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
/**
 * An account joins the workspace with a role: added by an owner (`by`), or by accepting an
 * owner's invite link (`by` is the account itself, `invite` the link's id).
 */
export const MemberAdded = defineEvent(
  "MemberAdded",
  1,
  Type.Object({ account: Id, role: RoleSchema, by: Id, invite: Type.Optional(Id) }),
);
export const MemberRoleChanged = defineEvent(
  "MemberRoleChanged",
  1,
  Type.Object({ account: Id, role: RoleSchema, by: Id }),
);
/**
 * An account's membership ends: an owner removed it (`by`), or the workspace is deleted (its
 * members are removed first; no `by`).
 */
export const MemberRemoved = defineEvent(
  "MemberRemoved",
  1,
  Type.Object({ account: Id, by: Type.Optional(Id) }),
);
/** An owner made a one-time invite link; its secret's hash is in the hub's private store only. */
export const HubWorkspaceInviteCreated = defineEvent(
  "HubWorkspaceInviteCreated",
  1,
  Type.Object({ inviteId: Id, role: RoleSchema, expires: Time, by: Id }),
);
export const HubWorkspaceInviteRevoked = defineEvent(
  "HubWorkspaceInviteRevoked",
  1,
  Type.Object({ inviteId: Id, by: Id }),
);
/** The link was accepted (by `account`, who is added in the same decision): it is spent. */
export const HubWorkspaceInviteUsed = defineEvent(
  "HubWorkspaceInviteUsed",
  1,
  Type.Object({ inviteId: Id, account: Id }),
);
const AppPort = Type.Integer({ minimum: 1, maximum: 65535 });
/**
 * An owner shared one of the workspace's ports publicly: anyone with the link reaches that app
 * without signing in. The link's secret's hash is in the hub's private store only; sharing a
 * port again replaces its link.
 */
export const HubPortShared = defineEvent(
  "HubPortShared",
  1,
  Type.Object({ port: AppPort, by: Id }),
);
/** The port's public link was revoked: it opens nothing any more. */
export const HubPortUnshared = defineEvent(
  "HubPortUnshared",
  1,
  Type.Object({ port: AppPort, by: Id }),
);
export const HubWorkspaceDeleted = defineEvent("HubWorkspaceDeleted", 1, Type.Object({}));
export const HubWorkspaceEvents = [
  HubPortShared,
  HubPortUnshared,
  HubWorkspaceCreated,
  MemberAdded,
  MemberRoleChanged,
  MemberRemoved,
  HubWorkspaceInviteCreated,
  HubWorkspaceInviteRevoked,
  HubWorkspaceInviteUsed,
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
/** Who is in the workspace, with their names (any member may ask; owners also see emails). */
export const ListHubMembers = defineCommand("ListHubMembers", Type.Object(OnWorkspace));
/**
 * Adds the account that has `email` (it must exist): only an owner may. The answer says only
 * whether it exists, its id and its name; nothing is listed or searched.
 */
export const AddHubMember = defineCommand(
  "AddHubMember",
  Type.Object({
    ...OnWorkspace,
    email: Type.String({ minLength: 3, maxLength: 254 }),
    role: RoleSchema,
  }),
);
export const ChangeHubMemberRole = defineCommand(
  "ChangeHubMemberRole",
  Type.Object({ ...OnWorkspace, account: Id, role: RoleSchema }),
);
export const RemoveHubMember = defineCommand(
  "RemoveHubMember",
  Type.Object({ ...OnWorkspace, account: Id }),
);
/** Shortest and longest life of a workspace invite link. */
export const WORKSPACE_INVITE_TTL = { min: 60, max: 30 * 86_400, default: 7 * 86_400 } as const;
export const CreateHubWorkspaceInvite = defineCommand(
  "CreateHubWorkspaceInvite",
  Type.Object({
    ...OnWorkspace,
    role: RoleSchema,
    ttlSeconds: Type.Integer({
      minimum: WORKSPACE_INVITE_TTL.min,
      maximum: WORKSPACE_INVITE_TTL.max,
    }),
  }),
);
export const RevokeHubWorkspaceInvite = defineCommand(
  "RevokeHubWorkspaceInvite",
  Type.Object({ ...OnWorkspace, inviteId: Id }),
);
/** The signed-in account `by` accepts an invite link's token (`<inviteId>.<secret>`). */
export const AcceptHubWorkspaceInvite = defineCommand(
  "AcceptHubWorkspaceInvite",
  Type.Object({ by: Id, token: Type.String({ minLength: 1, maxLength: 256 }) }),
);
/** Makes a public link for one port (owners only); the answer holds its secret, once. */
export const ShareHubPort = defineCommand(
  "ShareHubPort",
  Type.Object({ ...OnWorkspace, port: AppPort }),
);
export const UnshareHubPort = defineCommand(
  "UnshareHubPort",
  Type.Object({ ...OnWorkspace, port: AppPort }),
);
/** Who asks CheckHubPortShare: the hub's app proxy, for a visitor who is not signed in. */
export const APP_PROXY_ACTOR = "app-proxy";
/** Whether `secret` is the public link of the workspace's `port` now; its host if so. */
export const CheckHubPortShare = defineCommand(
  "CheckHubPortShare",
  Type.Object({
    ...OnWorkspace,
    port: AppPort,
    secret: Type.String({ minLength: 1, maxLength: 128 }),
  }),
);
export const HubWorkspaceCommands = [
  ShareHubPort,
  UnshareHubPort,
  CheckHubPortShare,
  CreateHubWorkspace,
  StartHubWorkspace,
  StopHubWorkspace,
  DeleteHubWorkspace,
  RenameHubWorkspace,
  SnapshotHubWorkspace,
  RestoreHubWorkspace,
  ListHubSnapshots,
  HubCreateOptions,
  ListHubMembers,
  AddHubMember,
  ChangeHubMemberRole,
  RemoveHubMember,
  CreateHubWorkspaceInvite,
  RevokeHubWorkspaceInvite,
  AcceptHubWorkspaceInvite,
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
  /** The open invite links (never their secrets), by id. */
  invites?: Record<string, WorkspaceInviteView>;
  /** Ports anyone with their link reaches (never the links' secrets), ascending. */
  publicPorts?: number[];
  created: string;
}

/** An invite link as members see it: the role it gives and until when. */
export interface WorkspaceInviteView {
  role: Role;
  expires: string;
  by: string;
}

/** A member as the Share panel shows it. */
export interface HubMember {
  account: string;
  role: Role;
  /** The name others see (the email's part before the @). */
  name: string;
  /** Only to owners: they manage who is in. */
  email?: string;
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
      members?: HubMember[];
      member?: HubMember;
      /** A new invite link's token (`<inviteId>.<secret>`): shown once, to its owner. */
      invite?: { inviteId: string; token: string; expires: string };
      /** What accepting an invite gave. */
      joined?: { wsid: string; role: Role };
      /** A port's new public link's secret: shown once, to the owner who made it. */
      share?: { port: number; secret: string };
      /** CheckHubPortShare: the secret opens the port; the workspace's host. */
      shared?: { hostId?: string };
    }
  | { ok: false; error: { code: string; message: string } };
