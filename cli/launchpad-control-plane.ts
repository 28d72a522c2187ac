/**
 * `cocalc-launchpad control-plane`: the nats-server hosts join as leaf nodes (its own
 * JetStream domain, a leaf node listener) and the registry that issues their registration
 * tokens. `control-plane token` asks a running one for a token and writes it to a 0600 file;
 * `host --join FILE` exchanges it (joinControlPlane below).
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { fromSeed } from "@nats-io/nkeys";
import { connect } from "@nats-io/transport-node";
import { type Fleet, startFleet } from "../services/host/index.js";
import { type JoinAnswer, registryLogins, startRegistry } from "../services/registry/index.js";
import { connectServices } from "../services/runtime/connect.js";
import type { Logger } from "../services/runtime/logger.js";
import {
  locateNatsServer,
  NatsServer,
  natsServerVersion,
  supportsSyncAlways,
} from "../services/runtime/nats-server.js";
import { freePort } from "../services/runtime/ports.js";
import { errorText, request } from "../shared/command-client.js";
import { CocalcError } from "../shared/errors.js";
import { HUB_JS_DOMAIN } from "../shared/hub.js";
import type { HostTokenFile, HostTokenInfo, LeafCredentials } from "../shared/launchpad.js";
import { RegistrySubjects } from "../shared/subjects.js";
import { controlPlaneStreams } from "../streams/definitions.js";
import { ensureStreams } from "../streams/ensure.js";
import { cleanupStack } from "./cleanups.js";
import { writeFileAtomic } from "./files.js";
import type { ControlPlaneOptions, ControlPlaneTokenOptions } from "./launchpad-args.js";
import { acquireLock } from "./lock.js";
import { loadSecrets } from "./secrets.js";

/** The control plane's JetStream domain. */
export const HUB_DOMAIN = HUB_JS_DOMAIN;

export interface ControlPlaneRunInfo {
  pid: number;
  natsUrl: string;
  leafUrl: string;
  seedFile: string;
}

export function controlPlaneRunFile(dataDir: string): string {
  return join(dataDir, "control-plane.json");
}

export interface ControlPlane {
  natsUrl: string;
  leafUrl: string;
  nc: NatsConnection;
  stop(): Promise<void>;
}

export async function startControlPlane(
  opts: ControlPlaneOptions,
  log: Logger,
  progress: (line: string) => void,
): Promise<ControlPlane> {
  const cleanups = cleanupStack(log);
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    cleanups.push(await acquireLock(opts.dataDir));
    const secrets = await loadSecrets(opts.dataDir);
    const seedFile = join(opts.dataDir, "services.nk");
    const binary = locateNatsServer();
    const version = await natsServerVersion(binary, join(opts.dataDir, "nats-version.json"));
    const leafPort = opts.leafPort ?? (await freePort());
    const usersFile = join(opts.dataDir, "registry-users.json");
    // Every joined host's leaf node logs into an account of its own (services/registry).
    const logins = await registryLogins(usersFile);
    const nats = new NatsServer(
      {
        binary,
        dir: join(opts.dataDir, "nats"),
        serverName: "cocalc-control-plane",
        host: opts.listen,
        port: opts.port ?? (await freePort()),
        wsPort: await freePort(),
        servicesNkey: fromSeed(new TextEncoder().encode(secrets.servicesSeed)).getPublicKey(),
        wsOrigin: "http://gateway.cocalc-launchpad.invalid",
        syncAlways: supportsSyncAlways(version),
        jetstreamDomain: HUB_DOMAIN,
        leafListen: { host: opts.listen, port: leafPort },
        users: logins.users,
        accounts: logins.accounts,
      },
      log.child({ component: "nats-server" }),
    );
    await nats.start();
    cleanups.push(() => nats.stop());
    const natsUrl = `nats://${opts.listen}:${nats.config.port}`;
    const leafUrl = `nats-leaf://${opts.listen}:${leafPort}`;
    progress(`nats-server on ${natsUrl}, leaf nodes on ${leafUrl}`);
    const nc = await connectServices(
      { url: natsUrl, seed: secrets.servicesSeed },
      "cocalc-launchpad control-plane",
      RegistrySubjects.operatorInbox,
    );
    cleanups.push(async () => {
      await nc.drain().catch(() => nc.close());
    });
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, controlPlaneStreams());
    // Set once the fleet runs; a join before that (the first moments) is refused, not guessed.
    let fleet: Fleet | undefined;
    const registry = await startRegistry({
      nc,
      js: jetstream(nc),
      jsm,
      log: log.child({ component: "registry" }),
      natsUrl,
      leafUrl,
      hubDomain: HUB_DOMAIN,
      usersFile,
      applyUsers: (users, accounts) => nats.reloadUsers(users, accounts),
      coresQuotas: async (accounts) => {
        if (accounts.length === 0) return {};
        if (!fleet)
          throw new CocalcError("ERR_HOST_JOIN", "the control plane is still starting; join again");
        return fleet.coresQuotas(accounts);
      },
      dataDir: opts.dataDir,
      now: () => new Date(),
    });
    cleanups.push(() => registry.stop());
    // Hosts' heartbeats, placement and routing of workspace commands, the account ledger.
    fleet = await startFleet({
      nc,
      js: jetstream(nc),
      jsm,
      kvm: new Kvm(nc),
      log: log.child({ component: "fleet" }),
      now: () => new Date(),
      ...(opts.offlineAfterMs !== undefined && { offlineAfterMs: opts.offlineAfterMs }),
      ...(opts.imagesDir !== undefined && { imagesDir: opts.imagesDir }),
    });
    const started = fleet;
    cleanups.push(() => started.stop());
    const run: ControlPlaneRunInfo = { pid: process.pid, natsUrl, leafUrl, seedFile };
    await writeFileAtomic(controlPlaneRunFile(opts.dataDir), `${JSON.stringify(run, null, 2)}\n`);
    cleanups.push(() => rm(controlPlaneRunFile(opts.dataDir), { force: true }));
    return { natsUrl, leafUrl, nc, stop: cleanups.undo };
  } catch (err) {
    await cleanups.undo();
    throw err;
  }
}

/** Sends one registry command to the control plane running on `dataDir`; its result. */
async function registryRequest<T>(dataDir: string, command: object): Promise<T> {
  let run: ControlPlaneRunInfo;
  let seed: string;
  try {
    run = JSON.parse(await readFile(controlPlaneRunFile(dataDir), "utf8")) as ControlPlaneRunInfo;
    seed = (await readFile(run.seedFile, "utf8")).trim();
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `no control plane is running on ${dataDir} (start one with \`cocalc-launchpad control-plane\`, or pass --data-dir)`,
    );
  }
  const nc = await connectServices(
    { url: run.natsUrl, seed },
    "cocalc-launchpad token",
    RegistrySubjects.operatorInbox,
  );
  try {
    const r = await request<{ result: T }>(nc, RegistrySubjects.command, command, {
      timeoutMs: 30_000,
      refused: (error) => new CocalcError("ERR_HOST_JOIN", errorText(error)),
    });
    return r.result;
  } finally {
    await nc.close();
  }
}

/** Asks the running control plane for a token and writes it to a new 0600 file. */
export async function issueHostToken(o: ControlPlaneTokenOptions): Promise<HostTokenFile> {
  const token = await registryRequest<HostTokenFile>(o.dataDir, {
    type: "IssueHostToken",
    data: { hostId: o.hostId, ttlSeconds: o.ttlSeconds },
  });
  const tmp = `${o.out}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(token, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  await rename(tmp, o.out);
  return token;
}

/** The control plane's registration tokens (never their secrets). */
export function listHostTokens(dataDir: string): Promise<HostTokenInfo[]> {
  return registryRequest(dataDir, { type: "ListHostTokens", data: {} });
}

/** Revokes a token: unused, it can no longer join; used, its host is cut off. */
export function revokeHostToken(dataDir: string, tokenId: string): Promise<HostTokenInfo> {
  return registryRequest(dataDir, { type: "RevokeHostToken", data: { tokenId } });
}

function leafFile(dataDir: string): string {
  return join(dataDir, "leaf.json");
}

/**
 * The host's leaf credentials: kept from an earlier join, or got now by exchanging the
 * registration token in `tokenFile` (its secret is the password of a login that may only ask
 * for them).
 */
export async function joinControlPlane(
  tokenFile: string,
  dataDir: string,
  progress: (line: string) => void,
  /** The cores quotas of the host's own ledger: refused unless the control plane has each. */
  coresQuotas: Record<string, number> = {},
): Promise<LeafCredentials> {
  const joined = await joinedBefore(dataDir);
  if (joined) return joined;
  // The secret logs into the control plane: a file others can read gives it away.
  const mode = await stat(tokenFile).then(
    (s) => s.mode & 0o777,
    () => undefined,
  );
  if (mode !== undefined && (mode & 0o077) !== 0)
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile} can be read by others (mode ${mode.toString(8).padStart(4, "0")}): its secret may be known; chmod 600 it, or issue a new token`,
    );
  let token: HostTokenFile;
  try {
    token = JSON.parse(await readFile(tokenFile, "utf8")) as HostTokenFile;
    if (token.v !== 1 || !token.tokenId || !token.secret || !token.natsUrl) throw new Error();
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile} is not a registration token file (make one with \`cocalc-launchpad control-plane token\`)`,
    );
  }
  progress(`joining the control plane at ${token.natsUrl} as host ${token.hostId}`);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: token.natsUrl,
      user: `join-${token.tokenId}`,
      pass: token.secret,
      inboxPrefix: RegistrySubjects.joinInbox(token.tokenId),
      maxReconnectAttempts: 0,
      timeout: 10_000,
    });
  } catch (err) {
    const e = err as Error;
    throw new CocalcError(
      "ERR_HOST_JOIN",
      /authori[sz]ation/i.test(`${e.name} ${e.message}`)
        ? "the control plane refused the registration token: it is wrong, or expired long ago; issue a new one"
        : `cannot reach the control plane at ${token.natsUrl}: ${e.message}`,
    );
  }
  try {
    const r = await request<{ result: JoinAnswer }>(
      nc,
      RegistrySubjects.join(token.tokenId),
      { coresQuotas },
      {
        timeoutMs: 30_000,
        refused: (error) =>
          error.code === "ERR_HOST_JOIN_QUOTA"
            ? new CocalcError("ERR_HOST_JOIN_QUOTA", errorText(error))
            : new CocalcError("ERR_HOST_JOIN", error.message),
      },
    );
    const { coresQuotaNotes, ...leaf } = r.result;
    await writeFileAtomic(leafFile(dataDir), `${JSON.stringify(leaf, null, 2)}\n`);
    progress(`joined the control plane as host ${leaf.hostId}`);
    for (const note of coresQuotaNotes ?? []) progress(note);
    return leaf;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** The leaf credentials of a host that joined earlier (kept in DATA_DIR/leaf.json), if any. */
export async function joinedBefore(dataDir: string): Promise<LeafCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(leafFile(dataDir), "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as LeafCredentials;
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${leafFile(dataDir)} is not the leaf credentials of a joined host: remove it and join again with a new token`,
    );
  }
}

/** The leaf remote URL with the host's login (it goes only into the 0600 config file). */
export function leafRemoteUrl(c: LeafCredentials): string {
  const u = new URL(c.leafUrl);
  u.username = c.user;
  u.password = c.password;
  return u.toString().replace(/\/$/, "");
}
