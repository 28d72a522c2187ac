/**
 * Every stream and KV bucket of the product, as data. ensureStreams() makes the server match.
 * Names and subjects come only from shared/subjects.ts.
 */
import { HubBuckets } from "../shared/hub.js";
import { HubWorkspaceBuckets } from "../shared/hub-workspaces.js";
import { Buckets, bucketStream, StreamSubjects, Streams } from "../shared/subjects.js";

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

/** What we decide about a stream; everything else is the server's default. */
export interface StreamDefinition {
  name: string;
  subjects: readonly string[];
  description: string;
  /** 0 = keep forever. */
  maxAgeMs: number;
  /** -1 = unlimited. */
  maxMsgsPerSubject: number;
  maxMsgSize: number;
  duplicateWindowMs: number;
  discard: "old" | "new";
  allowRollup: boolean;
  denyDelete: boolean;
  allowDirect: boolean;
}

const MiB = 1024 * 1024;

function stream(
  name: Streams,
  description: string,
  opts: Partial<StreamDefinition> = {},
): StreamDefinition {
  return {
    name,
    subjects: StreamSubjects[name],
    description,
    maxAgeMs: 0,
    maxMsgsPerSubject: -1,
    maxMsgSize: MiB,
    duplicateWindowMs: 2 * 60 * SECOND,
    discard: "old",
    allowRollup: false,
    denyDelete: true,
    allowDirect: false,
    ...opts,
  };
}

/** Terminal output chunks kept per terminal: the replayable scrollback. */
export const TERM_CHUNKS_PER_TERMINAL = 2000;

/**
 * Events kept per kernel subject: a cell printing in a loop for days drops its oldest
 * outputs instead of filling the disk.
 */
export const KERNEL_EVENTS_PER_SUBJECT = 200_000;

export const StreamDefinitions: readonly StreamDefinition[] = [
  stream(Streams.WS_FS, "file changes: created, renamed, deleted, uploaded, changed on disk", {
    maxAgeMs: 30 * DAY,
  }),
  stream(Streams.WS_DOCS, "document patches and snapshot markers"),
  stream(Streams.WS_TERM, "terminal output chunks and size markers", {
    maxAgeMs: DAY,
    maxMsgsPerSubject: TERM_CHUNKS_PER_TERMINAL,
  }),
  // A terminal lives as long as it is not closed: its lifecycle is kept for as long.
  stream(Streams.WS_TERM_LIFE, "terminal lifecycle: opened, resized, exited, restarted, closed"),
  stream(Streams.WS_CHAT, "chat threads, messages and turns"),
  stream(Streams.WS_AGENT_LOG, "per-turn agent updates", { maxAgeMs: 14 * DAY }),
  stream(Streams.WS_APPS, "web apps plus started: started, running, exited, stopped", {
    maxAgeMs: 30 * DAY,
  }),
  // Outputs stay until the notebook has long saved them: a month, like file events.
  stream(Streams.WS_KERNEL, "kernel lifecycle, execution queue and outputs", {
    maxAgeMs: 30 * DAY,
    maxMsgsPerSubject: KERNEL_EVENTS_PER_SUBJECT,
  }),
  stream(Streams.WORKSPACES, "workspace lifecycle and settings"),
  stream(Streams.HOSTS, "host lifecycle"),
  stream(Streams.MOUNTS, "mount references"),
  stream(Streams.REMOTE, "remote sessions, port forwards and sync"),
  stream(Streams.ACCOUNTS, "launchpad accounts: cores quota and cores held by running workspaces"),
];

/**
 * The control plane's own streams. Only these: a stream there on the subjects of hosts (or a
 * KV bucket of theirs) would also store what joined hosts publish through the leaf node.
 */
export const ControlPlaneStreams: readonly StreamDefinition[] = [
  stream(Streams.REGISTRY, "registration tokens of hosts, and hosts that joined"),
  stream(Streams.PLACEMENTS, "which host each workspace is on"),
  stream(Streams.LEDGER, "accounts' cores quota and the cores their workspaces hold on every host"),
];

/** What we decide about a KV bucket. */
export interface BucketDefinition {
  name: string;
  description: string;
  history: number;
  /** 0 = no expiry. */
  ttlMs: number;
  maxValueSize: number;
}

export const BucketDefinitions: readonly BucketDefinition[] = [
  {
    name: Buckets.services,
    description: "health of every service instance",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.settings,
    description: "workspace settings",
    history: 5,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.workspaces,
    description: "launchpad workspaces: status, image, quota, last error, snapshots, disk use",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.hosts,
    description: "launchpad hosts: readiness, running workspaces, disk use",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.mounts,
    description: "reference-counted mounts of launchpad hosts and their holders",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.images,
    description: "rootfs images of launchpad hosts",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.terms,
    description: "terminals: status, size, exit code, viewers",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    // One compressed screen + scrollback per terminal: attaching is this plus the tail of WS_TERM.
    name: Buckets.termSnapshots,
    description: "terminal screen snapshots (headless xterm, serialized and compressed)",
    history: 1,
    ttlMs: 0,
    maxValueSize: MiB,
  },
  {
    name: Buckets.syncPairs,
    description: "file sync pairs of remote sessions: settings, status, progress, conflicts",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.accounts,
    description: "launchpad accounts: cores quota and the cores of running workspaces",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.docs,
    description: "documents: path, head sequence, saved sequence, file present or deleted",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    // Opening a document is its newest stored text plus the patches after it.
    name: Buckets.docSnapshots,
    description: "document texts at a sequence: the newest, and the oldest history keeps",
    history: 1,
    ttlMs: 0,
    maxValueSize: MiB,
  },
  {
    name: Buckets.threads,
    description: "agent threads: settings, session, running turn and queue",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.turns,
    description: "agent turns: prompt, status, stop reason or failure, heartbeat, usage",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    // A finished turn opens from its folded log: one read instead of its every update. Kept
    // as long as the log itself (WS_AGENT_LOG).
    name: Buckets.turnLogs,
    description: "agent turns' logs folded once closed: what the page shows of each",
    history: 1,
    ttlMs: 14 * DAY,
    maxValueSize: MiB,
  },
  {
    name: Buckets.remoteSessions,
    description: "remote sessions: target, status, ports, versions, tunnel restarts",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.portForwards,
    description: "port forwards of remote sessions: ports, direction, status, restarts",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
  {
    name: Buckets.kernels,
    description: "kernels of notebooks: kernelspec, state, execution queue, how one died",
    history: 1,
    ttlMs: 0,
    maxValueSize: 256 * 1024,
  },
  {
    name: Buckets.apps,
    description: "web apps plus started: kind, port, directory, status, exit code",
    history: 1,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  },
];

/** A KV bucket is a stream with the shape nats.js expects when it binds to it. */
export function bucketAsStream(b: BucketDefinition): StreamDefinition {
  return {
    name: bucketStream(b.name),
    subjects: [`$KV.${b.name}.>`],
    description: b.description,
    maxAgeMs: b.ttlMs,
    maxMsgsPerSubject: b.history,
    maxMsgSize: b.maxValueSize,
    duplicateWindowMs: 2 * 60 * SECOND,
    discard: "new",
    allowRollup: true,
    denyDelete: true,
    allowDirect: true,
  };
}

/** Every stream the server must have, KV buckets included. */
export function allStreams(): StreamDefinition[] {
  return [...StreamDefinitions, ...BucketDefinitions.map(bucketAsStream)];
}

/** Streams and views of launchpad's hosts alone: their workspaces, mounts, images, accounts. */
const HOST_ONLY = new Set<string>([
  Streams.HOSTS,
  Streams.MOUNTS,
  Streams.ACCOUNTS,
  ...[Buckets.workspaces, Buckets.hosts, Buckets.mounts, Buckets.images, Buckets.accounts].map(
    bucketStream,
  ),
]);

/**
 * What plus makes: every stream and view but those of launchpad's hosts (plus is one
 * workspace on one machine; none of its services or pages uses them). Each one less is a few
 * directories and files less for nats-server to make on a first start.
 */
export function plusStreams(): StreamDefinition[] {
  return allStreams().filter((d) => !HOST_ONLY.has(d.name));
}

/**
 * The control plane's views: hosts (from their heartbeats) and accounts (its ledger). Leaf
 * logins may neither publish nor receive `$KV.>`, so these never mix with a host's own.
 */
export function controlPlaneStreams(): StreamDefinition[] {
  const views = new Set<string>([
    Buckets.hosts,
    Buckets.accounts,
    Buckets.workspaces,
    // The health of its own services (the supervisor writes it).
    Buckets.services,
  ]);
  return [
    ...ControlPlaneStreams,
    ...BucketDefinitions.filter((b) => views.has(b.name)).map(bucketAsStream),
  ];
}

/**
 * The launchpad hub's own stream and views: accounts, invites, the sign-up mode, and the
 * mutable store of what identifies people (one revision kept, so an erased value is gone).
 */
export function hubStreams(): StreamDefinition[] {
  const view = (name: string, description: string, history = 1): BucketDefinition => ({
    name,
    description,
    history,
    ttlMs: 0,
    maxValueSize: 64 * 1024,
  });
  return [
    stream(Streams.HUB, "hub accounts, invites and sign-up mode (no personal data)"),
    ...[
      view(HubBuckets.accounts, "hub accounts: role, status, how they were made"),
      view(HubBuckets.invites, "hub invites: uses, expiry, status"),
      view(HubBuckets.config, "hub: set up or not, sign-up mode"),
      view(HubBuckets.sessions, "hub accounts' signed-in browsers: session id, device, since when"),
      view(HubWorkspaceBuckets.workspaces, "hub workspaces: owner, members, title, placement"),
      view(HubWorkspaceBuckets.memberships, "hub memberships: which workspaces an account has"),
    ].map(bucketAsStream),
    // Two revisions: a new value is written, then the one before it is erased in place
    // (overwritten on disk), so no limit ever drops an old password hash without erasing it.
    {
      ...bucketAsStream(
        view(HubBuckets.private, "hub accounts' emails, password hashes, invite secrets", 2),
      ),
      denyDelete: false,
    },
  ];
}
