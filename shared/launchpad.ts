/**
 * Launchpad hosts: the events, commands and views of workspaces that run in containers on a
 * host's btrfs, of the host's reference-counted mounts and of its rootfs images. Shared by the
 * host service, the `cocalc-launchpad` CLI and (later) the web app.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";

const Name = (what: string) =>
  Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$", description: what });
/** An account id: the CLI's names, or a hub account's id (base64url, may start with - or _). */
const AccountName = Type.String({ pattern: "^[-_A-Za-z0-9]{1,64}$", description: "account" });

/** Resource limits of one workspace. Disk is one limit for home, /scratch and the rootfs layer together. */
export const QuotaSchema = Type.Object(
  {
    diskMb: Type.Integer({ minimum: 16, maximum: 16 * 1024 * 1024 }),
    memoryMb: Type.Integer({ minimum: 16, maximum: 1024 * 1024 }),
    cpus: Type.Number({ minimum: 0.05, maximum: 1024 }),
    pids: Type.Integer({ minimum: 16, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);
export type Quota = Static<typeof QuotaSchema>;

/** What a workspace gets when create does not say. */
export const DEFAULT_QUOTA: Quota = { diskMb: 2048, memoryMb: 2048, cpus: 1, pids: 1000 };

/** The actions that take time and have a transitional status. */
export const WorkspaceActions = ["provision", "start", "stop", "delete"] as const;
export type WorkspaceAction = (typeof WorkspaceActions)[number];

/** Where a workspace is in its life. Transitional: provisioning, starting, stopping, deleting. */
export const WorkspaceStatuses = [
  "none",
  "provisioning",
  "stopped",
  "starting",
  "running",
  "stopping",
  "deleting",
  "deleted",
] as const;
export type WorkspaceStatus = (typeof WorkspaceStatuses)[number];

/** The transitional status of each action. */
export const ActionStatus: Readonly<Record<WorkspaceAction, WorkspaceStatus>> = {
  provision: "provisioning",
  start: "starting",
  stop: "stopping",
  delete: "deleting",
};

const ActionSchema = Type.Union(WorkspaceActions.map((a) => Type.Literal(a)));
const StatusSchema = Type.Union(WorkspaceStatuses.map((s) => Type.Literal(s)));
const ErrorSchema = Type.Object(
  { code: Type.String({ maxLength: 100 }), message: Type.String({ maxLength: 4000 }) },
  { additionalProperties: false },
);

/** A workspace's network: `default` is the host's (`--network`), `none` only loopback. */
export const WorkspaceNetworks = ["default", "none"] as const;
export type WorkspaceNetwork = (typeof WorkspaceNetworks)[number];
const WorkspaceNetworkSchema = Type.Union(WorkspaceNetworks.map((n) => Type.Literal(n)));

// Events on ws.<wsid>.life.host
export const WorkspaceProvisioning = defineEvent(
  "WorkspaceProvisioning",
  1,
  Type.Object(
    {
      hostId: Name("host id"),
      image: Name("image"),
      quota: QuotaSchema,
      account: Type.Optional(Type.String({ maxLength: 100 })),
      /** Processes inside may make user namespaces (blocked unless this says so). */
      userNamespaces: Type.Optional(Type.Boolean()),
      /** `none`: only loopback inside; absent or `default`: the host's network. */
      network: Type.Optional(WorkspaceNetworkSchema),
    },
    { additionalProperties: false },
  ),
);
export const WorkspaceStepDone = defineEvent(
  "WorkspaceStepDone",
  1,
  Type.Object(
    {
      action: ActionSchema,
      step: Type.String({ maxLength: 100 }),
      detail: Type.Optional(Type.String({ maxLength: 1000 })),
    },
    { additionalProperties: false },
  ),
);
export const WorkspaceProvisioned = defineEvent(
  "WorkspaceProvisioned",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const WorkspaceStarting = defineEvent(
  "WorkspaceStarting",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const WorkspaceRunning = defineEvent(
  "WorkspaceRunning",
  1,
  Type.Object({ container: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
);
export const WorkspaceStopping = defineEvent(
  "WorkspaceStopping",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/**
 * Stopped: by a stop, or (with `reason`) because the container's init ended by itself with
 * exit code 0 while it ran (e.g. `kill -TERM 1` inside).
 */
export const WorkspaceStopped = defineEvent(
  "WorkspaceStopped",
  1,
  Type.Object(
    {
      reason: Type.Optional(Type.String({ maxLength: 1000 })),
      exitCode: Type.Optional(Type.Integer()),
    },
    { additionalProperties: false },
  ),
);
/**
 * The running workspace's container ended on its own (init killed or failed, out of memory,
 * its monitor gone); the host cleaned up (container, rootfs, cores) and it is now stopped.
 */
export const WorkspaceFailed = defineEvent(
  "WorkspaceFailed",
  1,
  Type.Object(
    {
      error: ErrorSchema,
      exitCode: Type.Optional(Type.Integer()),
      oom: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
export const WorkspaceDeleting = defineEvent(
  "WorkspaceDeleting",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const WorkspaceDeleted = defineEvent(
  "WorkspaceDeleted",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/** An action failed; the host cleaned up and the workspace is now in `status`. */
export const WorkspaceActionFailed = defineEvent(
  "WorkspaceActionFailed",
  1,
  Type.Object(
    { action: ActionSchema, error: ErrorSchema, status: StatusSchema },
    { additionalProperties: false },
  ),
);
export const WorkspaceImageChanged = defineEvent(
  "WorkspaceImageChanged",
  1,
  Type.Object({ image: Name("image") }, { additionalProperties: false }),
);
export const WorkspaceQuotaChanged = defineEvent(
  "WorkspaceQuotaChanged",
  1,
  Type.Object({ quota: QuotaSchema }, { additionalProperties: false }),
);
export const SnapshotCreated = defineEvent(
  "SnapshotCreated",
  1,
  Type.Object({ name: Name("snapshot") }, { additionalProperties: false }),
);
export const SnapshotDeleted = defineEvent(
  "SnapshotDeleted",
  1,
  Type.Object({ name: Name("snapshot") }, { additionalProperties: false }),
);
export const WorkspaceRestored = defineEvent(
  "WorkspaceRestored",
  1,
  Type.Object({ snapshot: Name("snapshot") }, { additionalProperties: false }),
);

export const WorkspaceHostEvents = [
  WorkspaceProvisioning,
  WorkspaceStepDone,
  WorkspaceProvisioned,
  WorkspaceStarting,
  WorkspaceRunning,
  WorkspaceStopping,
  WorkspaceStopped,
  WorkspaceDeleting,
  WorkspaceDeleted,
  WorkspaceActionFailed,
  WorkspaceFailed,
  WorkspaceImageChanged,
  WorkspaceQuotaChanged,
  SnapshotCreated,
  SnapshotDeleted,
  WorkspaceRestored,
] as const;
export type WorkspaceHostEvent = EventOf<(typeof WorkspaceHostEvents)[number]>;

// Events on mount.<hostId>.<mountId>
const HolderSchema = Type.String({ pattern: "^(container|exec|agent):[-_=A-Za-z0-9]{1,100}$" });
/** Who holds a mount: the workspace container, a sandboxed exec, an agent. */
export type MountHolder = `${"container" | "exec" | "agent"}:${string}`;

export const MountReferenced = defineEvent(
  "MountReferenced",
  1,
  Type.Object(
    {
      holder: HolderSchema,
      /** Where it is mounted and what: enough for a restarted host to reconcile. */
      target: Type.String({ maxLength: 4096 }),
      lower: Type.String({ maxLength: 4096 }),
      upper: Type.String({ maxLength: 4096 }),
    },
    { additionalProperties: false },
  ),
);
export const MountReleased = defineEvent(
  "MountReleased",
  1,
  Type.Object({ holder: HolderSchema }, { additionalProperties: false }),
);
export const MountEvents = [MountReferenced, MountReleased] as const;
export type MountEvent = EventOf<(typeof MountEvents)[number]>;

// Events on host.<hostId>.life and host.<hostId>.image.<name>
export const HostStarted = defineEvent(
  "HostStarted",
  1,
  Type.Object(
    {
      root: Type.String({ maxLength: 4096 }),
      runtime: Type.String({ maxLength: 100 }),
      cgroup: Type.String({ maxLength: 10 }),
      ulimits: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 10 }),
    },
    { additionalProperties: false },
  ),
);
export const HostStopped = defineEvent(
  "HostStopped",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const ImageAdded = defineEvent(
  "ImageAdded",
  1,
  Type.Object(
    {
      name: Name("image"),
      description: Type.String({ maxLength: 1000 }),
      sizeMb: Type.Number({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
);
export const ImageRemoved = defineEvent(
  "ImageRemoved",
  1,
  Type.Object({ name: Name("image") }, { additionalProperties: false }),
);
export const HostEvents = [HostStarted, HostStopped, ImageAdded, ImageRemoved] as const;
export type HostEvent = EventOf<(typeof HostEvents)[number]>;

// Commands to ws.<wsid>.cmd.host
export const CreateWorkspaceOnHost = defineCommand(
  "CreateWorkspaceOnHost",
  Type.Object(
    {
      image: Name("image"),
      quota: Type.Optional(Type.Partial(QuotaSchema, { additionalProperties: false })),
      /** The account whose cores quota the workspace counts against (an id: it names subjects). */
      account: Type.Optional(AccountName),
      /** The host to place it on (a control plane picks a ready one when not given). */
      hostId: Type.Optional(Name("host id")),
      /** Allow nested user namespaces inside (`unshare -U`); blocked by default. */
      userNamespaces: Type.Optional(Type.Boolean()),
      /** `none`: no network but loopback; `default` (or absent): the host's network. */
      network: Type.Optional(WorkspaceNetworkSchema),
    },
    { additionalProperties: false },
  ),
);
const Empty = Type.Object({}, { additionalProperties: false });
export const StartWorkspace = defineCommand("StartWorkspace", Empty);
export const StopWorkspace = defineCommand("StopWorkspace", Empty);
export const DeleteWorkspace = defineCommand("DeleteWorkspace", Empty);
export const SetWorkspaceImage = defineCommand(
  "SetWorkspaceImage",
  Type.Object({ image: Name("image") }, { additionalProperties: false }),
);
export const SetWorkspaceQuota = defineCommand(
  "SetWorkspaceQuota",
  Type.Partial(QuotaSchema, { additionalProperties: false, minProperties: 1 }),
);
export const CreateSnapshot = defineCommand(
  "CreateSnapshot",
  Type.Object({ name: Name("snapshot") }, { additionalProperties: false }),
);
export const DeleteSnapshot = defineCommand(
  "DeleteSnapshot",
  Type.Object({ name: Name("snapshot") }, { additionalProperties: false }),
);
export const RestoreSnapshot = defineCommand(
  "RestoreSnapshot",
  Type.Object({ name: Name("snapshot") }, { additionalProperties: false }),
);
/** Runs a command in a running workspace; the reply carries its output (not stored). */
export const ExecInWorkspace = defineCommand(
  "ExecInWorkspace",
  Type.Object(
    {
      argv: Type.Array(Type.String({ maxLength: 100_000 }), { minItems: 1, maxItems: 1000 }),
      stdin: Type.Optional(Type.String({ maxLength: 128 * 1024 })),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
      root: Type.Optional(Type.Boolean()),
      /** The folder inside the workspace to run it in (default the home). */
      cwd: Type.Optional(Type.String({ pattern: "^/", maxLength: 4096 })),
    },
    { additionalProperties: false },
  ),
);
/** Lists a workspace's snapshots, newest first, with times and sizes (a read: no event). */
export const ListSnapshots = defineCommand("ListSnapshots", Empty);

/** One snapshot as ListSnapshots answers it. */
export interface SnapshotInfo {
  name: string;
  /** When btrfs made it (the snapshot subvolume's creation time). */
  takenAt: string;
  /**
   * Bytes only this snapshot holds (what deleting it frees), from its btrfs qgroup; null when
   * the qgroup is not there.
   */
  exclusiveBytes: number | null;
  /** Bytes the snapshot refers to, shared with home and other snapshots included. */
  referencedBytes: number | null;
}

export const WorkspaceHostCommands = [
  CreateWorkspaceOnHost,
  StartWorkspace,
  StopWorkspace,
  DeleteWorkspace,
  SetWorkspaceImage,
  SetWorkspaceQuota,
  CreateSnapshot,
  DeleteSnapshot,
  RestoreSnapshot,
] as const;

// Commands to host.<hostId>.cmd
export const ImportImage = defineCommand(
  "ImportImage",
  Type.Object(
    {
      name: Name("image"),
      /** A directory on the host holding the root file system (e.g. made by debootstrap). */
      source: Type.String({ minLength: 1, maxLength: 4096 }),
      description: Type.Optional(Type.String({ maxLength: 1000 })),
    },
    { additionalProperties: false },
  ),
);
export const RemoveImage = defineCommand(
  "RemoveImage",
  Type.Object({ name: Name("image") }, { additionalProperties: false }),
);
export const HostCommands = [ImportImage, RemoveImage] as const;

// Accounts: events on account.<account>.cores, commands to accountcmd.<account>
/** An account's cores quota: `null` is no limit. */
const CoresSchema = Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000 }), Type.Null()]);
export const AccountCoresQuotaChanged = defineEvent(
  "AccountCoresQuotaChanged",
  1,
  Type.Object({ cores: CoresSchema }, { additionalProperties: false }),
);
/** A workspace of the account now holds `cores` (replacing what it held): it runs, with that many cpus. */
export const CoresReserved = defineEvent(
  "CoresReserved",
  1,
  Type.Object(
    { wsid: Name("workspace id"), hostId: Name("host id"), cores: Type.Number({ minimum: 0 }) },
    { additionalProperties: false },
  ),
);
/** The workspace holds no cores of the account any more (stopped, failed to start, deleted). */
export const CoresReleased = defineEvent(
  "CoresReleased",
  1,
  Type.Object({ wsid: Name("workspace id") }, { additionalProperties: false }),
);
export const AccountEvents = [AccountCoresQuotaChanged, CoresReserved, CoresReleased] as const;
export type AccountEvent = EventOf<(typeof AccountEvents)[number]>;

export const SetAccountCoresQuota = defineCommand(
  "SetAccountCoresQuota",
  Type.Object({ cores: CoresSchema }, { additionalProperties: false }),
);
export const AccountCommands = [SetAccountCoresQuota] as const;

// The control plane's account ledger: hosts' requests to coresledger.<hostId>
/** A host holds `cores` of `account` for workspace `wsid` before it starts it. */
export const ReserveCores = defineCommand(
  "ReserveCores",
  Type.Object(
    {
      account: AccountName,
      wsid: Name("workspace id"),
      cores: Type.Number({ minimum: 0, maximum: 1024 }),
      /** Record what already runs (a restarted host), even above the quota. */
      force: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
/** The workspace holds no cores of `account` any more. */
export const ReleaseCores = defineCommand(
  "ReleaseCores",
  Type.Object(
    { account: AccountName, wsid: Name("workspace id") },
    { additionalProperties: false },
  ),
);
export const LedgerCommands = [ReserveCores, ReleaseCores] as const;

// The control plane's placements: events on placement.<wsid>
/** The control plane put the workspace on a host: its commands go there. */
export const WorkspacePlaced = defineEvent(
  "WorkspacePlaced",
  1,
  Type.Object({ hostId: Name("host id") }, { additionalProperties: false }),
);
/** The workspace was deleted (or its create refused): it is on no host. */
export const WorkspaceUnplaced = defineEvent(
  "WorkspaceUnplaced",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const PlacementEvents = [WorkspacePlaced, WorkspaceUnplaced] as const;
export type PlacementEvent = EventOf<(typeof PlacementEvents)[number]>;

/** The `accounts` view of one account. */
export interface AccountView {
  account: string;
  /** null: no limit. */
  coresQuota: number | null;
  /** Cores held by the account's running workspaces (their cpus), across hosts. */
  coresRunning: number;
  workspaces: Record<string, { hostId: string; cores: number }>;
  updatedAt: string;
}

// The control plane's registry: events on registry.token.<tokenId>
export const HostTokenIssued = defineEvent(
  "HostTokenIssued",
  1,
  Type.Object(
    { hostId: Name("host id"), expiresAt: Type.String({ minLength: 20, maxLength: 40 }) },
    { additionalProperties: false },
  ),
);
export const HostJoined = defineEvent(
  "HostJoined",
  1,
  Type.Object(
    {
      hostId: Name("host id"),
      /** The leaf login's user (older hubs) or account public key: never a secret. */
      leafUser: Type.String({ maxLength: 100 }),
    },
    { additionalProperties: false },
  ),
);
/** A token can no longer join (revoked by an operator, or replaced by a newer token of its host). */
export const HostTokenRevoked = defineEvent(
  "HostTokenRevoked",
  1,
  Type.Object(
    { reason: Type.String({ minLength: 1, maxLength: 200 }) },
    { additionalProperties: false },
  ),
);
export const RegistryEvents = [HostTokenIssued, HostJoined, HostTokenRevoked] as const;
export type RegistryEvent = EventOf<(typeof RegistryEvents)[number]>;

/** Issues a one-time registration token for a host (the reply carries its secret, once). */
export const IssueHostToken = defineCommand(
  "IssueHostToken",
  Type.Object(
    {
      hostId: Name("host id"),
      ttlSeconds: Type.Integer({ minimum: 1, maximum: 30 * 86_400 }),
      /** Who asks (an admin's account id); the console when absent. */
      by: Type.Optional(AccountName),
    },
    { additionalProperties: false },
  ),
);
/** Revokes a registration token: unused, it can no longer join; used, its host is cut off. */
export const RevokeHostToken = defineCommand(
  "RevokeHostToken",
  Type.Object(
    { tokenId: Name("token id"), by: Type.Optional(AccountName) },
    { additionalProperties: false },
  ),
);
/** Lists the registration tokens (never their secrets). */
export const ListHostTokens = defineCommand(
  "ListHostTokens",
  Type.Object({}, { additionalProperties: false }),
);
export const RegistryCommands = [IssueHostToken, RevokeHostToken, ListHostTokens] as const;

// What admins did to a host: events on registry.host.<hostId> (the fleet records them)
/** The host takes no new workspaces; those on it keep running until they are stopped. */
export const HostDrained = defineEvent(
  "HostDrained",
  1,
  Type.Object(
    { since: Type.String({ minLength: 20, maxLength: 40 }) },
    { additionalProperties: false },
  ),
);
/** The host takes new workspaces again. */
export const HostUndrained = defineEvent(
  "HostUndrained",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/** An admin (or the console) imported a rootfs image onto the host, from `source`. */
export const HostImageImported = defineEvent(
  "HostImageImported",
  1,
  Type.Object(
    { name: Name("image"), source: Type.String({ minLength: 1, maxLength: 4096 }) },
    { additionalProperties: false },
  ),
);
export const HostAdminEvents = [HostDrained, HostUndrained, HostImageImported] as const;
export type HostAdminEvent = EventOf<(typeof HostAdminEvents)[number]>;

/** Who asks the fleet: an admin's account id, or the console when absent. */
const By = Type.Optional(AccountName);
// Commands to fleetcmd (the hub's services only: the gateway for admins, the console)
/** Placement skips the host from now on (its workspaces keep running). */
export const DrainHost = defineCommand(
  "DrainHost",
  Type.Object({ hostId: Name("host id"), by: By }, { additionalProperties: false }),
);
/** Placement takes the host again. */
export const UndrainHost = defineCommand(
  "UndrainHost",
  Type.Object({ hostId: Name("host id"), by: By }, { additionalProperties: false }),
);
/**
 * Imports a rootfs directory as image `name` on a ready host, with progress. From an admin
 * (`by`), `source` must be a directory in the hub's images directory (`--images`); from the
 * console, any absolute path the host can read.
 */
export const ImportImageOnHost = defineCommand(
  "ImportImageOnHost",
  Type.Object(
    {
      hostId: Name("host id"),
      name: Name("image"),
      source: Type.String({ pattern: "^/", minLength: 1, maxLength: 4096 }),
      description: Type.Optional(Type.String({ maxLength: 1000 })),
      by: By,
    },
    { additionalProperties: false },
  ),
);
/** The rootfs directories of the hub's images directory, which admins may import from. */
export const ListImageSources = defineCommand(
  "ListImageSources",
  Type.Object({}, { additionalProperties: false }),
);
export const FleetCommands = [DrainHost, UndrainHost, ImportImageOnHost, ListImageSources] as const;

/** One rootfs directory an admin may import (ListImageSources). */
export interface ImageSource {
  /** The directory's name, the image's name by default. */
  name: string;
  /** Its path on the hub machine. */
  path: string;
}

/** One registration token as `control-plane token list` shows it. */
export interface HostTokenInfo {
  tokenId: string;
  hostId: string;
  status: "issued" | "joined" | "revoked" | "expired";
  expiresAt: string;
  issuedAt: string;
  joinedAt?: string;
  revoked?: { at: string; reason: string };
}

/** What a host keeps (0600) to join the hub: written by `hub token`. */
export interface HostTokenFile {
  v: 2;
  /** The hub's client address, where the token is exchanged. */
  natsUrl: string;
  tokenId: string;
  hostId: string;
  expiresAt: string;
  /** The token's NATS login: a user JWT (may only ask to join) and its nkey seed. */
  jwt: string;
  secret: string;
  /** The hub's certificate, when its listeners speak TLS (a hub bound off loopback). */
  tls?: HubCertPin;
}

/**
 * How a host or the console knows the hub's certificate: its SHA-256 fingerprint, and the
 * certificate itself (PEM) when it is self-signed, so it is also the only CA trusted.
 */
export interface HubCertPin {
  fingerprint: string;
  cert?: string;
}

/** The control plane's answer to a join: the host's leaf credentials (kept 0600 by the host). */
export interface LeafCredentials {
  hostId: string;
  /** `nats-leaf://host:port` of the hub's leaf node listener. */
  leafUrl: string;
  /** The leaf node's login: a user JWT in the host's own account, and its nkey seed. */
  jwt: string;
  seed: string;
  /** JetStream domains: the control plane's and the host's own. */
  hubDomain: string;
  hostDomain: string;
  /**
   * The hub's self-signed certificate as a file of the host (its leaf connection trusts that
   * certificate only); absent with a `tls://` leaf URL: the system's CAs and the URL's name.
   */
  hubCaFile?: string;
}

/** The reply to ExecInWorkspace. Output is cut at EXEC_OUTPUT_LIMIT bytes each. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
}
export const EXEC_OUTPUT_LIMIT = 512 * 1024;

/** The `workspaces` view of one workspace. */
export interface WorkspaceView {
  wsid: string;
  hostId: string;
  status: WorkspaceStatus;
  image: string;
  quota: Quota;
  account?: string;
  /** The workspace's network (`default`: the host's). */
  network?: WorkspaceNetwork;
  container?: string;
  /** The last step done of the action in progress (progress for people). */
  step?: string;
  /** `run`: the container ended by itself while the workspace ran (WorkspaceFailed). */
  lastError?: { action: WorkspaceAction | "run"; code: string; message: string; at: string };
  /** Why the container ended by itself the last time (cleared by the next start). */
  ended?: { reason: string; exitCode?: number; oom?: boolean; at: string };
  snapshots: { name: string; at: string }[];
  /**
   * Sampled by the host, in MB: `usedMb` counts against the one disk limit (`quota.diskMb`),
   * what home, /scratch and the root layer (`rootMb`: changes to `/`) reference together.
   */
  usage?: {
    usedMb?: number;
    homeMb: number;
    scratchMb: number;
    rootMb?: number;
    sampledAt: string;
  };
  updatedAt: string;
}

/**
 * The `hosts` view of one host: written by the host itself every few seconds; on a control
 * plane, from the hosts' heartbeats, with `offline` for a host whose beats stopped.
 */
export interface HostView {
  hostId: string;
  status: "starting" | "ready" | "stopped" | "offline";
  root: string;
  runtime: string;
  cgroup: string;
  running: number;
  workspaces: number;
  disk: { totalMb: number; usedMb: number };
  /** The rootfs images the host has (placement prefers a host that has a workspace's). */
  images?: string[];
  /** What the host gives workspaces (`--cpus`, `--memory-mb`; default the machine's). */
  capacity?: { cpus: number; memoryMb: number };
  /** What the quotas of its running workspaces take of that capacity. */
  committed?: { cpus: number; memoryMb: number };
  /** Cores (sum of cpus quotas) of running workspaces per account, for the control plane. */
  coresByAccount: Record<string, number>;
  lastError?: string;
  beatAt: string;
  /** When the control plane last heard the host (its own clock); only in its view. */
  seenAt?: string;
  /**
   * Since when the host is drained (placement skips it); only in the control plane's view,
   * from its own record (what a host's beat says here is dropped).
   */
  drainedAt?: string;
}

/** One message on `hostview.<hostId>`: a workspace's view on its host, or that it is gone. */
export interface HostWorkspaceViewUpdate {
  wsid: string;
  /** null: the workspace is no longer on the host. */
  view: WorkspaceView | null;
}

/** One line of progress a command's handler sends before its answer (services/runtime/progress.ts). */
export interface ProgressLine {
  line: string;
}

/** The `mounts` view of one mount: who holds it. */
export interface MountView {
  hostId: string;
  mountId: string;
  target: string;
  lower: string;
  upper: string;
  holders: string[];
  updatedAt: string;
}

/** The `images` view of one rootfs image. */
export interface ImageView {
  hostId: string;
  name: string;
  description: string;
  sizeMb: number;
  addedAt: string;
}

/**
 * The podman container name of workspace `wsid` on host `hostId`: it carries the host, so
 * hosts that share a machine (and its podman) never touch each other's containers. Neither id
 * holds a `.`, so the name parses back (wsidOfContainer).
 */
export function containerName(hostId: string, wsid: string): string {
  return `cocalc-ws-${wsid}.${hostId}`;
}

/** The workspace of host `hostId` that a container name is for, or undefined. */
export function wsidOfContainer(hostId: string, name: string): string | undefined {
  const prefix = "cocalc-ws-";
  const suffix = `.${hostId}`;
  if (!name.startsWith(prefix) || !name.endsWith(suffix)) return undefined;
  const wsid = name.slice(prefix.length, -suffix.length);
  return wsid.length > 0 && !wsid.includes(".") ? wsid : undefined;
}

/**
 * The services a launchpad host runs in each of its workspaces: what the workspace's
 * browsers ask, through the hub.
 */
export const HOSTED_SERVICES = [
  "workspace",
  "fs",
  "docs",
  "terminals",
  "agents",
  "kernels",
  "apps",
] as const;
export type HostedService = (typeof HOSTED_SERVICES)[number];

/**
 * The durable consumer of hosted service `service` of workspace `wsid` on its host: one per
 * workspace, since a host runs the services of many. No browser may touch it.
 */
export function hostedDurable(service: HostedService, wsid: string): string {
  return `${service}-${wsid}`;
}

/** The uid and gid of the workspace user inside its container. */
export const WORKSPACE_UID = 1000;
/** The workspace user's home inside its container. */
export const WORKSPACE_HOME = "/home/user";
/** Where a workspace's kernels find their connection files and bind their sockets, inside. */
export const WORKSPACE_KERNELS_DIR = "/run/cocalc/kernels";

/**
 * The podman argv (without `podman`) that runs `argv` in a running workspace (its container,
 * see containerName) as its user: how terminals, files and agents reach a container workspace
 * (spawn it, or with a pty).
 */
export function workspaceExecArgv(
  container: string,
  argv: readonly string[],
  opts: {
    tty?: boolean;
    cwd?: string;
    env?: Record<string, string>;
    /** Variables whose values podman takes from its own environment (secrets: never in argv). */
    passEnv?: readonly string[];
    root?: boolean;
  } = {},
): string[] {
  const env = [
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    ...(opts.passEnv ?? []).flatMap((k) => ["--env", k]),
  ];
  return [
    "exec",
    "-i",
    ...(opts.tty ? ["-t"] : []),
    "--user",
    opts.root ? "0:0" : `${WORKSPACE_UID}:${WORKSPACE_UID}`,
    "--workdir",
    opts.cwd ?? WORKSPACE_HOME,
    "--env",
    `HOME=${WORKSPACE_HOME}`,
    ...env,
    container,
    ...argv,
  ];
}

/**
 * The podman argv (without `podman`) of a login shell on a tty in a running workspace,
 * starting in `cwd` (its home directory, with a notice, when `cwd` does not exist there):
 * what a terminal of a container workspace runs.
 */
export function workspaceShellArgv(
  container: string,
  o: { cwd: string; env?: Record<string, string> },
): string[] {
  const script =
    'cd -- "$1" 2>/dev/null || { printf "cocalc: %s does not exist; starting in %s\\r\\n" "$1" "$HOME"; cd; }; ' +
    'for s in /bin/bash /bin/sh; do [ -x "$s" ] && exec "$s" -l; done';
  return workspaceExecArgv(container, ["/bin/sh", "-c", script, "sh", o.cwd], {
    tty: true,
    ...(o.env !== undefined && { env: o.env }),
  });
}

/** One snapshot retention rule: keep the newest snapshot of each of the last `keep` periods. */
export interface RetentionRule {
  everyMs: number;
  keep: number;
}

/** hourly ×24, daily ×7. */
export const DEFAULT_RETENTION: readonly RetentionRule[] = [
  { everyMs: 3_600_000, keep: 24 },
  { everyMs: 86_400_000, keep: 7 },
];

/** Prefix of snapshots the schedule makes; others (made by people) are never pruned. */
export const AUTO_SNAPSHOT_PREFIX = "auto-";

/**
 * Which scheduled snapshots to delete: a snapshot survives when it is the newest of its
 * period for one of the last `keep` periods of some rule. Pure; `now` comes in.
 */
export function snapshotsToPrune(
  snapshots: readonly { name: string; at: string }[],
  now: Date,
  rules: readonly RetentionRule[] = DEFAULT_RETENTION,
): string[] {
  const auto = snapshots
    .filter((s) => s.name.startsWith(AUTO_SNAPSHOT_PREFIX))
    .map((s) => ({ name: s.name, t: Date.parse(s.at) }))
    .sort((a, b) => b.t - a.t);
  const keep = new Set<string>();
  for (const rule of rules) {
    const seen = new Set<number>();
    const oldest = Math.floor(now.getTime() / rule.everyMs) - rule.keep + 1;
    for (const s of auto) {
      const period = Math.floor(s.t / rule.everyMs);
      if (period < oldest || seen.has(period)) continue;
      seen.add(period);
      keep.add(s.name);
    }
  }
  return auto.filter((s) => !keep.has(s.name)).map((s) => s.name);
}

/** The name of a scheduled snapshot taken at `at`. */
export function autoSnapshotName(at: Date): string {
  return `${AUTO_SNAPSHOT_PREFIX}${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

/** When a scheduled snapshot was taken, from its name; undefined for other names. */
export function autoSnapshotTime(name: string): Date | undefined {
  const m = /^auto-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name);
  if (!m) return undefined;
  const t = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(t) ? undefined : new Date(t);
}
