/**
 * The control plane's registry of hosts. An operator issues a one-time registration token
 * for a host id; its secret is the password of a login that may do one thing: ask
 * `hostjoin.<tokenId>` and hear the answer on its own inbox. Joining answers with the host's
 * leaf node credentials (a login of its own) and makes the control plane source the host's
 * events into a stream of its own. Tokens are aggregates on `registry.token.<id>`
 * (`HostTokenIssued`, `HostJoined`); secrets never go into events: the logins live in a 0600
 * users file from which nats-server's config is made.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { type JetStreamClient, type JetStreamManager, StorageType } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { parseCommand } from "../../shared/commands.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type HostTokenFile,
  type LeafCredentials,
  RegistryCommands,
  type RegistryEvent,
  RegistryEvents,
} from "../../shared/launchpad.js";
import {
  AllAccounts,
  AllWorkspaces,
  hostDomain,
  hostEventsStream,
  hostSubjects,
  RegistrySubjects,
  ServiceNames,
  StreamSubjects,
  Streams,
} from "../../shared/subjects.js";
import { StreamDefinitions } from "../../streams/definitions.js";
import { lastSubjectSeq, readSubject } from "../runtime/commands.js";
import type { Logger } from "../runtime/logger.js";
import type { NatsPermissions } from "../runtime/nats-server.js";
import { publishEvent } from "../runtime/publish.js";

export const registryEvents = new EventRegistry(RegistryEvents);

/** The streams of a host that the control plane keeps a copy of. */
const SOURCED = [Streams.HOSTS, Streams.WORKSPACES, Streams.MOUNTS, Streams.ACCOUNTS] as const;

/** Tokens stay refusable with a clear reason this long after they expired; then the login goes. */
const EXPIRED_GRACE_MS = 24 * 3_600_000;

export interface RegistryUser {
  user: string;
  password: string;
  permissions?: NatsPermissions;
}

/** The logins the registry made (0600 file): joining hosts and leaf nodes. */
interface UsersFile {
  join: Record<string, { password: string; expiresAt: string }>;
  leaf: Record<string, { user: string; password: string }>;
}

export interface RegistryOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  /** The client address hosts exchange their tokens at (goes into token files). */
  natsUrl: string;
  /** `nats-leaf://host:port` of the leaf node listener. */
  leafUrl: string;
  hubDomain: string;
  usersFile: string;
  /** Makes nats-server accept exactly these extra users (rewrite its config and reload). */
  applyUsers(users: RegistryUser[]): Promise<void>;
  now(): Date;
}

type TokenState =
  | { status: "none" }
  | { status: "issued"; hostId: string; expiresAt: string }
  | { status: "joined"; hostId: string; expiresAt: string };

function evolve(state: TokenState, e: RegistryEvent): TokenState {
  switch (e.type) {
    case "HostTokenIssued":
      return { status: "issued", hostId: e.data.hostId, expiresAt: e.data.expiresAt };
    case "HostJoined":
      return state.status === "none" ? state : { ...state, status: "joined" };
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

const secret = () => randomBytes(32).toString("base64url");
const id = () =>
  randomId()
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 16);

/**
 * What a leaf node of a host may do on the control plane: answer operators' requests (publish
 * to their inboxes) but not listen there, nor to joining hosts, nor to the registry. It may
 * not touch the control plane's placements, ledger and views (`$KV`: a host's own buckets
 * have the same names), nor hear the workspace and account commands the control plane
 * routes, nor receive the events of other hosts. With `hostId` and the other joined hosts: it
 * may not beat or reserve cores as another host, nor hear another host's commands.
 */
export function leafPermissions(
  hubDomain: string,
  hostId?: string,
  others: readonly string[] = [],
): NatsPermissions {
  const registry = [RegistrySubjects.command, RegistrySubjects.joins, RegistrySubjects.joinInboxes];
  const controlPlane = [...StreamSubjects.PLACEMENTS, ...StreamSubjects.LEDGER, "$KV.>"];
  const notMine = others.filter((o) => o !== hostId).map((o) => hostSubjects(o));
  return {
    publish: {
      allow: [">"],
      deny: [
        ...registry,
        "registry.>",
        `$JS.${hubDomain}.API.>`,
        ...controlPlane,
        ...notMine.flatMap((h) => [h.beat, h.ledger]),
      ],
    },
    subscribe: {
      allow: [">"],
      deny: [
        ...registry,
        "registry.>",
        `${RegistrySubjects.operatorInbox}.>`,
        ...controlPlane,
        // A host's streams would otherwise store what the other hosts publish (their interest
        // crosses the control plane): events are written by the services of the host itself.
        ...StreamDefinitions.flatMap((d) => d.subjects),
        AllWorkspaces.command(ServiceNames.host),
        AllAccounts.commands,
        ...notMine.flatMap((h) => [h.command, `${h.command}.>`]),
      ],
    },
  };
}

export interface Registry {
  stop(): Promise<void>;
}

export async function startRegistry(o: RegistryOptions): Promise<Registry> {
  let users: UsersFile = { join: {}, leaf: {} };
  try {
    users = JSON.parse(await readFile(o.usersFile, "utf8")) as UsersFile;
  } catch {
    // First start: nobody joined yet.
  }
  const toNats = (): RegistryUser[] => [
    ...Object.entries(users.join).map(([tokenId, j]) => ({
      user: `join-${tokenId}`,
      password: j.password,
      permissions: {
        publish: { allow: [RegistrySubjects.join(tokenId)] },
        subscribe: { allow: [`${RegistrySubjects.joinInbox(tokenId)}.>`] },
      },
    })),
    ...Object.entries(users.leaf).map(([hostId, l]) => ({
      user: l.user,
      password: l.password,
      permissions: leafPermissions(o.hubDomain, hostId, Object.keys(users.leaf)),
    })),
  ];
  const save = async () => {
    await writeFile(`${o.usersFile}.new`, JSON.stringify(users), { mode: 0o600 });
    await rename(`${o.usersFile}.new`, o.usersFile);
    await o.applyUsers(toNats());
  };
  const sweep = async () => {
    const now = o.now().getTime();
    const old = Object.keys(users.join).filter(
      (t) => Date.parse(users.join[t]!.expiresAt) + EXPIRED_GRACE_MS < now,
    );
    if (old.length === 0) return;
    for (const t of old) delete users.join[t];
    await save();
  };
  await sweep();
  await o.applyUsers(toNats());

  const tokenState = async (tokenId: string) => {
    const subject = RegistrySubjects.token(tokenId);
    const last = await lastSubjectSeq(o.jsm, Streams.REGISTRY, subject);
    let state: TokenState = { status: "none" };
    for (const e of await readSubject(o.js, registryEvents, Streams.REGISTRY, subject, 0, last))
      state = evolve(state, e.event as RegistryEvent);
    return { state, last };
  };
  const record = async (tokenId: string, e: RegistryEvent["type"], data: object, last: number) => {
    const def = RegistryEvents.find((d) => d.type === e)!;
    const ev = envelope(def, data as never, { actor: "control-plane", at: o.now() });
    registryEvents.check(ev);
    await publishEvent(o.js, RegistrySubjects.token(tokenId), ev, { expectLastSubjectSeq: last });
  };

  /** Keeps a copy of the joined host's streams here (sourced through its JetStream domain). */
  const sourceHost = async (hostId: string) => {
    const name = hostEventsStream(hostId);
    const api = `$JS.${hostDomain(hostId)}.API`;
    const sources = SOURCED.map((s) => ({ name: s, external: { api, deliver: "" } }));
    try {
      await o.jsm.streams.info(name);
      await o.jsm.streams.update(name, { sources });
    } catch {
      await o.jsm.streams.add({
        name,
        description: `events of host ${hostId}`,
        sources,
        storage: StorageType.File,
      });
    }
  };

  const issue = async (m: Msg): Promise<HostTokenFile> => {
    const at = o.now().toISOString();
    const command = parseCommand(RegistryCommands, m.data, { actor: "operator", at });
    const { hostId, ttlSeconds } = command.data as { hostId: string; ttlSeconds: number };
    const tokenId = id();
    const expiresAt = new Date(o.now().getTime() + ttlSeconds * 1000).toISOString();
    const password = secret();
    await record(tokenId, "HostTokenIssued", { hostId, expiresAt }, 0);
    users.join[tokenId] = { password, expiresAt };
    await save();
    o.log.info({ tokenId, hostId, expiresAt }, "host registration token issued");
    return { v: 1, natsUrl: o.natsUrl, tokenId, secret: password, hostId, expiresAt };
  };

  const join = async (m: Msg): Promise<LeafCredentials> => {
    const tokenId = m.subject.split(".")[1] ?? "";
    const { state, last } = await tokenState(tokenId);
    const { hostId } = decideJoin(state, o.now());
    const leaf = { user: `leaf-${hostId}`, password: secret() };
    await sourceHost(hostId);
    await record(tokenId, "HostJoined", { hostId, leafUser: leaf.user }, last);
    // A host that joins again (new token) gets new credentials; the old ones stop working.
    users.leaf[hostId] = leaf;
    await save();
    o.log.info({ tokenId, hostId }, "host joined");
    return {
      hostId,
      leafUrl: o.leafUrl,
      user: leaf.user,
      password: leaf.password,
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
  // One at a time: the users file and the config reload are shared.
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
  const timer = setInterval(
    () =>
      void queued(sweep).catch((err) =>
        o.log.warn({ err: String(err) }, "expired token logins not removed"),
      ),
    60_000,
  );
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await cmdSub.drain();
      await joinSub.drain();
      await loops;
      await chain;
    },
  };
}
