/**
 * The hub's workspaces service: an account creates a workspace (within its limits), the hub
 * places it on a host through the fleet and records where (or why none could take it), and
 * its members start, stop, snapshot and restore it; its owners share it (members by email,
 * one-time invite links whose secrets stay in the private store) and delete it. Commands arrive on
 * `hubcmd.workspaces` from the hub's gateway, which names the signed-in account (`by`); the
 * hub forwards them to the fleet (`ws.<wsid>.cmd.host`), a subject no browser may publish to.
 * A placement cut short (the hub stopped) is taken up again at the next start.
 */
import { randomBytes } from "node:crypto";
import { type KV, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { type CommandOf, parseCommand } from "../../shared/commands.js";
import { EventRegistry } from "../../shared/envelope.js";
import { CocalcError, type ErrorPayload, toErrorPayload } from "../../shared/errors.js";
import { type AccountView, HubBuckets } from "../../shared/hub.js";
import { MAX_MEMBERSHIPS, type Membership, WorkspaceRoles } from "../../shared/hub-permissions.js";
import {
  type AcceptHubWorkspaceInvite,
  type AccountLimits,
  type AddHubMember,
  type ChangeHubMemberRole,
  type CheckHubPortShare,
  type CreateHubWorkspace,
  type CreateHubWorkspaceInvite,
  DEFAULT_ACCOUNT_LIMITS,
  type DeleteHubWorkspace,
  type HubCreateOptions,
  type HubMember,
  HubWorkspaceBuckets,
  HubWorkspaceCommands,
  HubWorkspaceEvents,
  type HubWorkspaceReply,
  HubWorkspaceSubjects,
  type HubWorkspaceView,
  type ListHubMembers,
  type ListHubSnapshots,
  type MembershipView,
  type RemoveHubMember,
  type RenameHubWorkspace,
  type RestoreHubWorkspace,
  type RevokeHubWorkspaceInvite,
  type ShareHubPort,
  type SnapshotHubWorkspace,
  type StartHubWorkspace,
  type StopHubWorkspace,
  type UnshareHubPort,
} from "../../shared/hub-workspaces.js";
import type { HostView, PlacementEvent, SnapshotInfo } from "../../shared/launchpad.js";
import {
  Buckets,
  hostDomain,
  placementSubject,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { consumeEvents } from "../runtime/consumer.js";
import { requestWithProgress } from "../runtime/progress.js";
import { projectionHandler } from "../runtime/projection.js";
import { runningService, type ServiceDefinition } from "../runtime/service.js";
import { normalEmail, PrivateStore, sameHash, secretHash } from "./private-store.js";
import {
  actingMember,
  NO_SUCH_WORKSPACE,
  ownedBy,
  type WorkspaceCommand,
  type WorkspaceDecided,
  type WorkspaceState,
  workspaceDecider,
} from "./workspace-decider.js";
import { hubWorkspacesProjection, membershipsProjection } from "./workspace-projections.js";

export const HUB_WORKSPACES_SERVICE = "hub-workspaces";
const registry = new EventRegistry(HubWorkspaceEvents);

/** How long a host command may take (an image import reports progress and so lasts longer). */
const HOST_COMMAND_MS = 120_000;

type Wire<D> = CommandOf<D>;
type HostReply<T = unknown> = { ok: true; result?: T } | { ok: false; error: ErrorPayload };

/** The name others see of an account: its email's part before the @ (else its id). */
export function nameOf(account: string, email?: string): string {
  return (email?.split("@")[0] ?? "").slice(0, 80) || account.slice(0, 80);
}

/** A new workspace id: `w` and 12 hex digits (valid as a subject token and a host name). */
export function newWsid(): string {
  return `w${randomBytes(6).toString("hex")}`;
}

async function values<T>(kv: KV, filter: string): Promise<T[]> {
  const out: T[] = [];
  for await (const key of await kv.keys(filter)) {
    const e = await kv.get(key);
    if (e?.operation === "PUT" && e.length > 0) out.push(e.json<T>());
  }
  return out;
}

/** Checks a new workspace's quota against the account's limits; the quota to ask for. */
export function checkLimits(
  quota: HubWorkspaceView["quota"],
  existing: readonly HubWorkspaceView[],
  limits: AccountLimits,
): HubWorkspaceView["quota"] {
  if (existing.length >= limits.workspaces)
    throw new CocalcError(
      "ERR_HUB_LIMIT",
      `your account may have ${limits.workspaces} workspaces; delete one first`,
    );
  if ((quota.cpus ?? 1) > limits.cpusPerWorkspace)
    throw new CocalcError(
      "ERR_HUB_LIMIT",
      `a workspace may have at most ${limits.cpusPerWorkspace} cpus`,
    );
  if ((quota.memoryMb ?? 2048) > limits.memoryMbPerWorkspace)
    throw new CocalcError(
      "ERR_HUB_LIMIT",
      `a workspace may have at most ${limits.memoryMbPerWorkspace} MB of memory`,
    );
  const disk = quota.diskMb ?? 2048;
  const used = existing.reduce((sum, w) => sum + (w.quota.diskMb ?? 2048), 0);
  if (used + disk > limits.diskMb)
    throw new CocalcError(
      "ERR_HUB_LIMIT",
      `your workspaces may have ${limits.diskMb} MB of disk together; ${used} MB are taken, so at most ${Math.max(0, limits.diskMb - used)} MB are left`,
    );
  return quota;
}

export function hubWorkspacesService(): ServiceDefinition {
  return {
    name: HUB_WORKSPACES_SERVICE,
    durables: [HUB_WORKSPACES_SERVICE],
    async start(ctx) {
      const { js, jsm } = ctx;
      const nc: NatsConnection = ctx.nc;
      const store = new AggregateStore<WorkspaceCommand, WorkspaceDecided, WorkspaceState>({
        js,
        jsm,
        log: ctx.log,
        stream: Streams.HUB,
        registry,
        events: HubWorkspaceEvents,
        decider: workspaceDecider,
      });
      const workspacesView = await ctx.kvm.open(HubWorkspaceBuckets.workspaces);
      const membershipsView = await ctx.kvm.open(HubWorkspaceBuckets.memberships);
      const hostsView = await ctx.kvm.open(Buckets.hosts);
      const accountsView = await ctx.kvm.open(HubBuckets.accounts);
      const secrets = await PrivateStore.open(ctx.kvm, jsm);
      const meta = (actor: string) => ({ actor, at: ctx.now().toISOString() });

      const projector = await consumeEvents({
        nc,
        js,
        jsm,
        stream: Streams.HUB,
        durable: HUB_WORKSPACES_SERVICE,
        filterSubject: HubWorkspaceSubjects.all,
        registry,
        log: ctx.log,
        handle: await projectionHandler(ctx.kvm, [hubWorkspacesProjection, membershipsProjection]),
      });

      /** Sends a workspace command to the fleet; its result, or its error as a CocalcError. */
      async function toHost<T>(wsid: string, type: string, data: object = {}): Promise<T> {
        let reply: HostReply<T>;
        try {
          const m = await requestWithProgress(
            nc,
            workspaceSubjects(wsid).command("host"),
            JSON.stringify({ type, data }),
            { timeoutMs: HOST_COMMAND_MS, onProgress: () => undefined },
          );
          reply = m.json<HostReply<T>>();
        } catch (err) {
          throw new CocalcError(
            "ERR_HOST_OFFLINE",
            `the hub's fleet did not answer (${(err as Error).message}); try again in a moment`,
          );
        }
        if (!reply.ok) throw new CocalcError(reply.error.code as never, reply.error.message);
        return reply.result as T;
      }

      /** The host the fleet placed `wsid` on, from its placement events. */
      async function placedOn(wsid: string): Promise<string | undefined> {
        try {
          const m = await jsm.streams.getMessage(Streams.PLACEMENTS, {
            last_by_subj: placementSubject(wsid),
          });
          const e = m?.json<PlacementEvent>();
          return e?.type === "WorkspacePlaced" ? e.data.hostId : undefined;
        } catch {
          return undefined;
        }
      }

      /** Places a workspace recorded as `placing` and records the outcome; never throws. */
      const placing = new Set<string>();
      async function place(wsid: string): Promise<void> {
        if (placing.has(wsid)) return;
        placing.add(wsid);
        try {
          const { state } = await store.state(HubWorkspaceSubjects.workspace(wsid));
          if (state.status !== "active" || state.placement !== "placing") return;
          let outcome: { hostId: string } | { code: string; message: string };
          try {
            await toHost(wsid, "CreateWorkspaceOnHost", {
              image: state.image,
              quota: state.quota,
              account: state.owner,
            });
            const hostId = await placedOn(wsid);
            outcome = hostId
              ? { hostId }
              : { code: "ERR_INTERNAL", message: "the fleet kept no placement for it" };
          } catch (err) {
            const p = toErrorPayload(err);
            // Sent before and its answer lost: it is where the first one went.
            const hostId = p.code === "ERR_WORKSPACE_EXISTS" ? await placedOn(wsid) : undefined;
            outcome = hostId ? { hostId } : { code: p.code, message: p.message.slice(0, 1000) };
          }
          await store.execute(HubWorkspaceSubjects.workspace(wsid), {
            type: "RecordPlacement",
            data: outcome,
            ...meta("hub"),
          });
          ctx.log.info({ wsid, ...outcome }, "workspace placement recorded");
        } catch (err) {
          ctx.log.warn({ err, wsid }, "workspace placement not recorded; retried at next start");
        } finally {
          placing.delete(wsid);
        }
      }

      /** An active account's limits (its own, else the defaults). */
      async function activeAccountLimits(by: string): Promise<AccountLimits> {
        const e = await accountsView.get(by);
        const view = e?.operation === "PUT" && e.length > 0 ? e.json<AccountView>() : null;
        if (view?.status !== "active")
          throw new CocalcError("ERR_HUB_FORBIDDEN", "this account may not create workspaces");
        return view.limits ?? DEFAULT_ACCOUNT_LIMITS;
      }

      async function ownWorkspaces(by: string): Promise<HubWorkspaceView[]> {
        const mine = await values<MembershipView>(membershipsView, `${by}.*`);
        const out: HubWorkspaceView[] = [];
        for (const m of mine) {
          if (m.role !== "owner") continue;
          const e = await workspacesView.get(m.wsid);
          if (e?.operation === "PUT" && e.length > 0) out.push(e.json<HubWorkspaceView>());
        }
        return out;
      }

      async function member(wsid: string, by: string) {
        return actingMember((await store.state(HubWorkspaceSubjects.workspace(wsid))).state, by);
      }

      /** A placed workspace's commands go to its host; an unplaced one says so in words. */
      async function onHost<T>(wsid: string, by: string, type: string, data: object = {}) {
        const s = await member(wsid, by);
        if (s.placement === "placing")
          throw new CocalcError(
            "ERR_WORKSPACE_STATE",
            "the workspace is still being placed on a host; wait a moment",
          );
        if (s.placement === "failed")
          throw new CocalcError(
            "ERR_WORKSPACE_STATE",
            `no host took the workspace (${s.error?.message ?? "unknown reason"}); delete it and create it again`,
          );
        return toHost<T>(wsid, type, data);
      }

      const workspaceState = async (wsid: string) =>
        (await store.state(HubWorkspaceSubjects.workspace(wsid))).state;

      /** Whether `account` is an active account of the hub. */
      async function active(account: string): Promise<boolean> {
        const e = await accountsView.get(account);
        return e?.operation === "PUT" && e.length > 0 && e.json<AccountView>().status === "active";
      }

      /** A member as the Share panel shows it; its email only to an owner. */
      async function memberOf(account: string, role: WorkspaceRoles, owner: boolean) {
        const email = (await secrets.account(account))?.email;
        const m: HubMember = { account, role, name: nameOf(account, email) };
        if (owner && email !== undefined) m.email = email;
        return m;
      }

      async function handle(raw: Msg): Promise<HubWorkspaceReply> {
        const cmd = parseCommand<
          | Wire<typeof CreateHubWorkspace>
          | Wire<typeof StartHubWorkspace>
          | Wire<typeof StopHubWorkspace>
          | Wire<typeof DeleteHubWorkspace>
          | Wire<typeof RenameHubWorkspace>
          | Wire<typeof SnapshotHubWorkspace>
          | Wire<typeof RestoreHubWorkspace>
          | Wire<typeof ListHubSnapshots>
          | Wire<typeof HubCreateOptions>
          | Wire<typeof ListHubMembers>
          | Wire<typeof AddHubMember>
          | Wire<typeof ChangeHubMemberRole>
          | Wire<typeof RemoveHubMember>
          | Wire<typeof CreateHubWorkspaceInvite>
          | Wire<typeof RevokeHubWorkspaceInvite>
          | Wire<typeof AcceptHubWorkspaceInvite>
          | Wire<typeof ShareHubPort>
          | Wire<typeof UnshareHubPort>
          | Wire<typeof CheckHubPortShare>
        >(HubWorkspaceCommands, raw.data, meta("hub"));
        const by = cmd.data.by;
        switch (cmd.type) {
          case "HubCreateOptions": {
            const hosts = await values<HostView>(hostsView, ">");
            const images = new Map<string, string[]>();
            for (const h of hosts)
              if (h.status === "ready")
                for (const name of h.images ?? [])
                  images.set(name, [...(images.get(name) ?? []), h.hostId]);
            return {
              ok: true,
              images: [...images]
                .map(([name, on]) => ({ name, hosts: on }))
                .sort((a, b) => a.name.localeCompare(b.name)),
              limits: await activeAccountLimits(by),
            };
          }
          case "CreateHubWorkspace": {
            const quota = checkLimits(
              cmd.data.quota,
              await ownWorkspaces(by),
              await activeAccountLimits(by),
            );
            const wsid = newWsid();
            await store.execute(HubWorkspaceSubjects.workspace(wsid), {
              type: "Create",
              data: {
                owner: by,
                title: cmd.data.title.trim() || wsid,
                image: cmd.data.image,
                quota,
              },
              ...meta(by),
            });
            void place(wsid);
            return { ok: true, wsid };
          }
          case "StartHubWorkspace":
            await onHost(cmd.data.wsid, by, "StartWorkspace");
            return { ok: true };
          case "StopHubWorkspace":
            await onHost(cmd.data.wsid, by, "StopWorkspace");
            return { ok: true };
          case "SnapshotHubWorkspace":
            await onHost(cmd.data.wsid, by, "CreateSnapshot", { name: cmd.data.name });
            return { ok: true };
          case "RestoreHubWorkspace":
            await onHost(cmd.data.wsid, by, "RestoreSnapshot", { name: cmd.data.name });
            return { ok: true };
          case "ListHubSnapshots": {
            const list = await onHost<SnapshotInfo[]>(cmd.data.wsid, by, "ListSnapshots");
            return {
              ok: true,
              snapshots: (list ?? []).map((s) => ({
                name: s.name,
                takenAt: s.takenAt,
                exclusiveBytes: s.exclusiveBytes,
              })),
            };
          }
          case "RenameHubWorkspace":
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "Rename",
              data: { by, title: cmd.data.title },
              ...meta(by),
            });
            return { ok: true };
          case "DeleteHubWorkspace": {
            const { state: s } = await store.state(HubWorkspaceSubjects.workspace(cmd.data.wsid));
            if (s.status !== "active" || s.members[by] === undefined) throw NO_SUCH_WORKSPACE();
            if (s.members[by] !== WorkspaceRoles.owner)
              throw new CocalcError("ERR_HUB_FORBIDDEN", "only an owner may delete a workspace");
            // Its host deletes it first, stopped (a workspace nobody placed has nothing there).
            if (s.placement === "placed") {
              for (const type of ["StopWorkspace", "DeleteWorkspace"])
                try {
                  await toHost(cmd.data.wsid, type);
                } catch (err) {
                  if (toErrorPayload(err).code !== "ERR_WORKSPACE_NOT_FOUND") throw err;
                }
            }
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "Delete",
              data: { by },
              ...meta(by),
            });
            // Its public links' hashes go with it.
            for (const port of s.publicPorts ?? [])
              await secrets.erasePortShare(cmd.data.wsid, port).catch(() => undefined);
            return { ok: true };
          }
          case "ListHubMembers": {
            const s = await workspaceState(cmd.data.wsid);
            if (s.status !== "active" || s.members[by] === undefined) throw NO_SUCH_WORKSPACE();
            const owner = s.members[by] === WorkspaceRoles.owner;
            const members: HubMember[] = [];
            for (const [account, role] of Object.entries(s.members))
              members.push(await memberOf(account, role, owner));
            return { ok: true, members };
          }
          case "AddHubMember": {
            // Only an owner learns whether an email has an account, and only of the one it typed.
            ownedBy(await workspaceState(cmd.data.wsid), by);
            const account = await secrets.accountOfEmail(normalEmail(cmd.data.email));
            if (account === undefined || !(await active(account)))
              throw new CocalcError(
                "ERR_HUB_ACCOUNT_NOT_FOUND",
                "no account of this hub has this email: send an invite link instead",
              );
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "AddMember",
              data: { by, account, role: cmd.data.role },
              ...meta(by),
            });
            return { ok: true, member: await memberOf(account, cmd.data.role, true) };
          }
          case "ChangeHubMemberRole":
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "ChangeRole",
              data: { by, account: cmd.data.account, role: cmd.data.role },
              ...meta(by),
            });
            return { ok: true };
          case "RemoveHubMember":
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "RemoveMember",
              data: { by, account: cmd.data.account },
              ...meta(by),
            });
            return { ok: true };
          case "CreateHubWorkspaceInvite": {
            const { wsid } = cmd.data;
            ownedBy(await workspaceState(wsid), by);
            const inviteId = randomId();
            const secret = randomBytes(24).toString("base64url");
            const expires = new Date(
              ctx.now().getTime() + cmd.data.ttlSeconds * 1000,
            ).toISOString();
            await secrets.setWorkspaceInvite(inviteId, { wsid, hash: secretHash(secret) });
            try {
              await store.execute(HubWorkspaceSubjects.workspace(wsid), {
                type: "CreateInvite",
                data: { by, inviteId, role: cmd.data.role, expires },
                ...meta(by),
              });
            } catch (err) {
              await secrets.eraseWorkspaceInvite(inviteId).catch(() => undefined);
              throw err;
            }
            return { ok: true, invite: { inviteId, token: `${inviteId}.${secret}`, expires } };
          }
          case "RevokeHubWorkspaceInvite":
            await store.execute(HubWorkspaceSubjects.workspace(cmd.data.wsid), {
              type: "RevokeInvite",
              data: { by, inviteId: cmd.data.inviteId },
              ...meta(by),
            });
            await secrets.eraseWorkspaceInvite(cmd.data.inviteId);
            return { ok: true };
          case "AcceptHubWorkspaceInvite": {
            const bad = () =>
              new CocalcError("ERR_HUB_INVITE", "this invite link is not valid: ask for a new one");
            const [inviteId, secret, extra] = cmd.data.token.split(".");
            if (
              !inviteId ||
              !secret ||
              extra !== undefined ||
              !/^[A-Za-z0-9_-]{1,64}$/.test(inviteId)
            )
              throw bad();
            const found = await secrets.workspaceInvite(inviteId);
            if (!found || !sameHash(secretHash(secret), found.hash)) throw bad();
            if (!(await active(by)))
              throw new CocalcError("ERR_HUB_FORBIDDEN", "this account may not join workspaces");
            const { state } = await store.execute(HubWorkspaceSubjects.workspace(found.wsid), {
              type: "AcceptInvite",
              data: { account: by, inviteId },
              ...meta(by),
            });
            await secrets.eraseWorkspaceInvite(inviteId);
            const role = state.status === "active" ? state.members[by] : undefined;
            if (role === undefined) throw NO_SUCH_WORKSPACE();
            return { ok: true, joined: { wsid: found.wsid, role } };
          }
          case "ShareHubPort": {
            const { wsid, port } = cmd.data;
            ownedBy(await workspaceState(wsid), by);
            const secret = randomBytes(24).toString("base64url");
            // The hash first: the link works once the event says the port is public.
            await secrets.setPortShare(wsid, port, secretHash(secret));
            try {
              await store.execute(HubWorkspaceSubjects.workspace(wsid), {
                type: "SharePort",
                data: { by, port },
                ...meta(by),
              });
            } catch (err) {
              await secrets.erasePortShare(wsid, port).catch(() => undefined);
              throw err;
            }
            return { ok: true, share: { port, secret } };
          }
          case "UnshareHubPort": {
            const { wsid, port } = cmd.data;
            ownedBy(await workspaceState(wsid), by);
            await secrets.erasePortShare(wsid, port);
            await store.execute(HubWorkspaceSubjects.workspace(wsid), {
              type: "UnsharePort",
              data: { by, port },
              ...meta(by),
            });
            return { ok: true };
          }
          case "CheckHubPortShare": {
            const { wsid, port } = cmd.data;
            const no = () =>
              new CocalcError(
                "ERR_PROXY_TOKEN",
                "This public link does not open the app: it was revoked or is wrong.",
              );
            const state = await workspaceState(wsid);
            if (state.status !== "active" || !state.publicPorts?.includes(port)) throw no();
            const hash = await secrets.portShareHash(wsid, port);
            if (hash === undefined || !sameHash(secretHash(cmd.data.secret), hash)) throw no();
            return {
              ok: true,
              shared: { ...(state.hostId !== undefined && { hostId: state.hostId }) },
            };
          }
          default: {
            const never: never = cmd;
            throw new Error(`unhandled command ${(never as { type: string }).type}`);
          }
        }
      }

      const sub: Subscription = nc.subscribe(HubWorkspaceSubjects.command, {
        callback: (err, msg) => {
          if (err) return;
          void handle(msg)
            .catch((e): HubWorkspaceReply => {
              const error = toErrorPayload(e);
              if (error.code === "ERR_INTERNAL")
                ctx.log.error({ err: e }, "workspace command failed");
              return { ok: false, error: { code: error.code, message: error.message } };
            })
            .then((reply) => msg.respond(JSON.stringify(reply)));
        },
      });
      // Placements the hub did not finish before it stopped.
      for (const w of await values<HubWorkspaceView>(workspacesView, ">"))
        if (w.placement === "placing") void place(w.wsid);
      const commands = { done: sub.closed, stop: () => sub.drain() };
      return runningService([commands, projector], async () => undefined);
    },
  };
}

/** A membership as a JWT carries it: the role, and the workspace's host once placed. */
function membershipRow(m: MembershipView, w: HubWorkspaceView): Membership {
  return {
    wsid: m.wsid,
    role: m.role,
    ...(w.hostId !== undefined && { hostId: w.hostId, jsDomain: hostDomain(w.hostId) }),
  };
}

/**
 * What a browser JWT of an account carries: each workspace it belongs to, with its host and
 * that host's JetStream domain once placed (at most MAX_MEMBERSHIPS, newest first).
 */
export async function accountMemberships(
  nc: NatsConnection,
): Promise<(account: string) => Promise<Membership[]>> {
  const kvm = new Kvm(nc);
  const memberships = await kvm.open(HubWorkspaceBuckets.memberships);
  const workspaces = await kvm.open(HubWorkspaceBuckets.workspaces);
  return async (account) => {
    const rows: (Membership & { created: string })[] = [];
    for (const m of await values<MembershipView>(memberships, `${account}.*`)) {
      const e = await workspaces.get(m.wsid);
      if (e?.operation !== "PUT" || e.length === 0) continue;
      const w = e.json<HubWorkspaceView>();
      rows.push({ ...membershipRow(m, w), created: w.created });
    }
    return rows
      .sort((a, b) => b.created.localeCompare(a.created))
      .slice(0, MAX_MEMBERSHIPS)
      .map(({ created: _c, ...m }) => m);
  };
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * One workspace's membership of an account, as `accountMemberships` would list it (two
 * reads, not a listing: what a workspace page's JWT and the app proxy ask on every load).
 */
export async function workspaceMembership(
  nc: NatsConnection,
): Promise<(account: string, wsid: string) => Promise<Membership | undefined>> {
  const kvm = new Kvm(nc);
  const memberships = await kvm.open(HubWorkspaceBuckets.memberships);
  const workspaces = await kvm.open(HubWorkspaceBuckets.workspaces);
  return async (account, wsid) => {
    // Both are one token of a key (never a wildcard or a dotted path).
    if (!ID.test(account) || !ID.test(wsid)) return undefined;
    const [m, w] = await Promise.all([memberships.get(`${account}.${wsid}`), workspaces.get(wsid)]);
    if (m?.operation !== "PUT" || m.length === 0) return undefined;
    if (w?.operation !== "PUT" || w.length === 0) return undefined;
    return membershipRow(m.json<MembershipView>(), w.json<HubWorkspaceView>());
  };
}

/**
 * Calls `apply` with every placed workspace and its host, as the placements become known and
 * after each change (one call at a time, always with the newest; a failed one is tried again
 * after `retryMs`). Returns the stop function.
 */
export async function followPlacements(
  nc: NatsConnection,
  apply: (placements: { wsid: string; hostId: string }[]) => Promise<void>,
  log: { warn(o: object, m: string): void },
  retryMs = 5_000,
): Promise<() => Promise<void>> {
  const kv = await new Kvm(nc).open(HubWorkspaceBuckets.workspaces);
  const placed = new Map<string, string>();
  let running: Promise<void> | undefined;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const push = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await apply([...placed].map(([wsid, hostId]) => ({ wsid, hostId })));
        } catch (err) {
          log.warn({ err }, "the workspaces' routes were not updated; trying again");
          clearTimeout(timer);
          timer = setTimeout(push, retryMs);
        }
      } while (again && !stopped);
      running = undefined;
    })();
  };
  const watch = await kv.watch();
  const loop = (async () => {
    for await (const e of watch) {
      const before = placed.get(e.key);
      let after: string | undefined;
      if (e.operation === "PUT" && e.length > 0) {
        const w = e.json<HubWorkspaceView>();
        if (w.placement === "placed" && w.hostId !== undefined) after = w.hostId;
      }
      if (before === after) continue;
      if (after === undefined) placed.delete(e.key);
      else placed.set(e.key, after);
      push();
    }
  })();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    watch.stop();
    await loop.catch(() => undefined);
    await running;
  };
}

/**
 * Calls `changed(account, wsid)` whenever an account's membership of a workspace is written
 * after this starts (added, its role changed, removed): once the `hub-memberships` view says
 * so, so that whatever reads the view next (a new JWT) sees the change. Returns the stop.
 */
export async function followMemberships(
  nc: NatsConnection,
  changed: (account: string, wsid: string) => void,
): Promise<() => Promise<void>> {
  const kv = await new Kvm(nc).open(HubWorkspaceBuckets.memberships);
  const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
  const loop = (async () => {
    for await (const e of watch) {
      const [account, wsid] = e.key.split(".");
      if (account && wsid) changed(account, wsid);
    }
  })();
  return async () => {
    watch.stop();
    await loop.catch(() => undefined);
  };
}
