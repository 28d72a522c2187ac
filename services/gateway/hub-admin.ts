/**
 * The hub's admin pages over HTTP: accounts (a page of them, searched by email; disable,
 * enable, make admin or user, a password reset link), sign-up invites (a page of them, revoke),
 * hosts (state, capacity, workspaces on each) and their
 * registration tokens (issue, list, revoke). Every action is the accounts service's or the
 * registry's, with the signed-in admin as the one who acts (recorded as the events' actor).
 * Register after authPlugin.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { errorText, request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import {
  AccountLimitsSchema,
  type AccountView,
  HubBuckets,
  type HubReply,
  HubSubjects,
  type InviteItem,
  type InviteView,
  MAX_RESET_TTL_SECONDS,
} from "../../shared/hub.js";
import type { HostTokenFile, HostTokenInfo, HostView } from "../../shared/launchpad.js";
import { accountSubjects, Buckets, RegistrySubjects, Streams } from "../../shared/subjects.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";

export const HUB_ADMIN_PATH = "/api/hub/admin";

export interface HubAdminOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
  /** The clock (Unix ms) that decides which invites have expired; tests move it. */
  now?: () => number;
}

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const AccountsQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 254 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
});
const AccountAction = Type.Object({
  id: Id,
  action: Type.Union(["disable", "enable", "admin", "user"].map((a) => Type.Literal(a))),
});
const LimitsBody = Type.Object(
  {
    limits: AccountLimitsSchema,
    /** Cores its running workspaces may hold together (the fleet's ledger); null: no limit. */
    cores: Type.Union([Type.Integer({ minimum: 0, maximum: 100_000 }), Type.Null()]),
  },
  { additionalProperties: false },
);
const ResetLinkBody = Type.Object(
  { ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: MAX_RESET_TTL_SECONDS })) },
  { additionalProperties: false },
);
const TokenBody = Type.Object(
  {
    hostId: Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" }),
    ttlSeconds: Type.Integer({ minimum: 60, maximum: 30 * 86_400 }),
  },
  { additionalProperties: false },
);

const PageQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
});

/** A page of sign-up invites, newest first; `now` decides which open ones have expired. */
export function pageOfInvites(
  all: readonly InviteView[],
  now: number,
  offset: number,
  limit: number,
): { total: number; invites: InviteItem[] } {
  const sorted = [...all].sort((a, b) => b.created.localeCompare(a.created));
  const invites = sorted
    .slice(offset, offset + limit)
    .map(
      (i): InviteItem =>
        i.status === "open" && i.expires !== undefined && Date.parse(i.expires) <= now
          ? { ...i, status: "expired" }
          : i,
    );
  return { total: sorted.length, invites };
}

const ActivityQuery = Type.Object({
  /** Where the previous page ended: `<HUB seq>.<REGISTRY seq>` (read below them). */
  before: Type.Optional(Type.String({ pattern: "^[0-9]+\\.[0-9]+$" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
});

/** One line of the activity page: an event of the hub's or the registry's, and who caused it. */
export interface ActivityItem {
  stream: string;
  seq: number;
  subject: string;
  type: string;
  actor: string;
  at: string;
  data: unknown;
}

/** The signed-in account of `req`, if it is an active admin (else ERR_HUB_FORBIDDEN). */
export async function requireAdmin(
  nc: NatsConnection,
  sessions: BrowserSessions,
  req: FastifyRequest,
): Promise<string> {
  const by = accountOfRequest(sessions, req);
  const me = await askHub<HubReply>(nc, HubSubjects.command, "WhoAmI", { by }, "accounts service");
  if (me.account?.role !== "admin" || me.account.status !== "active")
    throw new CocalcError("ERR_HUB_FORBIDDEN", "only an admin may do that");
  return by;
}

/** The newest `limit` of both lists (each newest first); where each stream's next page starts. */
export function mergeActivity(
  lists: Record<string, { items: ActivityItem[]; before: number }>,
  limit: number,
): { items: ActivityItem[]; before: Record<string, number> } {
  const all = Object.values(lists)
    .flatMap((l) => l.items)
    .sort((a, b) => b.at.localeCompare(a.at) || b.seq - a.seq)
    .slice(0, limit);
  const before: Record<string, number> = {};
  for (const [stream, l] of Object.entries(lists)) {
    const taken = all.filter((i) => i.stream === stream);
    before[stream] = taken.length > 0 ? Math.min(...taken.map((i) => i.seq)) : l.before;
  }
  return { items: all, before };
}

/** A page of accounts whose email holds `q` (any case), oldest first. */
export function pageOfAccounts<T extends { email?: string }>(
  all: readonly T[],
  q: string | undefined,
  offset: number,
  limit: number,
): { total: number; accounts: T[] } {
  const needle = q?.trim().toLowerCase();
  const found = needle ? all.filter((a) => a.email?.toLowerCase().includes(needle)) : all;
  return { total: found.length, accounts: found.slice(offset, offset + limit) };
}

export const hubAdminPlugin = fp<HubAdminOptions>(
  async (app: FastifyInstance, opts: HubAdminOptions) => {
    const { nc, sessions } = opts;
    const accounts = (type: string, data: unknown) =>
      askHub<HubReply>(nc, HubSubjects.command, type, data, "accounts service");
    const registry = <T>(type: string, data: unknown) =>
      request<{ result: T }>(
        nc,
        RegistrySubjects.command,
        { type, data },
        {
          timeoutMs: 30_000,
          refused: (error) => new CocalcError("ERR_HOST_JOIN", errorText(error)),
        },
      ).then((r) => r.result);

    const admin = (req: FastifyRequest) => requireAdmin(nc, sessions, req);
    /** Every entry of a view (a KV bucket). */
    const valuesOf = async <T>(bucket: string): Promise<T[]> => {
      const { Kvm } = await import("@nats-io/kv");
      const kv = await new Kvm(nc).open(bucket);
      const all: T[] = [];
      for await (const key of await kv.keys()) {
        const e = await kv.get(key);
        if (e?.operation === "PUT" && e.length > 0) all.push(e.json<T>());
      }
      return all;
    };
    const fresh = <R>(reply: { header(k: string, v: string): R }) =>
      reply.header("Cache-Control", "no-store");

    app.get<{ Querystring: Static<typeof AccountsQuery> }>(
      `${HUB_ADMIN_PATH}/accounts`,
      { schema: { querystring: AccountsQuery } },
      async (req, reply) => {
        const by = await admin(req);
        const all = (await accounts("ListAccounts", { by })).accounts ?? [];
        const page = pageOfAccounts<AccountView & { email?: string }>(
          all,
          req.query.q,
          req.query.offset ?? 0,
          req.query.limit ?? 50,
        );
        return fresh(reply).send(page);
      },
    );

    app.post<{ Params: Static<typeof AccountAction> }>(
      `${HUB_ADMIN_PATH}/accounts/:id/:action`,
      { schema: { params: AccountAction } },
      async (req, reply) => {
        const by = await admin(req);
        const { id, action } = req.params;
        const r =
          action === "disable" || action === "enable"
            ? await accounts("SetAccountDisabled", {
                by,
                account: id,
                disabled: action === "disable",
              })
            : await accounts("SetAccountRole", { by, account: id, role: action });
        return fresh(reply).send({ account: r.account });
      },
    );

    app.post<{ Params: { id: string }; Body: Static<typeof LimitsBody> }>(
      `${HUB_ADMIN_PATH}/accounts/:id/limits`,
      { schema: { params: Type.Object({ id: Id }), body: LimitsBody } },
      async (req, reply) => {
        const by = await admin(req);
        const r = await accounts("SetAccountLimits", {
          by,
          account: req.params.id,
          limits: req.body.limits,
        });
        // The running cores together are the fleet's ledger's (every host asks it at a start).
        await request(
          nc,
          accountSubjects(req.params.id).command,
          { type: "SetAccountCoresQuota", data: { cores: req.body.cores } },
          { timeoutMs: 30_000 },
        );
        return fresh(reply).send({ account: r.account });
      },
    );

    // A one-time link that sets the account's password (shown once, to this admin only).
    app.post<{ Params: { id: string }; Body: Static<typeof ResetLinkBody> }>(
      `${HUB_ADMIN_PATH}/accounts/:id/reset-link`,
      { schema: { params: Type.Object({ id: Id }), body: ResetLinkBody } },
      async (req, reply) => {
        const by = await admin(req);
        const r = await accounts("CreateResetLink", {
          by,
          account: req.params.id,
          ttlSeconds: req.body.ttlSeconds ?? 86_400,
        });
        return fresh(reply).send({ reset: r.reset });
      },
    );

    // Sign-up invites (made with POST /api/hub/invites): a page of them, and revoking one,
    // which also erases its secret's hash.
    app.get<{ Querystring: Static<typeof PageQuery> }>(
      `${HUB_ADMIN_PATH}/invites`,
      { schema: { querystring: PageQuery } },
      async (req, reply) => {
        await admin(req);
        const all = await valuesOf<InviteView>(HubBuckets.invites);
        return fresh(reply).send(
          pageOfInvites(
            all,
            (opts.now ?? Date.now)(),
            req.query.offset ?? 0,
            req.query.limit ?? 50,
          ),
        );
      },
    );

    app.post<{ Params: { id: string } }>(
      `${HUB_ADMIN_PATH}/invites/:id/revoke`,
      { schema: { params: Type.Object({ id: Id }) } },
      async (req, reply) => {
        const by = await admin(req);
        await accounts("RevokeInvite", { by, invite: req.params.id });
        return fresh(reply).send({ ok: true });
      },
    );

    /** Up to `limit` events of `stream` below sequence `before` (0: from the newest), newest first. */
    async function newestOf(stream: string, before: number, limit: number) {
      const { jetstreamManager } = await import("@nats-io/jetstream");
      const jsm = await jetstreamManager(nc);
      const last = (await jsm.streams.info(stream)).state.last_seq;
      const items: ActivityItem[] = [];
      for (let seq = before > 0 ? before - 1 : last; seq > 0 && items.length < limit; seq--) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (!m) continue;
        try {
          const e = m.json<{ type: string; actor: string; at: string; data: unknown }>();
          if (typeof e?.type !== "string") continue;
          items.push({
            stream,
            seq,
            subject: m.subject,
            type: e.type,
            actor: e.actor,
            at: e.at,
            data: e.data,
          });
        } catch {
          // not an event: skipped
        }
      }
      return { items, before: before > 0 ? before : last + 1 };
    }

    app.get<{ Querystring: Static<typeof ActivityQuery> }>(
      `${HUB_ADMIN_PATH}/activity`,
      { schema: { querystring: ActivityQuery } },
      async (req, reply) => {
        await admin(req);
        const limit = req.query.limit ?? 50;
        const [hub, reg] = (req.query.before ?? "0.0").split(".").map(Number) as [number, number];
        const page = mergeActivity(
          {
            [Streams.HUB]: await newestOf(Streams.HUB, hub, limit),
            [Streams.REGISTRY]: await newestOf(Streams.REGISTRY, reg, limit),
          },
          limit,
        );
        const more = page.before[Streams.HUB]! > 1 || page.before[Streams.REGISTRY]! > 1;
        return fresh(reply).send({
          items: page.items,
          ...(more && { before: `${page.before[Streams.HUB]}.${page.before[Streams.REGISTRY]}` }),
        });
      },
    );

    app.get(`${HUB_ADMIN_PATH}/hosts`, async (req, reply) => {
      await admin(req);
      const hosts = await valuesOf<HostView>(Buckets.hosts);
      hosts.sort((a, b) => a.hostId.localeCompare(b.hostId));
      return fresh(reply).send({ hosts });
    });

    app.get(`${HUB_ADMIN_PATH}/tokens`, async (req, reply) => {
      await admin(req);
      return fresh(reply).send({ tokens: await registry<HostTokenInfo[]>("ListHostTokens", {}) });
    });

    app.post<{ Body: Static<typeof TokenBody> }>(
      `${HUB_ADMIN_PATH}/tokens`,
      { schema: { body: TokenBody } },
      async (req, reply) => {
        const by = await admin(req);
        const token = await registry<HostTokenFile>("IssueHostToken", { ...req.body, by });
        // Shown once, to be saved as the host's 0600 token file; never kept by the page.
        return fresh(reply).send({ token });
      },
    );

    app.post<{ Params: { id: string } }>(
      `${HUB_ADMIN_PATH}/tokens/:id/revoke`,
      { schema: { params: Type.Object({ id: Id }) } },
      async (req, reply) => {
        const by = await admin(req);
        const token = await registry<HostTokenInfo>("RevokeHostToken", {
          tokenId: req.params.id,
          by,
        });
        return fresh(reply).send({ token });
      },
    );
  },
  { name: "hub-admin", dependencies: ["auth"] },
);
