/**
 * The hub's registry of hosts. An operator issues a one-time registration token for a host
 * id; it carries a NATS login (a user JWT and its seed) that may do one thing until the token
 * expires: ask `hostjoin.<tokenId>` and hear the answer on its own inbox. Joining answers
 * with the host's leaf node credentials: a user in an account of its own (leaf-accounts.ts),
 * made reachable from the hub's account by pushing account JWTs, never by a reload. Tokens are
 * aggregates on `registry.token.<id>` (`HostTokenIssued`, `HostJoined`, `HostTokenRevoked`);
 * secrets never go into events or the hub's files: only a token file and the host's
 * credentials hold them. Issuing a token revokes the host's unused ones; a join replaces the
 * host's earlier credentials (and revokes the token they came from); revoking a used token
 * cuts its host off.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { parseCommand } from "../../shared/commands.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type HostTokenFile,
  type HostTokenInfo,
  type HubCertPin,
  type LeafCredentials,
  RegistryCommands,
  type RegistryEvent,
  RegistryEvents,
} from "../../shared/launchpad.js";
import { hostDomain, hostEventsStream, RegistrySubjects, Streams } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { publishEvent } from "../runtime/publish.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import { decideJoinQuotas, parseJoinQuotas } from "./join-quotas.js";
import type { LeafAccount } from "./leaf-accounts.js";
import type { UserCredentials } from "./nats-auth.js";

export const registryEvents = new EventRegistry(RegistryEvents);

/** A token's login outlives its expiry this long, so that a late join hears why it is refused. */
const EXPIRED_GRACE_MS = 24 * 3_600_000;

/** What the registry needs of the hub's NATS authority (HubNatsAuth). */
export interface LeafAuthority {
  /** The joined hosts' leaf accounts now reachable. */
  leafs(): readonly LeafAccount[];
  /** Makes exactly these reachable (pushes account JWTs; no reload). */
  setLeafs(leafs: readonly LeafAccount[]): Promise<void>;
  joinLogin(tokenId: string, until: Date): Promise<UserCredentials>;
  newLeafLogin(hostId: string): Promise<{ account: string } & UserCredentials>;
}

export interface RegistryOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  auth: LeafAuthority;
  /** The client address hosts exchange their tokens at (goes into token files). */
  natsUrl: string;
  /** `nats-leaf://host:port` of the leaf node listener (`tls://` when it speaks TLS). */
  leafUrl: string;
  /** The hub's certificate, when its listeners speak TLS: every token carries it. */
  tls?: HubCertPin;
  hubDomain: string;
  /** The cores quotas of these accounts in the hub's ledger (null: none). */
  coresQuotas(accounts: string[]): Promise<Record<string, number | null>>;
  /** Where the hub keeps its data (named in what a refused join says to run). */
  dataDir: string;
  now(): Date;
}

/** A join's answer: the leaf credentials, and what became of the host's quotas. */
export type JoinAnswer = LeafCredentials & { coresQuotaNotes: string[] };

type TokenState =
  | { status: "none" }
  | {
      status: "issued" | "joined" | "revoked";
      hostId: string;
      expiresAt: string;
      issuedAt: string;
      joinedAt?: string;
      revoked?: { at: string; reason: string };
    };

function evolve(state: TokenState, e: RegistryEvent): TokenState {
  switch (e.type) {
    case "HostTokenIssued":
      return {
        status: "issued",
        hostId: e.data.hostId,
        expiresAt: e.data.expiresAt,
        issuedAt: e.at,
      };
    case "HostJoined":
      return state.status === "none" ? state : { ...state, status: "joined", joinedAt: e.at };
    case "HostTokenRevoked":
      return state.status === "none"
        ? state
        : { ...state, status: "revoked", revoked: { at: e.at, reason: e.data.reason } };
    default: {
      const never: never = e;
      throw new Error(`unhandled event ${(never as { type: string }).type}`);
    }
  }
}

/** Whether a join with this token may go ahead, by its recorded state: pure. */
export function decideJoin(state: TokenState, now: Date): { hostId: string } {
  switch (state.status) {
    case "none":
      throw new CocalcError("ERR_HOST_JOIN", "no such registration token");
    case "joined":
      throw new CocalcError(
        "ERR_HOST_JOIN",
        `the registration token was already used (by host ${state.hostId}); issue a new one`,
      );
    case "revoked":
      throw new CocalcError(
        "ERR_HOST_JOIN",
        `the registration token was revoked at ${state.revoked?.at} (${state.revoked?.reason}); issue a new one`,
      );
    case "issued":
      if (Date.parse(state.expiresAt) <= now.getTime())
        throw new CocalcError(
          "ERR_HOST_JOIN",
          `the registration token expired at ${state.expiresAt}; issue a new one`,
        );
      return { hostId: state.hostId };
    default: {
      const never: never = state;
      throw new Error(`unhandled state ${String(never)}`);
    }
  }
}

/** How `token list` shows a token's state at `now`: pure. */
export function tokenInfo(
  tokenId: string,
  state: TokenState,
  now: Date,
): HostTokenInfo | undefined {
  if (state.status === "none") return undefined;
  const expired = state.status === "issued" && Date.parse(state.expiresAt) <= now.getTime();
  return {
    tokenId,
    hostId: state.hostId,
    status: expired ? "expired" : state.status,
    expiresAt: state.expiresAt,
    issuedAt: state.issuedAt,
    ...(state.joinedAt !== undefined && { joinedAt: state.joinedAt }),
    ...(state.revoked !== undefined && { revoked: state.revoked }),
  };
}

const id = () =>
  randomId()
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 16);

export interface Registry {
  stop(): Promise<void>;
}

export async function startRegistry(o: RegistryOptions): Promise<Registry> {
  const td = new TextDecoder();
  /** Host id → its leaf account now reachable. */
  const leafs = new Map(o.auth.leafs().map((l) => [l.hostId, l]));
  const save = () => o.auth.setLeafs([...leafs.values()]);
  await dropHostEventCopies(o);

  const tokenState = async (tokenId: string) => {
    const subject = RegistrySubjects.token(tokenId);
    const last = await lastSubjectSeq(o.jsm, Streams.REGISTRY, subject);
    let state: TokenState = { status: "none" };
    for (const e of await readSubject(o.js, registryEvents, Streams.REGISTRY, subject, 0, last))
      state = evolve(state, e.event as RegistryEvent);
    return { state, last };
  };
  const record = async (
    tokenId: string,
    e: RegistryEvent["type"],
    data: object,
    last: number,
    actor = "hub",
  ) => {
    const def = RegistryEvents.find((d) => d.type === e)!;
    const ev = envelope(def, data as never, { actor, at: o.now() });
    registryEvents.check(ev);
    await publishEvent(o.js, RegistrySubjects.token(tokenId), ev, { expectLastSubjectSeq: last });
  };
  const tokenIds = async (): Promise<string[]> => {
    const info = await o.jsm.streams.info(Streams.REGISTRY, {
      subjects_filter: RegistrySubjects.tokens,
    });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.split(".")[2]!);
  };
  /** Records the revocation of a token and removes what it gives: its login, or its host's. */
  const revoke = async (tokenId: string, reason: string, actor = "hub"): Promise<TokenState> => {
    const { state, last } = await tokenState(tokenId);
    if (state.status === "none")
      throw new CocalcError("ERR_HOST_JOIN", `no registration token ${tokenId}`);
    if (state.status === "revoked") return state;
    // Its join login stays until the grace period ends, so that a join with it hears why.
    await record(tokenId, "HostTokenRevoked", { reason }, last, actor);
    if (leafs.get(state.hostId)?.tokenId === tokenId) leafs.delete(state.hostId);
    o.log.info({ tokenId, hostId: state.hostId, reason }, "host registration token revoked");
    return state;
  };

  const issue = async (m: Msg): Promise<HostTokenFile | HostTokenInfo[] | HostTokenInfo> => {
    const at = o.now().toISOString();
    const command = parseCommand(RegistryCommands, m.data, { actor: "operator", at });
    if (command.type === "ListHostTokens") {
      const out: HostTokenInfo[] = [];
      for (const t of await tokenIds()) {
        const info = tokenInfo(t, (await tokenState(t)).state, o.now());
        if (info) out.push(info);
      }
      return out.sort((a, b) => a.issuedAt.localeCompare(b.issuedAt));
    }
    // Who asks: an admin's account id, or the operator at the console.
    const actor = (command.data as { by?: string }).by ?? "console";
    if (command.type === "RevokeHostToken") {
      const { tokenId } = command.data as { tokenId: string };
      await revoke(tokenId, "revoked by an operator", actor);
      await save();
      return tokenInfo(tokenId, (await tokenState(tokenId)).state, o.now())!;
    }
    const { hostId, ttlSeconds } = command.data as { hostId: string; ttlSeconds: number };
    // The host's unused tokens can no longer join: the newest one is the one that counts.
    for (const t of await tokenIds()) {
      const { state } = await tokenState(t);
      if (state.status === "issued" && state.hostId === hostId)
        await revoke(t, "a newer token was issued for the host", actor);
    }
    const tokenId = id();
    const expiresAt = new Date(o.now().getTime() + ttlSeconds * 1000).toISOString();
    const login = await o.auth.joinLogin(
      tokenId,
      new Date(Date.parse(expiresAt) + EXPIRED_GRACE_MS),
    );
    await record(tokenId, "HostTokenIssued", { hostId, expiresAt }, 0, actor);
    await save();
    o.log.info({ tokenId, hostId, expiresAt }, "host registration token issued");
    return {
      v: 2,
      natsUrl: o.natsUrl,
      tokenId,
      hostId,
      expiresAt,
      jwt: login.jwt,
      secret: td.decode(login.seed),
      ...(o.tls && { tls: o.tls }),
    };
  };

  const join = async (m: Msg): Promise<JoinAnswer> => {
    const tokenId = m.subject.split(".")[1] ?? "";
    const { state, last } = await tokenState(tokenId);
    const { hostId } = decideJoin(state, o.now());
    // Before the token is used: a host refused for its quotas joins later with the same one.
    const hostQuotas = parseJoinQuotas(m.data);
    const coresQuotaNotes = decideJoinQuotas(
      hostQuotas,
      await o.coresQuotas(Object.keys(hostQuotas)),
      o.dataDir,
    );
    const login = await o.auth.newLeafLogin(hostId);
    await record(
      tokenId,
      "HostJoined",
      { hostId, leafUser: login.account },
      last,
      `host:${hostId}`,
    );
    // A host that joins again gets new credentials in a new account: a leaf node still
    // connected with the old ones is left in an account nothing reaches.
    const before = leafs.get(hostId)?.tokenId;
    if (before) await revoke(before, `replaced by token ${tokenId}`).catch(() => undefined);
    // The join login lasts until the token's grace period ends (a used token is refused by
    // its state), so the connection this answer goes out on stays open.
    leafs.set(hostId, { hostId, account: login.account, tokenId });
    await save();
    o.log.info({ tokenId, hostId }, "host joined");
    return {
      coresQuotaNotes,
      hostId,
      leafUrl: o.leafUrl,
      jwt: login.jwt,
      seed: td.decode(login.seed),
      hubDomain: o.hubDomain,
      hostDomain: hostDomain(hostId),
    };
  };

  const serve = (sub: Subscription, handle: (m: Msg) => Promise<unknown>) =>
    (async () => {
      for await (const m of sub) {
        const reply = await handle(m).then(
          (result) => ({ ok: true, result }),
          (err: unknown) => {
            const error = toErrorPayload(err);
            if (error.code === "ERR_INTERNAL") o.log.error({ err }, "registry request failed");
            else o.log.info({ code: error.code, reason: error.message }, "registry refused");
            return { ok: false, error };
          },
        );
        if (m.reply) m.respond(JSON.stringify(reply));
      }
    })();
  // One at a time: the leaf accounts are shared.
  const cmdSub = o.nc.subscribe(RegistrySubjects.command);
  const joinSub = o.nc.subscribe(RegistrySubjects.joins);
  let chain = Promise.resolve<unknown>(undefined);
  const queued = <T>(task: () => Promise<T>): Promise<T> => {
    const next = chain.then(task);
    chain = next.catch(() => undefined);
    return next;
  };
  const serially =
    <T>(fn: (m: Msg) => Promise<T>) =>
    (m: Msg) =>
      queued(() => fn(m));
  const loops = Promise.all([serve(cmdSub, serially(issue)), serve(joinSub, serially(join))]);
  return {
    async stop() {
      await cmdSub.drain();
      await joinSub.drain();
      await loops;
      await chain;
    },
  };
}

/**
 * Removes the per-host event copies an older control plane kept (`HOST_EVENTS_<hostId>`):
 * nats-server 2.9 checked their events' expected-sequence headers against the copy and
 * dropped them with a warning each. The control plane reads a host's views through its
 * JetStream domain when it needs them.
 */
async function dropHostEventCopies(o: RegistryOptions): Promise<void> {
  const prefix = hostEventsStream("x").slice(0, -1);
  for await (const name of o.jsm.streams.names()) {
    if (!name.startsWith(prefix)) continue;
    await o.jsm.streams.delete(name);
    o.log.info({ stream: name }, "removed an older control plane's copy of a host's events");
  }
}
