/**
 * What a launchpad browser user may do on NATS, computed from its account's memberships.
 * Pure: the hub signs the result into a short-lived user JWT (services/hub/nats-auth.ts).
 *
 * NATS permissions match whole tokens only (`KV_WATCHER_*` is not a pattern), so everything
 * here is a whole-token wildcard inside a subject that already pins the workspace: a consumer
 * may be created only in the subject form `$JS.<domain>.API.CONSUMER.CREATE.<stream>.<name>.<filter>`,
 * whose filter nats-server checks against the request body, and the allowed filters start with
 * the workspace's own prefix. The legacy forms (filter or name only in the body) and every
 * other JetStream API call simply are not in the allow list.
 */
import { CocalcError } from "./errors.js";
import { HubBuckets, HubWorkspaceBuckets } from "./hub.js";
import {
  Buckets,
  bucketStream,
  presenceSubjects,
  StreamSubjects,
  type Streams,
  validateKeyToken,
} from "./subjects.js";

/** A member's role in a workspace. */
export const WorkspaceRoles = {
  owner: "owner",
  collaborator: "collaborator",
  viewer: "viewer",
} as const;
export type WorkspaceRoles = (typeof WorkspaceRoles)[keyof typeof WorkspaceRoles];

/**
 * One workspace the account belongs to, and where it lives: the host and its JetStream
 * domain (none while the hub has not placed it: then only the hub's record of it is read).
 */
export interface Membership {
  wsid: string;
  role: WorkspaceRoles;
  jsDomain?: string;
  hostId?: string;
}

/** The permissions of a user JWT (the shape of `nats.pub` / `nats.sub` in its claims). */
export interface UserPermissions {
  pub: { allow: string[]; deny: string[] };
  sub: { allow: string[]; deny: string[] };
}

export interface BrowserUserInput {
  /** The launchpad account (our id, not a NATS account key). */
  accountId: string;
  /** The browser's own nkey public key ("U…"): its inbox prefix is derived from it. */
  userNkeyPublic: string;
  memberships: readonly Membership[];
  /** JetStream domain of the hub: where the account's own view (`accounts`) lives. */
  hubDomain: string;
  /** Durable consumer names of services: no browser may create, read, pull from or delete them. */
  durables?: readonly string[];
}

/**
 * Most workspaces one JWT may carry, and most of them with their host's subjects (a
 * `jsDomain`): a workspace read on the hub only (the dashboard's rows) adds about 1 KiB of
 * permissions to the JWT the browser sends in its CONNECT, one reached on its host (a
 * workspace's page, with its readers' names) about 20 KiB; the hub's nats-server allows
 * control lines of 1 MiB.
 */
export const MAX_MEMBERSHIPS = 200;
export const MAX_HOSTED_MEMBERSHIPS = 4;

const DOMAIN = /^[-_A-Za-z0-9]{1,64}$/;
const USER_KEY = /^U[A-Z2-7]{55}$/;

/** Streams that hold only workspace subjects (`ws.*.…`), derived from StreamSubjects. */
export const WorkspaceStreams: readonly Streams[] = (Object.keys(StreamSubjects) as Streams[])
  .filter((s) => StreamSubjects[s].every((p) => p.startsWith("ws.*.")))
  .sort();

/** Views whose keys are `<wsid>` or `<wsid>.…`: a member reads its workspaces' keys only. */
export const WorkspaceBuckets: readonly Buckets[] = [
  Buckets.settings,
  Buckets.workspaces,
  Buckets.terms,
  Buckets.termSnapshots,
  Buckets.docs,
  Buckets.docSnapshots,
  Buckets.threads,
  Buckets.turns,
  Buckets.turnLogs,
  Buckets.kernels,
  Buckets.apps,
];

/** How many stream readers a browser key may have at once on its workspaces' hosts. */
export const READER_SLOTS = 128;

/**
 * The names of the consumers a browser key may make on its workspaces' hosts, and the only
 * ones it may pull from, look at or delete there: `r<n>_` and the end of its key.
 */
export function readerNames(userNkeyPublic: string): string[] {
  userInboxPrefix(userNkeyPublic);
  const tail = userNkeyPublic.slice(-20);
  return Array.from({ length: READER_SLOTS }, (_, i) => `r${i}_${tail}`);
}

/** The inbox prefix of a browser user (set as `inboxPrefix` when it connects). */
export function userInboxPrefix(userNkeyPublic: string): string {
  if (!USER_KEY.test(userNkeyPublic))
    throw new CocalcError("ERR_HUB_NATS_INPUT", "not a user nkey public key (U…)");
  return `_INBOX_${userNkeyPublic}`;
}

function validDomain(domain: string, what: string): string {
  if (typeof domain !== "string" || !DOMAIN.test(domain))
    throw new CocalcError(
      "ERR_HUB_NATS_INPUT",
      `${what} ${JSON.stringify(domain)} is not a JetStream domain (1-64 of A-Z a-z 0-9 - _)`,
    );
  return domain;
}

/**
 * The JetStream API prefix that the hub's nats-server checks a browser's publish against.
 * The server maps its own domain's `$JS.<hubDomain>.API.>` to `$JS.API.>` before it checks
 * permissions, so the hub's own JetStream is allowed in the local form; a host's domain is
 * not mapped on the hub (it travels over the host's leaf connection) and stays prefixed.
 */
export function jsApiPrefix(domain: string, hubDomain: string): string {
  return domain === hubDomain ? "$JS.API" : `$JS.${domain}.API`;
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CocalcError && err.code === "ERR_SUBJECT_TOKEN")
      throw new CocalcError("ERR_HUB_NATS_INPUT", err.message);
    throw err;
  }
}

/** Gets of the keys `key` and `key.>` of `bucket` (allow_direct: the key in the subject). */
function kvRead(api: string, bucket: string, key: string): string[] {
  const stream = bucketStream(bucket);
  return [`$KV.${bucket}.${key}`, `$KV.${bucket}.${key}.>`].map(
    (s) => `${api}.DIRECT.GET.${stream}.${s}`,
  );
}

/** Every consumer call on durable `d` in `api`: create (either form), info, delete, pull. */
function denyDurable(deny: Set<string>, api: string, d: string): void {
  deny.add(`${api}.CONSUMER.*.*.${d}`);
  deny.add(`${api}.CONSUMER.*.*.${d}.>`);
  deny.add(`${api}.CONSUMER.MSG.NEXT.*.${d}`);
}

/**
 * The permissions of a browser user: for each membership its workspace's subjects (read-only
 * for a viewer), JetStream reads of its streams and view keys in the membership's domain,
 * its own account's view entry on the hub, and its own inbox prefix. Throws
 * ERR_HUB_NATS_INPUT on a malformed id, role or domain, or a workspace listed twice.
 */
export function browserUserPermissions(input: BrowserUserInput): UserPermissions {
  const accountId = checked(() => validateKeyToken(input.accountId, "account id"));
  const inbox = userInboxPrefix(input.userNkeyPublic);
  const hubDomain = validDomain(input.hubDomain, "hub domain");
  const durables = (input.durables ?? []).map((d) => checked(() => validateKeyToken(d, "durable")));
  if (!Array.isArray(input.memberships))
    throw new CocalcError("ERR_HUB_NATS_INPUT", "memberships must be a list");
  if (input.memberships.length > MAX_MEMBERSHIPS)
    throw new CocalcError(
      "ERR_HUB_NATS_INPUT",
      `at most ${MAX_MEMBERSHIPS} workspaces fit in one credential, not ${input.memberships.length}`,
    );
  const hosted = input.memberships.filter((m) => m?.jsDomain !== undefined).length;
  if (hosted > MAX_HOSTED_MEMBERSHIPS)
    throw new CocalcError(
      "ERR_HUB_NATS_INPUT",
      `at most ${MAX_HOSTED_MEMBERSHIPS} workspaces on their hosts fit in one credential, not ${hosted}`,
    );

  const pub = new Set<string>();
  const sub = new Set<string>([`${inbox}.>`]);
  const deny = new Set<string>();
  /** The domains where it reads its workspaces' streams (their hosts'). */
  const readerApis = new Set<string>();
  const readers = readerNames(input.userNkeyPublic);
  const seen = new Set<string>();
  const hubApi = jsApiPrefix(hubDomain, hubDomain);

  for (const m of input.memberships) {
    const wsid = checked(() => validateKeyToken(m?.wsid, "workspace id"));
    if (seen.has(wsid))
      throw new CocalcError("ERR_HUB_NATS_INPUT", `workspace ${wsid} is listed twice`);
    seen.add(wsid);
    if (!Object.values(WorkspaceRoles).includes(m.role))
      throw new CocalcError(
        "ERR_HUB_NATS_INPUT",
        `role ${JSON.stringify(m.role)} is not owner, collaborator or viewer`,
      );
    const ws = `ws.${wsid}`;
    // The hub's record of the workspace (title, placement), its copy of the host's view of
    // it (status, use) and its host's state.
    for (const s of kvRead(hubApi, HubWorkspaceBuckets.workspaces, wsid)) pub.add(s);
    for (const s of kvRead(hubApi, Buckets.workspaces, wsid)) pub.add(s);
    if (m.hostId !== undefined)
      for (const s of kvRead(
        hubApi,
        Buckets.hosts,
        checked(() => validateKeyToken(m.hostId, "host id")),
      ))
        pub.add(s);
    // What only the hub may ask of a workspace's host (create, quotas, exec as root, delete).
    deny.add(`${ws}.cmd.host`);
    if (m.jsDomain === undefined) continue;
    const api = jsApiPrefix(validDomain(m.jsDomain, "JetStream domain"), hubDomain);
    readerApis.add(api);

    if (m.role !== WorkspaceRoles.viewer) {
      // Commands and requests may change things (doc edits, fs writes, uploads, agent
      // prompts, starting terminals), and so do keystrokes and resizes: none for a viewer.
      pub.add(`${ws}.cmd.>`);
      pub.add(`${ws}.req.>`);
      pub.add(`${ws}.term.*.input`);
      pub.add(`${ws}.term.*.resize`);
    }
    // What only reads has subjects of its own (`read.<service>`): the services answer only
    // reads there, so NATS itself keeps a viewer to them.
    pub.add(`${ws}.read.*`);
    // Presence changes nothing stored: a viewer's heartbeat and cursor are shown, not kept.
    pub.add(`${ws}.term.*.viewer`);
    pub.add(`${ws}.presence.doc.*`);
    // Its pages' workspace presence on its own account's subject only, so that who a page
    // is, by account, is the hub's word and not the page's.
    const presence = presenceSubjects(wsid);
    pub.add(presence.page(accountId));
    sub.add(`${ws}.feed.>`);
    sub.add(`${ws}.presence.doc.*`);
    sub.add(presence.all);

    // Every subject of these streams starts with ws.<wsid>., so a get of one under it reads
    // this workspace only; a view's keys start with its id.
    for (const stream of WorkspaceStreams) pub.add(`${api}.DIRECT.GET.${stream}.${ws}.>`);
    for (const bucket of WorkspaceBuckets) {
      const b = bucketStream(bucket);
      pub.add(`${api}.DIRECT.GET.${b}.$KV.${bucket}.${wsid}`);
      pub.add(`${api}.DIRECT.GET.${b}.$KV.${bucket}.${wsid}.>`);
    }
  }
  // Its readers, which the hub's reader service makes for it (readerPlan): it asks on its
  // own subject, then looks at, pulls from and deletes them, by their names only.
  pub.add(readerSubject(input.userNkeyPublic));
  for (const api of new Set([hubApi, ...readerApis]))
    for (const name of readers)
      for (const call of ["INFO", "DELETE", "MSG.NEXT"])
        pub.add(`${api}.CONSUMER.${call}.*.${name}`);

  for (const s of kvRead(hubApi, Buckets.accounts, accountId)) pub.add(s);
  // Its own list of workspaces (`<account>.<wsid>`).
  for (const s of kvRead(hubApi, HubWorkspaceBuckets.memberships, accountId)) pub.add(s);
  // Its own signed-in browsers.
  for (const s of kvRead(hubApi, HubBuckets.sessions, accountId)) pub.add(s);

  for (const api of new Set([hubApi, ...readerApis]))
    for (const d of durables) denyDurable(deny, api, d);
  return {
    pub: { allow: [...pub], deny: [...deny] },
    sub: { allow: [...sub], deny: [] },
  };
}

/**
 * What subject permissions cannot see: the body of a browser's consumer create. Returns why
 * it must not pass, or undefined. For the gateway's websocket pipe (every browser connection
 * goes through it): a push consumer's `deliver_subject` must be under the browser's own inbox
 * prefix (else it could have its workspace's messages delivered onto any subject), and the
 * consumer must be ephemeral with one filter, the one in the subject.
 */
export function consumerCreateProblem(
  subject: string,
  payload: string,
  inboxPrefix: string,
): string | undefined {
  const parts = subject.split(".");
  const at = parts.indexOf("API");
  if (parts[0] !== "$JS" || at < 1 || parts[at + 1] !== "CONSUMER") return undefined;
  if (parts[at + 2] !== "CREATE") return undefined;
  const name = parts[at + 4];
  const filter = parts.slice(at + 5).join(".");
  let body: { config?: Record<string, unknown> };
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return "the consumer request is not JSON";
  }
  const c = body?.config;
  if (typeof c !== "object" || c === null) return "the consumer request has no config";
  if (c.durable_name !== undefined) return "browsers create ephemeral consumers only";
  if (c.name !== undefined && c.name !== name)
    return "the consumer name differs from the subject's";
  if (c.filter_subjects !== undefined) return "one filter, in the subject";
  if (c.filter_subject !== filter) return "the filter differs from the subject's";
  if (c.deliver_group !== undefined) return "no deliver group";
  const deliver = c.deliver_subject;
  if (
    deliver !== undefined &&
    (typeof deliver !== "string" || !deliver.startsWith(`${inboxPrefix}.`))
  )
    return "a push consumer delivers to the browser's own inbox only";
  return undefined;
}

/** Where a browser asks the hub's reader service for a reader: its own key's subject. */
export function readerSubject(userNkeyPublic: string): string {
  userInboxPrefix(userNkeyPublic);
  return `hubread.${userNkeyPublic}`;
}

/** Every browser's reader requests (the hub's reader service listens here). */
export const ALL_READER_REQUESTS = "hubread.*";

/** What a page asks for: a reader of `stream` filtered to `filter`, named `name`. */
export interface ReaderRequest {
  /** The workspace whose host's stream or view it reads; none: one of the hub's own views. */
  wsid?: string;
  stream: string;
  filter: string;
  name: string;
  from: { all: true } | { seq: number } | { lastPerSubject: true };
}

/** The consumer the reader service makes for a request, in JetStream domain `domain`. */
export interface ReaderPlan {
  domain: string;
  stream: string;
  config: {
    name: string;
    filter_subject: string;
    deliver_policy: "all" | "by_start_sequence" | "last_per_subject";
    opt_start_seq?: number;
  };
}

const FILTER = /^[^\s.*>]+(\.([^\s.*>]+|\*))*(\.>)?$/;

/** `filter` is `prefix` or lies under it (`prefix.…`), with no empty or odd token. */
function within(filter: string, prefix: string): boolean {
  return (filter === prefix || filter.startsWith(`${prefix}.`)) && FILTER.test(filter);
}

/**
 * Checks a browser's reader request against its account's memberships: its own name, a
 * stream and a filter it may read (its workspaces' streams and views on their hosts; on the
 * hub, its account's entry, its list, and its workspaces' and their hosts' records), and the
 * consumer to make: pull (no deliver subject), one filter. Throws ERR_HUB_NATS_INPUT (bad
 * request) or ERR_WORKSPACE_NOT_FOUND (not one of its workspaces, or not on a host yet).
 * Pure.
 */
export function readerPlan(
  req: ReaderRequest,
  o: {
    userNkeyPublic: string;
    accountId: string;
    memberships: readonly Membership[];
    hubDomain: string;
  },
): ReaderPlan {
  const bad = (why: string) => new CocalcError("ERR_HUB_NATS_INPUT", why);
  if (typeof req !== "object" || req === null) throw bad("not a reader request");
  const { stream, filter, name, from, wsid } = req;
  if (typeof stream !== "string" || typeof filter !== "string" || typeof name !== "string")
    throw bad("stream, filter and name are text");
  if (filter.length > 512) throw bad("the filter is too long");
  if (!readerNames(o.userNkeyPublic).includes(name))
    throw bad("that consumer name is not one of this browser's readers");
  const start = startOf(from);
  if (!start) throw bad("from is { all }, { seq } or { lastPerSubject }");
  const plan = (domain: string): ReaderPlan => ({
    domain,
    stream,
    config: { name, filter_subject: filter, ...start },
  });
  const kvKey = (bucket: string, key: string) =>
    stream === bucketStream(bucket) && within(filter, `$KV.${bucket}.${key}`);

  if (wsid !== undefined) {
    const m = o.memberships.find((x) => x.wsid === wsid);
    if (!m || m.jsDomain === undefined)
      throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", `no workspace ${wsid} of yours on a host`);
    const events =
      (WorkspaceStreams as readonly string[]).includes(stream) && within(filter, `ws.${wsid}`);
    if (events || WorkspaceBuckets.some((b) => kvKey(b, wsid))) return plan(m.jsDomain);
    throw bad(`${stream} ${filter} is not a stream or view of workspace ${wsid}`);
  }
  const hub =
    kvKey(Buckets.accounts, o.accountId) ||
    kvKey(HubWorkspaceBuckets.memberships, o.accountId) ||
    kvKey(HubBuckets.sessions, o.accountId) ||
    o.memberships.some(
      (m) =>
        kvKey(HubWorkspaceBuckets.workspaces, m.wsid) ||
        kvKey(Buckets.workspaces, m.wsid) ||
        (m.hostId !== undefined && kvKey(Buckets.hosts, m.hostId)),
    );
  if (hub) return plan(o.hubDomain);
  throw bad(`${stream} ${filter} is not one of your views on the hub`);
}

function startOf(
  from: ReaderRequest["from"],
): Omit<ReaderPlan["config"], "name" | "filter_subject"> | undefined {
  if (typeof from !== "object" || from === null) return undefined;
  if ("all" in from && from.all === true) return { deliver_policy: "all" };
  if ("lastPerSubject" in from && from.lastPerSubject === true)
    return { deliver_policy: "last_per_subject" };
  if ("seq" in from && Number.isSafeInteger(from.seq) && from.seq >= 1)
    return { deliver_policy: "by_start_sequence", opt_start_seq: from.seq };
  return undefined;
}
