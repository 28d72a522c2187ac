/**
 * The control plane's side of its hosts: the `hosts` view (from the hosts' heartbeats, with
 * hosts whose beats stopped marked offline, and the drain admins decided), the placement of
 * workspaces (never on a drained host) and the routing of their commands to the one host each
 * is on, the account ledger all hosts reserve cores in, and admins' commands for hosts
 * (fleet-admin.ts: drain, undrain, import an image). Hosts that joined answer only their own subjects (`hostcmd.<hostId>.ws.*`), so a command
 * reaches exactly the host its workspace is on, or fails with ERR_HOST_OFFLINE.
 */
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Kvm } from "@nats-io/kv";
import { type Msg, type NatsConnection, RequestError, type Subscription } from "@nats-io/nats-core";
import { type Command, parseCommand } from "../../shared/commands.js";
import { CocalcError, type ErrorPayload, toErrorPayload } from "../../shared/errors.js";
import {
  AccountCommands,
  AccountEvents,
  DEFAULT_QUOTA,
  ExecInWorkspace,
  HostAdminEvents,
  type HostView,
  type HostWorkspaceViewUpdate,
  LedgerCommands,
  ListSnapshots,
  PlacementEvents,
  type Quota,
  WorkspaceHostCommands,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import { OpenExec } from "../../shared/launchpad-exec.js";
import {
  AllAccounts,
  AllHosts,
  AllLedger,
  AllWorkspaces,
  accountOfSubject,
  Buckets,
  FleetSubjects,
  hostDomain,
  hostOfInbox,
  hostOfSubject,
  hostSubjects,
  Keys,
  ledgerSubjects,
  placementSubject,
  RegistrySubjects,
  ServiceNames,
  Streams,
  validateKeyToken,
  wsidOfSubject,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { consumeEvents } from "../runtime/consumer.js";
import type { Logger } from "../runtime/logger.js";
import { requestWithProgress, sendProgress, wantsProgress } from "../runtime/progress.js";
import { projectionHandler } from "../runtime/projection.js";
import { domainManager, viewKeys, viewValue } from "../runtime/remote-views.js";
import {
  type AccountCommand,
  type AccountDecided,
  type AccountState,
  accountDecider,
  accountRegistry,
  accountsProjection,
} from "./accounts.js";
import { fleetAdmin } from "./fleet-admin.js";
import {
  type HostAdminCommand,
  type HostAdminDecided,
  type HostAdminState,
  hostAdminDecider,
  hostAdminRegistry,
} from "./host-admin.js";
import {
  type PlacementCommand,
  type PlacementDecided,
  type PlacementState,
  placementDecider,
  placementRegistry,
  placeWorkspace,
  type WorkspaceNeeds,
} from "./placement.js";

/** The control plane's durable consumer and queue group. */
export const FLEET = "fleet";

export interface FleetOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  log: Logger;
  now(): Date;
  /** A host not heard for this long is offline (default 15 s: three missed beats). */
  offlineAfterMs?: number;
  /** How long a routed command may wait for a word from its host (default 10 min). */
  commandTimeoutMs?: number;
  /**
   * Rootfs directories `<imagesDir>/<name>`, a path every host can read: a workspace whose
   * image no fitting host has is placed on one after importing it there from here.
   */
  imagesDir?: string;
}

export interface Fleet {
  /** The cores quotas of these accounts in the ledger (null: none). */
  coresQuotas(accounts: readonly string[]): Promise<Record<string, number | null>>;
  stop(): Promise<void>;
}

const commandDefs = [...WorkspaceHostCommands, ExecInWorkspace, OpenExec, ListSnapshots];
const STATUSES = new Set<HostView["status"]>(["starting", "ready", "stopped", "offline"]);

type HostReply = { ok: boolean; error?: ErrorPayload };
type CreateData = { image: string; quota?: Partial<Quota>; hostId?: string };

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const log = o.log;
  const offlineAfterMs = o.offlineAfterMs ?? 15_000;
  const hostsKv = await o.kvm.open(Buckets.hosts);
  const placements = new AggregateStore<PlacementCommand, PlacementDecided, PlacementState>({
    js: o.js,
    jsm: o.jsm,
    log,
    stream: Streams.PLACEMENTS,
    registry: placementRegistry,
    events: PlacementEvents,
    decider: placementDecider,
  });
  // What admins decided about each host (drained), on the hub's registry of hosts.
  const hostAdmin = new AggregateStore<HostAdminCommand, HostAdminDecided, HostAdminState>({
    js: o.js,
    jsm: o.jsm,
    log,
    stream: Streams.REGISTRY,
    registry: hostAdminRegistry,
    events: HostAdminEvents,
    decider: hostAdminDecider,
  });
  const ledger = new AggregateStore<AccountCommand, AccountDecided, AccountState>({
    js: o.js,
    jsm: o.jsm,
    log,
    stream: Streams.LEDGER,
    registry: accountRegistry,
    events: AccountEvents,
    decider: accountDecider,
  });

  // The hosts view.
  /** The newest beat of each host this instance heard: routing needs no view read then. */
  const heard = new Map<string, HostView>();
  /** Since when each host is drained (null: it is not), as last read; absent: not read yet. */
  const drained = new Map<string, string | null>();
  const drainedAt = async (hostId: string): Promise<string | null> => {
    const s = (await hostAdmin.state(RegistrySubjects.host(hostId))).state;
    const at = s.status === "drained" ? s.since : null;
    drained.set(hostId, at);
    return at;
  };
  /** A host's record with the drain the control plane keeps (never what a beat says of it). */
  const withDrain = (v: HostView): HostView => {
    const { drainedAt: _beaten, ...rest } = v;
    const at = drained.get(v.hostId);
    return at ? { ...rest, drainedAt: at } : rest;
  };
  /** Shows a host's drain in its record now, without waiting for its next beat. */
  const showDrain = async (hostId: string) => {
    const v = heard.get(hostId);
    if (v) heard.set(hostId, withDrain(v));
    // A beat or the sweep may write in between: then this is read again and written over it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await hostsKv.get(Keys.host(hostId));
      if (e?.operation !== "PUT" || e.length === 0) return;
      const next = JSON.stringify(withDrain(e.json<HostView>()));
      if (next === new TextDecoder().decode(e.value)) return;
      const written = await hostsKv.update(Keys.host(hostId), next, e.revision).then(
        () => true,
        () => false,
      );
      if (written) return;
    }
  };
  const hostView = async (hostId: string): Promise<HostView | undefined> => {
    const known = heard.get(hostId);
    if (known) return known;
    const e = await hostsKv.get(Keys.host(hostId));
    return e?.operation === "PUT" && e.length > 0 ? e.json<HostView>() : undefined;
  };
  const isOnline = (v: HostView | undefined): boolean =>
    v !== undefined &&
    v.status === "ready" &&
    v.seenAt !== undefined &&
    o.now().getTime() - Date.parse(v.seenAt) < offlineAfterMs;
  const beatsSub = o.nc.subscribe(AllHosts.beats, {
    callback: (_err, m) => {
      const hostId = hostOfSubject(m.subject);
      let v: HostView;
      try {
        v = m.json<HostView>();
      } catch {
        return;
      }
      if (!hostId || v?.hostId !== hostId || !STATUSES.has(v.status)) {
        log.warn({ subject: m.subject }, "malformed host heartbeat ignored");
        return;
      }
      const seen = withDrain({ ...v, seenAt: o.now().toISOString() });
      heard.set(hostId, seen);
      if (!drained.has(hostId))
        void drainedAt(hostId)
          .then(() => showDrain(hostId))
          .catch((err) => log.warn({ hostId, err }, "host's drain not read"));
      hostsKv
        .put(Keys.host(hostId), JSON.stringify(seen))
        .catch((err) => log.warn({ hostId, err }, "hosts view not written"));
    },
  });
  // The hosts' workspace views, kept for the dashboards: from the host a workspace is placed
  // on only (a host cannot write another's workspaces), newest first by its own time.
  const workspacesKv = await o.kvm.open(Buckets.workspaces);
  const viewsSub = o.nc.subscribe(AllHosts.views, {
    callback: (_err, m) => {
      const hostId = hostOfSubject(m.subject);
      let u: HostWorkspaceViewUpdate;
      try {
        u = m.json<HostWorkspaceViewUpdate>();
        validateKeyToken(u?.wsid, "workspace id");
      } catch {
        log.warn({ subject: m.subject }, "malformed workspace view ignored");
        return;
      }
      void mirrorView(hostId, u).catch((err) =>
        log.warn({ err, hostId, wsid: u.wsid }, "workspace view not kept"),
      );
    },
  });
  const mirrorView = async (hostId: string | undefined, u: HostWorkspaceViewUpdate) => {
    if (!hostId) return;
    const e = await workspacesKv.get(u.wsid);
    const kept = e?.operation === "PUT" && e.length > 0 ? e.json<WorkspaceView>() : undefined;
    // Gone: only from the host that had it (a deleted workspace is no longer placed).
    if (u.view === null) {
      if (kept?.hostId === hostId) await workspacesKv.delete(u.wsid);
      return;
    }
    const placed = (await placements.state(placementSubject(u.wsid))).state.hostId;
    if (placed !== hostId || u.view.hostId !== hostId) return;
    if (kept && kept.updatedAt > u.view.updatedAt) return;
    if (kept && JSON.stringify(kept) === JSON.stringify(u.view)) return;
    await workspacesKv.put(u.wsid, JSON.stringify(u.view));
  };
  /** Marks hosts whose beats stopped as offline (once; their next beat brings them back). */
  const sweep = async () => {
    // The keys in one request: a listing by consumer must catch up with the beats' writes
    // before it ends, and a sweep that never ends keeps every host from turning offline.
    for (const key of await viewKeys(o.jsm, Buckets.hosts)) {
      const e = await hostsKv.get(key);
      if (e?.operation !== "PUT" || e.length === 0) continue;
      const v = e.json<HostView>();
      if (v.status === "offline" || isOnline(v)) continue;
      if (v.status !== "ready" && v.status !== "starting") continue;
      const seen = v.seenAt ? Date.parse(v.seenAt) : 0;
      if (o.now().getTime() - seen < offlineAfterMs) continue;
      await hostsKv
        .update(key, JSON.stringify({ ...v, status: "offline" }), e.revision)
        .catch(() => undefined);
      log.warn({ hostId: v.hostId, seenAt: v.seenAt }, "host offline");
    }
  };

  const onlineHosts = async (): Promise<HostView[]> => {
    const out: HostView[] = [];
    for (const key of await viewKeys(o.jsm, Buckets.hosts)) {
      const v = await hostView(key);
      if (v && isOnline(v)) out.push(v);
    }
    return out;
  };
  const offline = (wsid: string | undefined, hostId: string, v: HostView | undefined) =>
    new CocalcError(
      "ERR_HOST_OFFLINE",
      `${wsid ? `workspace ${wsid} is on host ${hostId}, which` : `host ${hostId}`} is ${
        v === undefined
          ? "not known to the control plane (it never joined or never beat)"
          : `${v.status === "stopped" ? "stopped" : "offline"} (last heard ${v.seenAt ?? "never"})`
      }; nothing was done`,
    );

  /**
   * Sends a workspace's command to its host; the host's reply, as it is. The host's progress
   * lines go to the client that asked for them (and only to it).
   */
  const forward = async (hostId: string, wsid: string, m: Msg): Promise<Uint8Array> => {
    const subject = hostSubjects(hostId).workspaceCommand(wsid);
    const timeout = o.commandTimeoutMs ?? 10 * 60_000;
    try {
      const r = wantsProgress(m)
        ? await requestWithProgress(o.nc, subject, m.data, {
            timeoutMs: timeout,
            onProgress: (p) => sendProgress(m, p),
          })
        : await o.nc.request(subject, m.data, { timeout });
      return r.data;
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders())
        throw new CocalcError(
          "ERR_HOST_OFFLINE",
          `workspace ${wsid} is on host ${hostId}, which is not connected; nothing was done`,
        );
      throw new CocalcError(
        "ERR_HOST_OFFLINE",
        `host ${hostId} did not answer for workspace ${wsid}: ${(err as Error).message}`,
      );
    }
  };
  const meta = () => ({ actor: "control-plane", at: o.now().toISOString() });
  /**
   * A workspace the control plane has no placement for, found in the `workspaces` view of a
   * ready host (made there before the host joined, or before placements were kept): it is
   * placed there now. Read through each host's JetStream domain; a host that does not answer
   * is skipped.
   */
  const adopt = async (wsid: string): Promise<string | null> => {
    for (const h of await onlineHosts()) {
      try {
        const jsm = await domainManager(o.nc, hostDomain(h.hostId), 3000);
        const w = await viewValue<WorkspaceView>(jsm, Buckets.workspaces, Keys.workspace(wsid));
        if (!w || w.hostId !== h.hostId || w.status === "deleted" || w.status === "none") continue;
        await placements.execute(placementSubject(wsid), {
          type: "PlaceWorkspace",
          data: { wsid, hostId: h.hostId },
          ...meta(),
        });
        log.info({ wsid, hostId: h.hostId }, "workspace found on a host and placed there");
        return h.hostId;
      } catch (err) {
        log.debug({ wsid, hostId: h.hostId, err }, "host not asked");
      }
    }
    return null;
  };
  const unplace = (wsid: string) =>
    placements
      .execute(placementSubject(wsid), { type: "UnplaceWorkspace", data: { wsid }, ...meta() })
      .catch((err) => log.error({ wsid, err }, "placement not freed"));

  /** Sends ImportImage to a host, its progress lines to `m`'s requester; the host's reply. */
  const sendImport = async (
    hostId: string,
    data: { name: string; source: string; description?: string },
    m: Msg,
  ): Promise<HostReply> => {
    const answer = await requestWithProgress(
      o.nc,
      hostSubjects(hostId).command,
      JSON.stringify({ type: "ImportImage", data }),
      { timeoutMs: o.commandTimeoutMs ?? 10 * 60_000, onProgress: (p) => sendProgress(m, p) },
    );
    const r = parseReply(answer.data);
    const v = heard.get(hostId);
    if (r.ok && v && !(v.images ?? []).includes(data.name))
      heard.set(hostId, { ...v, images: [...(v.images ?? []), data.name] });
    return r;
  };

  /**
   * Imports image `name` on host `hostId` from the control plane's image directory; null
   * when it is there now, else why not.
   */
  const importImage = async (hostId: string, name: string, m: Msg): Promise<string | null> => {
    if (o.imagesDir === undefined)
      return "the control plane has no images to import (start it with --images DIR)";
    const progress = (line: string) => sendProgress(m, { line });
    progress(`importing image ${name} on host ${hostId}`);
    let r: HostReply;
    try {
      r = await sendImport(hostId, { name, source: join(o.imagesDir, name) }, m);
    } catch (err) {
      return `import failed: ${(err as Error).message}`;
    }
    // Imported meanwhile (its beat was older): it is there all the same.
    if (!r.ok && !(r.error?.code === "ERR_HOST_IMAGE" && /already exists/.test(r.error.message)))
      return `import failed: ${r.error?.message ?? "no answer"}`;
    progress(`image ${name} imported on host ${hostId}`);
    log.info({ hostId, image: name }, "image imported for a placement");
    return null;
  };

  /**
   * The host a new workspace goes to: the one named (it must fit too) or the best of the ready
   * hosts that fit, its image imported there first when it lacks it. ERR_HOST_NO_FIT says why
   * each host could not take it.
   */
  const chooseHost = async (wsid: string, d: CreateData, m: Msg): Promise<string> => {
    const q: Quota = { ...DEFAULT_QUOTA, ...d.quota };
    const need: WorkspaceNeeds = {
      image: d.image,
      cpus: q.cpus,
      memoryMb: q.memoryMb,
      diskMb: q.diskMb,
    };
    let hosts: HostView[];
    if (d.hostId !== undefined) {
      const v = await hostView(d.hostId);
      if (!isOnline(v)) throw offline(undefined, d.hostId, v);
      hosts = [v!];
    } else {
      hosts = await onlineHosts();
      if (hosts.length === 0)
        throw new CocalcError("ERR_HOST_OFFLINE", "no host is ready to take a new workspace");
    }
    // Whether admins drained them, as recorded now (not as of the last beat).
    const offers = await Promise.all(
      hosts.map(async (h) => {
        const at = await drainedAt(h.hostId);
        return at === null ? h : { ...h, drainedAt: at };
      }),
    );
    const { fits, refused } = placeWorkspace(offers, need);
    for (const f of fits) {
      const why = f.importImage ? await importImage(f.hostId, need.image, m) : null;
      if (why === null) return f.hostId;
      refused.push({ hostId: f.hostId, reason: `no image ${need.image} and ${why}` });
    }
    throw new CocalcError(
      "ERR_HOST_NO_FIT",
      `no host can take workspace ${wsid} (image ${need.image}, ${need.cpus} cores, ${need.memoryMb} MB memory, ${need.diskMb} MB disk): ${refused
        .sort((a, b) => (a.hostId < b.hostId ? -1 : 1))
        .map((r) => `${r.hostId}: ${r.reason}`)
        .join("; ")}`,
    );
  };

  const route = async (m: Msg): Promise<Uint8Array> => {
    const wsid = wsidOfSubject(m.subject);
    if (!wsid) throw new CocalcError("ERR_COMMAND_INVALID", "no workspace in the subject");
    const command = parseCommand<Command>(commandDefs, m.data, meta());
    const subject = placementSubject(wsid);
    if (command.type === "CreateWorkspaceOnHost") {
      const d = command.data as CreateData;
      const placed = (await placements.state(subject)).state.hostId;
      if (placed !== null && d.hostId !== undefined && d.hostId !== placed)
        throw new CocalcError(
          "ERR_WORKSPACE_EXISTS",
          `workspace ${wsid} already exists on host ${placed}`,
        );
      // Ids are unique across the fleet: one made on a host before it joined counts too.
      if (placed === null) {
        const found = await adopt(wsid);
        if (found !== null)
          throw new CocalcError(
            "ERR_WORKSPACE_EXISTS",
            `workspace ${wsid} already exists on host ${found}`,
          );
      }
      // A create sent again (its answer was lost) goes to where the first one went.
      let hostId: string;
      if (placed !== null) {
        hostId = placed;
        const v = await hostView(hostId);
        if (!isOnline(v)) throw offline(undefined, hostId, v);
      } else hostId = await chooseHost(wsid, d, m);
      const r = await placements.execute(subject, {
        type: "PlaceWorkspace",
        data: { wsid, hostId },
        ...meta(),
      });
      const reply = await forward(hostId, wsid, m).catch(async (err) => {
        if (r.seqs.length > 0) await unplace(wsid);
        throw err;
      });
      // A create the host refused leaves the id free for another try (elsewhere, too).
      if (!parseReply(reply).ok) {
        if (r.seqs.length > 0) await unplace(wsid);
      } else if (r.seqs.length > 0) log.info({ wsid, hostId }, "workspace placed");
      return reply;
    }
    const hostId = (await placements.state(subject)).state.hostId ?? (await adopt(wsid));
    if (hostId === null)
      throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", `workspace ${wsid} is on no host`);
    const v = await hostView(hostId);
    if (!isOnline(v)) throw offline(wsid, hostId, v);
    const reply = await forward(hostId, wsid, m);
    if (command.type === "DeleteWorkspace" && parseReply(reply).ok) await unplace(wsid);
    return reply;
  };

  const onLedger = async (m: Msg): Promise<{ seqs: number[] }> => {
    const hostId = hostOfSubject(m.subject);
    if (!hostId) throw new CocalcError("ERR_COMMAND_INVALID", "no host in the subject");
    const at = o.now().toISOString();
    const c = parseCommand<Command>(LedgerCommands, m.data, { actor: `host:${hostId}`, at });
    const d = c.data as { account: string; wsid: string; cores?: number; force?: boolean };
    const subject = ledgerSubjects(d.account).cores;
    const r =
      c.type === "ReserveCores"
        ? await ledger.execute(subject, {
            type: "ReserveCores",
            data: { wsid: d.wsid, hostId, cores: d.cores!, ...(d.force && { force: true }) },
            actor: c.actor,
            at,
          })
        : await ledger.execute(subject, {
            type: "ReleaseCores",
            data: { wsid: d.wsid },
            actor: c.actor,
            at,
          });
    return { seqs: r.seqs };
  };

  const setQuota = async (m: Msg): Promise<{ seqs: number[] }> => {
    const account = accountOfSubject(m.subject);
    if (!account) throw new CocalcError("ERR_ACCOUNT_INVALID", "no account in the subject");
    const c = parseCommand<Command>(AccountCommands, m.data, meta());
    const { cores } = c.data as { cores: number | null };
    const r = await ledger.execute(ledgerSubjects(account).cores, {
      type: "SetAccountCoresQuota",
      data: { cores },
      actor: "user",
      at: c.at,
    });
    return { seqs: r.seqs };
  };

  // The `accounts` view of the ledger.
  const projector = await consumeEvents({
    nc: o.nc,
    js: o.js,
    jsm: o.jsm,
    stream: Streams.LEDGER,
    durable: FLEET,
    filterSubject: AllLedger.cores,
    registry: accountRegistry,
    log,
    handle: await projectionHandler(o.kvm, [accountsProjection]),
  });

  /**
   * A joined host hears only its own inbox (`_HI.<hostId>.…`): a request that wants its
   * answer in another host's is dropped, not answered there.
   */
  const ownInbox = (m: Msg): boolean => {
    const inboxOf = hostOfInbox(m.reply);
    if (inboxOf === undefined || inboxOf === hostOfSubject(m.subject)) return true;
    log.warn(
      { subject: m.subject, reply: m.reply },
      "ledger request with another host's inbox dropped",
    );
    return false;
  };
  const inflight = new Set<Promise<void>>();
  const serve = (
    sub: Subscription,
    handle: (m: Msg) => Promise<Uint8Array | object>,
    accept: (m: Msg) => boolean = () => true,
  ) =>
    (async () => {
      for await (const m of sub) {
        if (!accept(m)) continue;
        const p = handle(m).then(
          (r) => {
            if (!m.reply) return;
            if (r instanceof Uint8Array) m.respond(r);
            else m.respond(JSON.stringify({ ok: true, ...r }));
          },
          (err: unknown) => {
            const error = toErrorPayload(err);
            if (error.code === "ERR_INTERNAL") log.error({ err }, "control plane request failed");
            else log.info({ code: error.code, reason: error.message }, "refused");
            if (m.reply) m.respond(JSON.stringify({ ok: false, error }));
          },
        );
        const tracked = p.finally(() => inflight.delete(tracked));
        inflight.add(tracked);
      }
    })();
  const routeSub = o.nc.subscribe(AllWorkspaces.command(ServiceNames.host), { queue: FLEET });
  const ledgerSub = o.nc.subscribe(AllHosts.ledger, { queue: FLEET });
  const accountSub = o.nc.subscribe(AllAccounts.commands, { queue: FLEET });
  const adminSub = o.nc.subscribe(FleetSubjects.command, { queue: FLEET });
  const onAdmin = fleetAdmin({
    store: hostAdmin,
    log,
    now: o.now,
    ...(o.imagesDir !== undefined && { imagesDir: o.imagesDir }),
    hostView,
    isOnline,
    offline: (hostId, v) => offline(undefined, hostId, v),
    changed: async (hostId, state) => {
      drained.set(hostId, state.status === "drained" ? state.since : null);
      await showDrain(hostId);
    },
    sendImport,
  });
  const loops = Promise.all([
    serve(routeSub, route),
    serve(ledgerSub, onLedger, ownInbox),
    serve(accountSub, setQuota),
    serve(adminSub, onAdmin),
  ]);
  let sweeping: Promise<void> | undefined;
  const sweepEveryMs = Math.max(500, Math.floor(offlineAfterMs / 3));
  const timer = setInterval(() => {
    if (sweeping) return;
    // One sweep at a time, but one that hangs (a listing of the view that never ends) must
    // not keep every host from ever turning offline: past its time the next one may start.
    let bound: ReturnType<typeof setTimeout> | undefined;
    const run = sweep().catch((err) => log.warn({ err }, "hosts sweep failed"));
    const limit = new Promise<void>((resolve) => {
      bound = setTimeout(() => {
        log.warn({ ms: sweepEveryMs * 20 }, "hosts sweep did not finish: the next one starts");
        resolve();
      }, sweepEveryMs * 20);
      bound.unref();
    });
    sweeping = Promise.race([run, limit]).finally(() => {
      clearTimeout(bound);
      sweeping = undefined;
    });
  }, sweepEveryMs);
  timer.unref();
  return {
    async coresQuotas(accounts) {
      const out: Record<string, number | null> = {};
      for (const a of accounts) out[a] = (await ledger.state(ledgerSubjects(a).cores)).state.quota;
      return out;
    },
    async stop() {
      clearInterval(timer);
      // A sweep under way lists the hosts' view (a consumer of its own): it ends first.
      await sweeping;
      beatsSub.unsubscribe();
      viewsSub.unsubscribe();
      for (const s of [routeSub, ledgerSub, accountSub, adminSub]) await s.drain();
      await Promise.allSettled([...inflight]);
      await loops;
      await projector.stop();
    },
  };
}

function parseReply(data: Uint8Array): HostReply {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as HostReply;
  } catch {
    return { ok: false };
  }
}
