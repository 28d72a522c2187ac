/**
 * The one place that builds subjects, stream names, KV buckets and keys. Every
 * workspace-scoped subject starts with `ws.<wsid>.` and every workspace-scoped key with
 * `<wsid>.` (or is the wsid itself), so that per-workspace permissions are possible.
 */
import { base64urlToBytes, bytesToBase64url } from "./base64url.js";
import { CocalcError } from "./errors.js";

const MAX_TOKEN = 200;
const BAD_TOKEN = /[.*>\s]/u;
const KV_KEY_TOKEN = /^[-_=A-Za-z0-9]+$/;

/** Throws ERR_SUBJECT_TOKEN unless `token` can stand alone as one subject token. */
export function validateToken(token: string, what = "token"): string {
  if (typeof token !== "string" || token.length === 0) {
    throw new CocalcError("ERR_SUBJECT_TOKEN", `${what} is empty`);
  }
  if (token.length > MAX_TOKEN) {
    throw new CocalcError("ERR_SUBJECT_TOKEN", `${what} is longer than ${MAX_TOKEN} characters`);
  }
  if (BAD_TOKEN.test(token)) {
    throw new CocalcError(
      "ERR_SUBJECT_TOKEN",
      `${what} ${JSON.stringify(token)} contains '.', '*', '>' or whitespace`,
    );
  }
  return token;
}

/** Like validateToken, but also restricted to the characters a KV key may hold. */
export function validateKeyToken(token: string, what = "key token"): string {
  validateToken(token, what);
  if (!KV_KEY_TOKEN.test(token)) {
    throw new CocalcError(
      "ERR_SUBJECT_TOKEN",
      `${what} ${JSON.stringify(token)} has characters a key may not hold`,
    );
  }
  return token;
}

/** Encodes a path (any string, e.g. `/home/a/b c.txt`) as one subject token, reversibly. */
export function pathToken(path: string): string {
  if (path.length === 0) throw new CocalcError("ERR_SUBJECT_PATH", "path is empty");
  if (path.includes("\0")) throw new CocalcError("ERR_SUBJECT_PATH", "path contains a NUL byte");
  return bytesToBase64url(new TextEncoder().encode(path));
}

/** The inverse of pathToken. */
export function pathFromToken(token: string): string {
  validateToken(token, "path token");
  const bytes = base64urlToBytes(token);
  if (bytes === undefined || bytes.length === 0) {
    throw new CocalcError("ERR_SUBJECT_PATH", `${JSON.stringify(token)} is not a path token`);
  }
  let path: string;
  try {
    path = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CocalcError("ERR_SUBJECT_PATH", `${JSON.stringify(token)} is not valid UTF-8`);
  }
  if (path.includes("\0")) throw new CocalcError("ERR_SUBJECT_PATH", "path contains a NUL byte");
  return path;
}

/** Service names: each service's command subject, durable consumer and health key use it. */
export const ServiceNames = {
  workspace: "workspace",
  host: "host",
  fs: "fs",
  terminals: "terminals",
  sync: "sync",
  docs: "docs",
  agents: "agents",
  remote: "remote",
  forwards: "forwards",
  apps: "apps",
  kernels: "kernels",
} as const;
export type ServiceNames = (typeof ServiceNames)[keyof typeof ServiceNames];

/** Stream names. */
export const Streams = {
  WS_FS: "WS_FS",
  WS_DOCS: "WS_DOCS",
  WS_TERM: "WS_TERM",
  WS_TERM_LIFE: "WS_TERM_LIFE",
  WS_CHAT: "WS_CHAT",
  WS_AGENT_LOG: "WS_AGENT_LOG",
  WS_APPS: "WS_APPS",
  WS_KERNEL: "WS_KERNEL",
  WORKSPACES: "WORKSPACES",
  HOSTS: "HOSTS",
  MOUNTS: "MOUNTS",
  REMOTE: "REMOTE",
  ACCOUNTS: "ACCOUNTS",
  REGISTRY: "REGISTRY",
  PLACEMENTS: "PLACEMENTS",
  LEDGER: "LEDGER",
  HUB: "HUB",
} as const;
export type Streams = (typeof Streams)[keyof typeof Streams];

/** The subject patterns each stream captures. */
export const StreamSubjects: Record<Streams, readonly string[]> = {
  WS_FS: ["ws.*.fs.>"],
  WS_DOCS: ["ws.*.doc.*.>"],
  WS_TERM: ["ws.*.term.*.out"],
  WS_TERM_LIFE: ["ws.*.term.*.life"],
  WS_CHAT: ["ws.*.chat.>"],
  WS_AGENT_LOG: ["ws.*.agent.*.*.log"],
  WS_APPS: ["ws.*.app.>"],
  WS_KERNEL: ["ws.*.kernel.*.*"],
  WORKSPACES: ["ws.*.life.>"],
  HOSTS: ["host.>"],
  MOUNTS: ["mount.>"],
  REMOTE: ["remote.>"],
  ACCOUNTS: ["account.>"],
  REGISTRY: ["registry.>"],
  PLACEMENTS: ["placement.>"],
  LEDGER: ["ledger.>"],
  HUB: ["hub.>", "hubws.>"],
};

/** KV buckets ("views"). */
export const Buckets = {
  services: "services",
  settings: "settings",
  workspaces: "workspaces",
  hosts: "hosts",
  mounts: "mounts",
  images: "images",
  terms: "terms",
  termSnapshots: "term-snapshots",
  syncPairs: "sync-pairs",
  accounts: "accounts",
  docs: "docs",
  docSnapshots: "doc-snapshots",
  threads: "threads",
  turns: "turns",
  turnLogs: "turn-logs",
  remoteSessions: "remote-sessions",
  portForwards: "port-forwards",
  apps: "apps",
  kernels: "kernels",
} as const;
export type Buckets = (typeof Buckets)[keyof typeof Buckets];

/** Subjects of workspace `wsid`. */
export function workspaceSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  const base = `ws.${wsid}`;
  return {
    /** Everything of the workspace. */
    all: `${base}.>`,
    /** Settings and lifecycle events of the workspace (stream WORKSPACES). */
    life: `${base}.life.settings`,
    /** Lifecycle of the workspace on its launchpad host: create, start, stop, snapshots (stream WORKSPACES). */
    hostLife: `${base}.life.host`,
    /** Request/reply commands to one service of the workspace (core NATS, not stored). */
    command: (service: string) => `${base}.cmd.${validateToken(service, "service name")}`,
    /** All command subjects of the workspace. */
    commands: `${base}.cmd.>`,
    /** Request/reply API of a service that is not event-sourced, e.g. fs (core NATS, not stored). */
    request: (service: string) => `${base}.req.${validateToken(service, "service name")}`,
    /** All request subjects of the workspace. */
    requests: `${base}.req.>`,
    /**
     * Requests of a service that only read (an fs listing, a file's start, opening a
     * document): a viewer may send these and nothing on `req`/`cmd` (core NATS, not stored).
     */
    read: (service: string) => `${base}.read.${validateToken(service, "service name")}`,
    /** All read-only request subjects of the workspace. */
    reads: `${base}.read.>`,
    /** Live notifications of a service, e.g. fs changes of watched directories (core NATS, not stored). */
    feed: (service: string) => `${base}.feed.${validateToken(service, "service name")}`,
    /** All feed subjects of the workspace. */
    feeds: `${base}.feed.>`,
    /** Whether the event store takes events (StoreState, core NATS: works on a full disk). */
    storeFeed: `${base}.feed.store`,
    /** plus itself says it is stopping, to its open pages (core NATS). */
    plusFeed: `${base}.feed.plus`,
    /** Asks for the event store's state now (a page that opens; viewers may). */
    storeRead: `${base}.read.store`,
    /** File events of one kind: created, written, renamed, copied, deleted, uploaded (stream WS_FS). */
    fsEvent: (kind: string) => `${base}.fs.${validateToken(kind, "fs event kind")}`,
    /** All file events of the workspace. */
    fsEvents: `${base}.fs.>`,
  } as const;
}

/**
 * Subjects of agent threads and turns of workspace `wsid`. Only shared/agents.ts calls this:
 * every per-thread and per-turn identifier comes from its threadIdentifiers/turnIdentifiers.
 */
export function agentSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  return {
    /** Events of one thread of chat room `room`: settings, turns, session (stream WS_CHAT). */
    thread: (room: string, thread: string) =>
      `ws.${wsid}.chat.${validateKeyToken(room, "room id")}.${validateKeyToken(thread, "thread id")}`,
    /** Every thread of the workspace, as a filter. */
    threads: `ws.${wsid}.chat.*.*`,
    /** The log of one turn: every agent update, in order (stream WS_AGENT_LOG). */
    turnLog: (thread: string, turn: string) =>
      `ws.${wsid}.agent.${validateKeyToken(thread, "thread id")}.${validateKeyToken(turn, "turn id")}.log`,
    /** Every turn log of a thread, as a filter. */
    threadLogs: (thread: string) =>
      `ws.${wsid}.agent.${validateKeyToken(thread, "thread id")}.*.log`,
  } as const;
}

/** Subject filters that span every workspace (for a host serving many). */
export const AllWorkspaces = {
  /** Settings events of every workspace. */
  settings: "ws.*.life.settings",
  /** Host lifecycle events of every workspace. */
  hostLife: "ws.*.life.host",
  /** Commands to `service` of any workspace. */
  command: (service: string) => `ws.*.cmd.${validateToken(service, "service name")}`,
  /** Requests to `service` of any workspace. */
  request: (service: string) => `ws.*.req.${validateToken(service, "service name")}`,
  /** Asks for the event store's state, of any workspace (a host answers for its own). */
  storeRead: "ws.*.read.store",
} as const;

/** Subjects of launchpad host `hostId` (stream HOSTS). */
export function hostSubjects(hostId: string) {
  validateKeyToken(hostId, "host id");
  return {
    /** Host started / stopped. */
    life: `host.${hostId}.life`,
    /** Events of one rootfs image on the host. */
    image: (name: string) => `host.${hostId}.image.${validateKeyToken(name, "image name")}`,
    /** Host-level commands (images); outside `host.>` so the HOSTS stream does not store them. */
    command: `hostcmd.${hostId}`,
    /** Commands to one workspace placed on this host (the control plane routes them here). */
    workspaceCommand: (wsid: string) =>
      `hostcmd.${hostId}.ws.${validateToken(wsid, "workspace id")}`,
    /** Every workspace command to this host, as a filter. */
    workspaceCommands: `hostcmd.${hostId}.ws.*`,
    /**
     * The request subjects of one streamed exec session (shared/launchpad-exec.ts) of a
     * workspace on this host: under `hostcmd.<hostId>.ws.<wsid>`, so that they reach the host
     * from the control plane the way the workspace's commands do.
     */
    exec: (wsid: string, execId: string) => {
      const base = `hostcmd.${hostId}.ws.${validateToken(wsid, "workspace id")}.exec.${validateToken(execId, "exec id")}`;
      return {
        stdin: `${base}.stdin`,
        stdout: `${base}.stdout`,
        resize: `${base}.resize`,
        /** The client says it is alive (it may not read while its own output is slow). */
        alive: `${base}.alive`,
        close: `${base}.close`,
      } as const;
    },
    /** Every exec session subject of this host, as a filter. */
    execs: `hostcmd.${hostId}.ws.*.exec.*.*`,
    /**
     * The two directions of one byte pipe (services/runtime/byte-pipe.ts) to a workspace on
     * this host: the hub sends under `hostcmd.<hostId>.ws.<wsid>` (a host hears only its own
     * commands; a browser may send none), the host sends on `hostpipe.<hostId>.<pipeId>`,
     * which the hub's account alone imports from the host's.
     */
    pipe: (wsid: string, pipeId: string) =>
      ({
        toHost: `hostcmd.${hostId}.ws.${validateToken(wsid, "workspace id")}.pipe.${validateKeyToken(pipeId, "pipe id")}`,
        fromHost: `hostpipe.${hostId}.${validateKeyToken(pipeId, "pipe id")}`,
      }) as const,
    /** Every pipe this host sends on (the hub's account imports them). */
    pipesFromHost: `hostpipe.${hostId}.>`,
    /** The host's heartbeat (its `hosts` view record) for the control plane (core NATS). */
    beat: `hostbeat.${hostId}`,
    /** The host's requests to the control plane's account ledger (core NATS request/reply). */
    ledger: `coresledger.${hostId}`,
    /**
     * The host's workspace views, mirrored to the hub as they change (core NATS): the hub
     * keeps its own copy for the dashboards (HostWorkspaceViewUpdate).
     */
    views: `hostview.${hostId}`,
    /**
     * The host's requests for the agent API keys of the account a turn runs for (core NATS,
     * answered on the host's inbox): the hub keeps them, encrypted.
     */
    agentKeys: `hostkeys.${hostId}`,
    /**
     * The inbox prefix of a joined host's connections: the only replies the control plane
     * can send it (answers to its ledger requests).
     */
    inbox: `_HI.${hostId}`,
  } as const;
}

/** Subject filters that span every host. */
export const AllHosts = {
  /** Image events of every host. */
  images: "host.*.image.*",
  /** Every mount of every host. */
  mounts: "mount.>",
  /** Heartbeats of every host (the control plane listens). */
  beats: "hostbeat.*",
  /** Ledger requests of every host (the control plane answers). */
  ledger: "coresledger.*",
  /** Every host's mirrored workspace views. */
  views: "hostview.*",
  /** Every host's requests for agent API keys (the hub answers). */
  agentKeys: "hostkeys.*",
  /** Every joined host's inbox (see hostSubjects().inbox). */
  inboxes: "_HI.*.>",
  /** What every host sends on its byte pipes (see hostSubjects().pipe). */
  pipes: "hostpipe.>",
} as const;

/** The operations of an exec session subject (hostSubjects().exec). */
export const ExecOps = ["stdin", "stdout", "resize", "alive", "close"] as const;
export type ExecOp = (typeof ExecOps)[number];

/** Workspace, session and operation of `hostcmd.<hostId>.ws.<wsid>.exec.<execId>.<op>`. */
export function execOfSubject(
  subject: string,
): { wsid: string; execId: string; op: ExecOp } | undefined {
  const p = subject.split(".");
  if (p.length !== 7 || p[0] !== "hostcmd" || p[2] !== "ws" || p[4] !== "exec") return undefined;
  const op = p[6] as ExecOp;
  return ExecOps.includes(op) ? { wsid: p[3]!, execId: p[5]!, op } : undefined;
}

/** The host whose inbox (`_HI.<hostId>.…`, hostSubjects().inbox) `reply` is; undefined for any other. */
export function hostOfInbox(reply: string | undefined): string | undefined {
  const parts = reply?.split(".") ?? [];
  return parts[0] === "_HI" && parts.length > 2 ? parts[1] : undefined;
}

/** The host id in `hostbeat.<id>`, `coresledger.<id>`, `hostcmd.<id>…` and the like, or undefined. */
export function hostOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return ["hostbeat", "coresledger", "hostcmd", "hostview", "hostkeys", "hostpipe"].includes(
    parts[0] ?? "",
  ) && parts.length > 1
    ? parts[1]
    : undefined;
}

/**
 * Requests to the plus process of workspace `wsid` itself (its gateway: a new token), core
 * NATS, outside `ws.<wsid>.` so that the browser's user can never send them.
 */
export function plusControlSubject(wsid: string): string {
  return `pluscontrol.${validateToken(wsid, "workspace id")}`;
}

/** Where the control plane records which host a workspace is on (stream PLACEMENTS). */
export function placementSubject(wsid: string): string {
  return `placement.${validateKeyToken(wsid, "workspace id")}`;
}

/** The account ledger of the control plane (stream LEDGER): one aggregate per account. */
export function ledgerSubjects(account: string) {
  validateKeyToken(account, "account id");
  return {
    /** The account's cores quota and what its running workspaces hold, on every host. */
    cores: `ledger.${account}.cores`,
  } as const;
}

/** Subject filters of the control plane's account ledger. */
export const AllLedger = { cores: "ledger.*.cores" } as const;

/** Subjects of a launchpad account (stream ACCOUNTS). */
export function accountSubjects(account: string) {
  validateKeyToken(account, "account id");
  return {
    /** The account's cores: its quota and what its running workspaces hold. */
    cores: `account.${account}.cores`,
    /** Account commands; outside `account.>` so the ACCOUNTS stream does not store them. */
    command: `accountcmd.${account}`,
  } as const;
}

/** Subject filters that span every account. */
export const AllAccounts = {
  cores: "account.*.cores",
  commands: "accountcmd.*",
} as const;

/**
 * The account id in an account subject (`account.<id>.…`, the control plane's
 * `ledger.<id>.…`, or `accountcmd.<id>`), or undefined.
 */
export function accountOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return ((parts[0] === "account" || parts[0] === "ledger") && parts.length > 2) ||
    (parts[0] === "accountcmd" && parts.length === 2)
    ? parts[1]
    : undefined;
}

/** The control plane's registry of hosts (stream REGISTRY on the control plane). */
export const RegistrySubjects = {
  /** Events of one registration token: issued, used, revoked. */
  token: (tokenId: string) => `registry.token.${validateKeyToken(tokenId, "token id")}`,
  /** Every token's events, as a filter. */
  tokens: "registry.token.*",
  /** What admins did to one host: drained, undrained, an image imported (the fleet writes it). */
  host: (hostId: string) => `registry.host.${validateKeyToken(hostId, "host id")}`,
  /** Commands of the control plane's operators (issue a token); not stored. */
  command: "registrycmd",
  /** A host exchanges token `tokenId` for leaf credentials here (core NATS request). */
  join: (tokenId: string) => `hostjoin.${validateKeyToken(tokenId, "token id")}`,
  joins: "hostjoin.*",
  /** The inbox prefix of a joining host: all that its login may receive. */
  joinInbox: (tokenId: string) => `_JOIN.${validateKeyToken(tokenId, "token id")}`,
  /** Every joining host's inbox (no leaf node may listen there). */
  joinInboxes: "_JOIN.>",
} as const;

/** The control plane's fleet: its admins' commands for hosts (drain, import an image). */
export const FleetSubjects = {
  /** Commands of admins and the console (never stored; only the hub's services may send). */
  command: "fleetcmd",
} as const;

/** The JetStream domain of a joined host's own nats-server. */
export function hostDomain(hostId: string): string {
  return `host-${validateKeyToken(hostId, "host id")}`;
}

/** The stream an older control plane sourced host `hostId`'s events into (removed at start). */
export function hostEventsStream(hostId: string): string {
  return `HOST_EVENTS_${validateKeyToken(hostId, "host id")}`;
}

/** The subject of one reference-counted mount on a host (stream MOUNTS). */
export function mountSubject(hostId: string, mountId: string): string {
  return `mount.${validateKeyToken(hostId, "host id")}.${validateKeyToken(mountId, "mount id")}`;
}

/** Every mount subject of a host. */
export function hostMountsSubject(hostId: string): string {
  return `mount.${validateKeyToken(hostId, "host id")}.*`;
}

/** Subjects of terminal `tid` of workspace `wsid`. */
export function terminalSubjects(wsid: string, tid: string) {
  validateToken(wsid, "workspace id");
  const base = `ws.${wsid}.term.${validateKeyToken(tid, "terminal id")}`;
  return {
    /**
     * The terminal's recording, what a viewer replays: output chunks (raw bytes) and size
     * markers, in order; capped per subject (stream WS_TERM).
     */
    out: `${base}.out`,
    /** Lifecycle events: opened, resized, exited, restarted, closed (stream WS_TERM_LIFE). */
    life: `${base}.life`,
    /** Keystrokes to the terminal (core NATS, never stored). */
    input: `${base}.input`,
    /** A viewer asks for a new size (core NATS, never stored). */
    resize: `${base}.resize`,
    /** A viewer's presence heartbeat (core NATS, never stored). */
    viewer: `${base}.viewer`,
  } as const;
}

/** The same subjects for every terminal of workspace `wsid`, as subscription filters. */
export function workspaceTerminalSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  const base = `ws.${wsid}.term.*`;
  return {
    life: `${base}.life`,
    input: `${base}.input`,
    resize: `${base}.resize`,
    viewer: `${base}.viewer`,
  } as const;
}

/** Subjects of kernel `kid` (see kernelIdForPath in shared/kernels.ts) of workspace `wsid`. */
export function kernelSubjects(wsid: string, kid: string) {
  validateToken(wsid, "workspace id");
  const base = `ws.${wsid}.kernel.${validateKeyToken(kid, "kernel id")}`;
  return {
    /** Lifecycle and execution queue: started, ready, queued, finished, died (stream WS_KERNEL). */
    life: `${base}.life`,
    /** What executions produced: outputs, display updates, clears (stream WS_KERNEL). */
    out: `${base}.out`,
    /** Both, as a filter: what a notebook replays. */
    all: `${base}.*`,
  } as const;
}

/** The same subjects for every kernel of workspace `wsid`, as filters. */
export function workspaceKernelSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  return { life: `ws.${wsid}.kernel.*.life`, all: `ws.${wsid}.kernel.*.*` } as const;
}

/** The kernel id in a kernel subject (`ws.<wsid>.kernel.<kid>.<kind>`), or undefined. */
export function kernelIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "ws" && parts[2] === "kernel" ? parts[3] : undefined;
}

/** Subjects of document `doc` (see docIdForPath in shared/docs.ts) of workspace `wsid`. */
export function docSubjects(wsid: string, doc: string) {
  validateToken(wsid, "workspace id");
  validateKeyToken(doc, "document id");
  return {
    /** The document's events: opened, patched, in their one order (stream WS_DOCS). */
    patches: `ws.${wsid}.doc.${doc}.patch`,
    /** Names given to versions of the document (stream WS_DOCS, beside the patches). */
    names: `ws.${wsid}.doc.${doc}.name`,
    /** Cursors and selections of the document's viewers (core NATS, never stored). */
    presence: `ws.${wsid}.presence.doc.${doc}`,
  } as const;
}

/** The same subjects for every document of workspace `wsid`, as subscription filters. */
export function workspaceDocSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  return {
    patches: `ws.${wsid}.doc.*.patch`,
    presence: `ws.${wsid}.presence.doc.*`,
  } as const;
}

/**
 * Workspace presence (who has the workspace open, and where): each page's heartbeats and its
 * leave, on a subject that names the page's launchpad account (`PLUS_ACCOUNT` on plus), so a
 * hub JWT can let a page publish on its own account's subject only (core NATS, never stored).
 */
export function presenceSubjects(wsid: string) {
  validateToken(wsid, "workspace id");
  const base = `ws.${wsid}.presence.page`;
  return {
    /** Where pages of `account` announce themselves. */
    page: (account: string) => `${base}.${validateKeyToken(account, "account id")}`,
    /** Every page's announcements, as a subscription filter. */
    all: `${base}.*`,
  } as const;
}

/** The account token of a presence subject (`ws.<wsid>.presence.page.<account>`), or undefined. */
export function accountOfPresenceSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "ws" && parts[2] === "presence" && parts[3] === "page"
    ? parts[4]
    : undefined;
}

/** The document id in a document subject (`ws.<wsid>.doc.<doc>.patch`), or undefined. */
export function docIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "ws" && parts[2] === "doc" ? parts[3] : undefined;
}

/** The terminal id in a terminal subject (`ws.<wsid>.term.<tid>.<kind>`), or undefined. */
export function terminalIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "ws" && parts[2] === "term" ? parts[3] : undefined;
}

/** The workspace id in a workspace subject, or undefined. */
export function wsidOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts[0] === "ws" && parts.length > 2 ? parts[1] : undefined;
}

/**
 * Subjects of remote session `sid` (stream REMOTE). Sync pairs and port forwards of the
 * session live under the same prefix, so removing a session finds all of them.
 */
export function remoteSubjects(sid: string) {
  const base = `remote.${validateKeyToken(sid, "session id")}`;
  return {
    /** Everything of the session, as a filter. */
    all: `${base}.>`,
    /** The session's lifecycle: added, connected, tunnel up and down, stopped, removed. */
    session: `${base}.session`,
    /** Events of one sync pair of the session. */
    sync: (pair: string) => `${base}.sync.${validateKeyToken(pair, "sync pair id")}`,
    /** The settings subject of every sync pair of the session, as a filter. */
    syncConfigs: `${base}.sync.*.cfg`,
    /** Events of one port forward of the session. */
    forward: (fid: string) => `${base}.forward.${validateKeyToken(fid, "forward id")}`,
  } as const;
}

/** Every remote session's lifecycle subject, as a filter. */
export const AllRemoteSessions = "remote.*.session";

/** The session id in a remote subject (`remote.<sid>.…`), or undefined. */
export function sessionIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts[0] === "remote" && parts.length > 2 ? parts[1] : undefined;
}

/** Subjects of sync pair `pair` of remote session `sid` (stream REMOTE, under the session). */
export function syncSubjects(sid: string, pair: string) {
  const base = remoteSubjects(sid).sync(pair);
  return {
    /** The pair's settings: added, changed, paused, resumed, removed, check requested. */
    config: `${base}.cfg`,
    /** The work: cycles, decisions, transfers, deletes, conflicts. */
    run: `${base}.run`,
  } as const;
}

/** Every sync subject of every session, as a consumer filter. */
export const AllSync = { all: "remote.*.sync.>" } as const;

/** The pair id in a sync subject (`remote.<sid>.sync.<pair>.<kind>`), or undefined. */
export function syncPairOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "remote" && parts[2] === "sync" ? parts[3] : undefined;
}

/** Subjects of app `app` of workspace `wsid` (stream WS_APPS). */
export function appSubjects(wsid: string, app: string) {
  const base = `ws.${validateToken(wsid, "workspace id")}.app.${validateKeyToken(app, "app id")}`;
  return {
    /** What was asked: started (its settings), stopped. */
    config: `${base}.cfg`,
    /** What its process did: running, exited, failed. */
    run: `${base}.run`,
  } as const;
}

/** Every app subject of every workspace, as a consumer filter. */
export const AllApps = { all: "ws.*.app.>" } as const;

/** The app id in an app subject (`ws.<wsid>.app.<app>.<kind>`), or undefined. */
export function appIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "ws" && parts[2] === "app" ? parts[3] : undefined;
}

/** Subjects of port forward `fid` of remote session `sid` (stream REMOTE, under the session). */
export function forwardSubjects(sid: string, fid: string) {
  const base = remoteSubjects(sid).forward(fid);
  return {
    /** The forward's settings: added, removed. */
    config: `${base}.cfg`,
    /** Its ssh process: started, up, exited, stopped. */
    run: `${base}.run`,
  } as const;
}

/** Every forward subject of every session, as a consumer filter. */
export const AllForwards = { all: "remote.*.forward.>" } as const;

/** The forward id in a forward subject (`remote.<sid>.forward.<fid>.<kind>`), or undefined. */
export function forwardIdOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 5 && parts[0] === "remote" && parts[2] === "forward"
    ? parts[3]
    : undefined;
}

/** Keys of the KV views. */
export const Keys = {
  /** Health record of one running instance of a service. */
  service: (service: string, instance: string) =>
    `${validateKeyToken(service, "service name")}.${validateKeyToken(instance, "instance id")}`,
  /** Settings of a workspace. */
  settings: (wsid: string) => validateKeyToken(wsid, "workspace id"),
  /** Runtime state of a workspace on its launchpad host. */
  workspace: (wsid: string) => validateKeyToken(wsid, "workspace id"),
  /** A launchpad host. */
  host: (hostId: string) => validateKeyToken(hostId, "host id"),
  /** A launchpad account (view `accounts`). */
  account: (account: string) => validateKeyToken(account, "account id"),
  /** A reference-counted mount of a host. */
  mount: (hostId: string, mountId: string) =>
    `${validateKeyToken(hostId, "host id")}.${validateKeyToken(mountId, "mount id")}`,
  /** A rootfs image of a host. */
  image: (hostId: string, name: string) =>
    `${validateKeyToken(hostId, "host id")}.${validateKeyToken(name, "image name")}`,
  /** A terminal of a workspace (views `terms` and `term-snapshots`). */
  terminal: (wsid: string, tid: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(tid, "terminal id")}`,
  /** A sync pair (view `sync-pairs`). */
  syncPair: (pair: string) => validateKeyToken(pair, "sync pair id"),
  /** An agent thread (view `threads`). */
  thread: (wsid: string, room: string, thread: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(room, "room id")}.${validateKeyToken(thread, "thread id")}`,
  /** Every thread of a chat room, as a watch filter. */
  roomThreads: (wsid: string, room: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(room, "room id")}.*`,
  /** Every thread of a workspace, as a watch filter. */
  workspaceThreads: (wsid: string) => `${validateKeyToken(wsid, "workspace id")}.*.*`,
  /** A turn of an agent thread (view `turns`). */
  turn: (wsid: string, thread: string, turn: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(thread, "thread id")}.${validateKeyToken(turn, "turn id")}`,
  /** A finished turn's log, folded (view `turn-logs`): what a tab shows without replaying it. */
  turnLog: (wsid: string, thread: string, turn: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(thread, "thread id")}.${validateKeyToken(turn, "turn id")}`,
  /** Every turn of a thread, as a watch filter. */
  threadTurns: (wsid: string, thread: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(thread, "thread id")}.*`,
  /** Every terminal of a workspace, as a watch filter. */
  terminals: (wsid: string) => `${validateKeyToken(wsid, "workspace id")}.*`,
  /** A document of a workspace (view `docs`). */
  doc: (wsid: string, doc: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(doc, "document id")}`,
  /** A stored text of a document (view `doc-snapshots`): the newest or history's oldest. */
  docSnapshot: (wsid: string, doc: string, which: "head" | "base") =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(doc, "document id")}.${which}`,
  /** A remote session (view `remote-sessions`). */
  remoteSession: (sid: string) => validateKeyToken(sid, "session id"),
  /** A port forward of a remote session (view `port-forwards`). */
  portForward: (fid: string) => validateKeyToken(fid, "forward id"),
  /** A kernel of a workspace (view `kernels`). */
  kernel: (wsid: string, kid: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(kid, "kernel id")}`,
  /** Every kernel of a workspace, as a watch filter. */
  kernels: (wsid: string) => `${validateKeyToken(wsid, "workspace id")}.*`,
  /** A web app of a workspace (view `apps`). */
  app: (wsid: string, app: string) =>
    `${validateKeyToken(wsid, "workspace id")}.${validateKeyToken(app, "app id")}`,
  /** Every app of a workspace, as a watch filter. */
  apps: (wsid: string) => `${validateKeyToken(wsid, "workspace id")}.*`,
} as const;

/** The JetStream stream that backs a KV bucket (as nats.js names it). */
export function bucketStream(bucket: string): string {
  return `KV_${validateToken(bucket, "bucket")}`;
}
