/**
 * `cocalc-launchpad` (or `cocalc-launchpad hub`): the hub people sign in to, which is also the
 * control plane hosts join. Its nats-server runs in operator mode (browsers get short-lived
 * user JWTs for their own nkeys, hosts' leaf nodes log into accounts of their own, all minted
 * without a reload), the accounts service keeps who may sign in, the registry and the fleet
 * join hosts, place workspaces and route their commands, and the gateway serves the web app,
 * sign-in and the browsers' NATS WebSocket. On the first run it prints a one-time setup link
 * that makes the first admin.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { ProxyTokens } from "../../services/gateway/app-proxy-tokens.js";
import {
  BrowserSessions,
  HUB_SESSION_IDLE_MS,
  HUB_SESSION_LIFETIME_MS,
} from "../../services/gateway/browser-sessions.js";
import { buildHubApp } from "../../services/gateway/hub-app.js";
import { appHostName } from "../../services/gateway/hub-app-proxy.js";
import { allowedHostnames } from "../../services/gateway/security.js";
import { FLEET, type Fleet, startFleet } from "../../services/host/fleet.js";
import {
  HUB_ACCOUNTS_SERVICE,
  hubAccountsService,
  newSetupToken,
  setupToken,
} from "../../services/hub/accounts.js";
import { hubAgentKeysService } from "../../services/hub/agent-keys.js";
import { HubNatsAuth, startHubNatsServer } from "../../services/hub/index.js";
import { startReaders } from "../../services/hub/readers.js";
import { startRegistry } from "../../services/hub/registry.js";
import { hubSshKeysService } from "../../services/hub/ssh-keys.js";
import { hubSshService } from "../../services/hub/ssh-server.js";
import {
  accountMemberships,
  followMemberships,
  followPlacements,
  HUB_WORKSPACES_SERVICE,
  hubWorkspacesService,
  workspaceMembership,
} from "../../services/hub/workspaces.js";
import type { Logger } from "../../services/runtime/logger.js";
import { locateNatsServer } from "../../services/runtime/nats-server.js";
import { freePort } from "../../services/runtime/ports.js";
import { writeSecretFile } from "../../services/runtime/secret-file.js";
import { StoreWatch, storeWatchOptionsFromEnv } from "../../services/runtime/store-watch.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { errorText, request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import { storeFullSummary } from "../../shared/health.js";
import { HUB_JS_DOMAIN, HubBuckets, type HubConfigView, HubSubjects } from "../../shared/hub.js";
import type { Membership } from "../../shared/hub-permissions.js";
import type { HostTokenFile, HostTokenInfo } from "../../shared/launchpad.js";
import { RegistrySubjects } from "../../shared/subjects.js";
import { controlPlaneStreams, hubStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { cleanupStack } from "../common/cleanups.js";
import { acquireLock } from "../common/lock.js";
import { browserSessionsFile } from "../common/secrets.js";
import { WEB_ROOT } from "../common/version.js";
import type { HubOptions, HubTokenOptions } from "./args.js";
import { startFirstImage } from "./first-image.js";
import { connectHub, type HubRunInfo, hubRunFile, hubLogin as login } from "./hub-connect.js";
import { startLocalHost } from "./local-host.js";
import { certPin, hubTls, type Tls } from "./tls.js";

/** nats-server accepts websocket connections only with this Origin: the gateway's. */
const GATEWAY_ORIGIN = "http://gateway.cocalc-hub.invalid";

export interface RunningHub {
  url: string;
  /** The one-time link that makes the first admin, while the hub has none. */
  setupUrl?: string;
  natsUrl: string;
  leafUrl: string;
  /** The hub services' own connection (full rights in the hub's account). */
  nc: NatsConnection;
  /** The host the hub runs joined to itself, if any. */
  localHostId?: string;
  /** The certificate's SHA-256 fingerprint when serving HTTPS. */
  fingerprint?: string;
  port: number;
  /** The SSH server's port (port + 1). */
  sshPort: number;
  dataDir: string;
  stop(): Promise<void>;
}

export function setupTokenFile(dataDir: string): string {
  return join(dataDir, "setup-token");
}

/** The name hosts reach the hub by: the public URL's, else the bound address (or host name). */
function advertisedHost(opts: HubOptions): string {
  if (opts.publicUrl) return new URL(opts.publicUrl).hostname;
  if (opts.bind === "0.0.0.0" || opts.bind === "::") return hostname();
  return opts.bind.includes(":") ? `[${opts.bind}]` : opts.bind;
}

/**
 * The name the hub's own host reaches the leaf listener by. Its nats-server checks the hub's
 * certificate against it: the one it made names localhost and the bind address, a given one
 * the public names (which must then reach this machine from itself). Its join goes to the
 * client listener by address: the console's pin needs no name.
 */
function leafNameHere(opts: HubOptions, tls: Tls | undefined): string {
  const wildcard = opts.bind === "0.0.0.0" || opts.bind === "::";
  if (tls && !tls.generated) return advertisedHost(opts);
  if (wildcard) return tls ? "localhost" : "127.0.0.1";
  return advertisedHost(opts);
}

export async function startHub(
  opts: HubOptions,
  log: Logger,
  progress: (line: string) => void,
): Promise<RunningHub> {
  const cleanups = cleanupStack(log);
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    cleanups.push(await acquireLock(opts.dataDir, "cocalc-launchpad hub"));
    await mkdir(join(opts.dataDir, "keys"), { recursive: true, mode: 0o700 });
    const auth = await HubNatsAuth.open({
      dir: join(opts.dataDir, "keys"),
      hubDomain: HUB_JS_DOMAIN,
      durables: [HUB_ACCOUNTS_SERVICE, HUB_WORKSPACES_SERVICE, FLEET],
      log: log.child({ component: "nats-auth" }),
    });
    const operatorJwtFile = join(opts.dataDir, "keys", "operator.jwt");
    await writeSecretFile(operatorJwtFile, await auth.operatorJwt());
    const loopback = ["127.0.0.1", "localhost", "::1"].includes(opts.bind);
    // Browsers resolve *.localhost to loopback themselves: apps' origins need no DNS there.
    const appsDomain = opts.appsDomain ?? (loopback ? "localhost" : undefined);
    const tls =
      loopback && !opts.cert
        ? undefined
        : await hubTls(opts.dataDir, { cert: opts.cert, key: opts.key }, [
            opts.bind,
            ...opts.allowHosts,
            ...(opts.publicUrl ? [new URL(opts.publicUrl).hostname] : []),
            ...(appsDomain !== undefined && appsDomain !== "localhost" ? [`*.${appsDomain}`] : []),
          ]);
    if (tls)
      progress(
        `HTTPS (and TLS on the client and leaf listeners) with ${tls.generated ? "a self-signed certificate" : opts.cert}, SHA-256 ${tls.fingerprint}`,
      );
    // Hosts and the console trust exactly this certificate (cli/launchpad/tls-pin.ts).
    const pin = tls && certPin(tls);
    const wsPort = await freePort();
    const server = await startHubNatsServer(
      locateNatsServer(),
      {
        dir: join(opts.dataDir, "nats"),
        serverName: "cocalc_hub",
        // Hosts exchange registration tokens here; every login is a JWT.
        host: opts.bind,
        port: opts.port + 3,
        websocket: { host: "127.0.0.1", port: wsPort, allowedOrigins: [GATEWAY_ORIGIN] },
        leaf: { host: opts.bind, port: opts.port + 2 },
        jetstreamDomain: HUB_JS_DOMAIN,
        operatorJwtFile,
        systemAccount: auth.systemAccountPublicKey,
        preload: await auth.preload(),
        ...(tls && { tls: { certFile: tls.certFile, keyFile: tls.keyFile } }),
      },
      log.child({ component: "nats-server" }),
    );
    cleanups.push(() => server.stop());
    progress(`nats-server (operator mode) on ${server.url}, leaf nodes on ${server.leafUrl}`);

    const conns: NatsConnection[] = [];
    cleanups.push(async () => {
      for (const c of conns.reverse()) await c.drain().catch(() => c.close());
    });
    const sys = await auth.systemCredentials();
    const system = await login(server.url, sys.jwt, sys.seed, "cocalc-hub system", { pin });
    conns.push(system);
    auth.attach(system);
    const svc = await auth.servicesCredentials();
    const nc = await login(server.url, svc.jwt, svc.seed, "cocalc-hub services", { pin });
    conns.push(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, [...hubStreams(), ...controlPlaneStreams()]);
    // A full disk under the hub's store: noticed, commands refused with ERR_DISK_FULL, health
    // degraded, nats-server restarted once there is room again (services/runtime/store-watch.ts).
    const storeNc = await login(server.url, svc.jwt, svc.seed, "cocalc-hub store watch", { pin });
    conns.push(storeNc);
    const store = new StoreWatch({
      dir: join(opts.dataDir, "nats"),
      server,
      nc: storeNc,
      connections: [nc],
      log: log.child({ component: "store" }),
      ...storeWatchOptionsFromEnv(),
    });
    store.start();
    cleanups.push(() => store.stop());

    const supervisor = new Supervisor({ nc, wsid: "hub", log, instance: "hub" });
    cleanups.push(() => supervisor.stop());
    await supervisor.start([
      hubAccountsService({ setupTokenFile: setupTokenFile(opts.dataDir) }),
      hubWorkspacesService(),
      hubAgentKeysService({ keyFile: join(opts.dataDir, "keys", "agent-keys.key") }),
      hubSshKeysService(),
      // SSH into workspaces, on the port after the web's.
      hubSshService({
        host: opts.bind,
        port: opts.port + 1,
        hostKeyFile: join(opts.dataDir, "keys", "ssh-host-ed25519"),
      }),
    ]);
    progress(`SSH into workspaces on port ${opts.port + 1} (ssh -p ${opts.port + 1} WSID@HOST)`);
    // Messages a damaged block made unreadable: looked for in the background once the
    // services run, and after every restart of nats-server (the hub's log says what was lost).
    void store.scrub();
    const scrubAfterRestart = () => void store.scrub();
    server.on("restarted", scrubAfterRestart);
    cleanups.push(async () => {
      server.off("restarted", scrubAfterRestart);
    });
    const memberships = await accountMemberships(nc);
    const membershipOf = await workspaceMembership(nc);
    // Members' browsers reach a workspace on its host once it is placed there.
    const stopPlacements = await followPlacements(
      nc,
      (placements) => auth.setPlacements(placements),
      log,
    );
    cleanups.push(stopPlacements);
    // A member removed or given another role loses the NATS logins that reached the workspace
    // at once (nats-server closes them); its pages mint again with what the account has now.
    const stopMemberships = await followMemberships(nc, (account, wsid) => {
      auth
        .revokeWorkspaceAccess(account, wsid)
        .then((n) => n > 0 && log.info({ account, wsid, keys: n }, "workspace access changed"))
        .catch((err) => log.warn({ err, account, wsid }, "NATS logins not revoked"));
    });
    cleanups.push(stopMemberships);
    // Browsers' readers: made by the hub, named and filtered for the browser that asks.
    const readers = startReaders({
      nc,
      accountOfKey: (key) => auth.accountOfKey(key),
      memberships,
      hubDomain: HUB_JS_DOMAIN,
      log: log.child({ component: "readers" }),
    });
    cleanups.push(() => readers.stop());

    // Hosts join (registry), beat, get workspaces placed and their commands routed (fleet).
    let fleet: Fleet | undefined;
    const hostsSee = advertisedHost(opts);
    const leafScheme = tls ? "tls" : "nats-leaf";
    const registry = await startRegistry({
      nc,
      js: jetstream(nc),
      jsm,
      log: log.child({ component: "registry" }),
      auth,
      natsUrl: `nats://${hostsSee}:${opts.port + 3}`,
      leafUrl: `${leafScheme}://${hostsSee}:${opts.port + 2}`,
      ...(pin && { tls: pin }),
      hubDomain: HUB_JS_DOMAIN,
      coresQuotas: async (accounts) => {
        if (accounts.length === 0) return {};
        if (!fleet) throw new CocalcError("ERR_HOST_JOIN", "the hub is still starting; join again");
        return fleet.coresQuotas(accounts);
      },
      dataDir: opts.dataDir,
      now: () => new Date(),
    });
    cleanups.push(() => registry.stop());
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

    // The first admin is made with a one-time link, as long as there is none.
    const config = await (await new Kvm(nc).open(HubBuckets.config)).get("config");
    const setUp =
      config && config.operation === "PUT" && config.length > 0
        ? config.json<HubConfigView>().setUp
        : false;
    let token: string | undefined;
    if (!setUp)
      token =
        (await setupToken(setupTokenFile(opts.dataDir))) ??
        (await newSetupToken(setupTokenFile(opts.dataDir)));

    const sessions = await BrowserSessions.open(browserSessionsFile(opts.dataDir), {
      idleMs: opts.sessionIdleMs ?? HUB_SESSION_IDLE_MS,
      lifetimeMs: opts.sessionLifetimeMs ?? HUB_SESSION_LIFETIME_MS,
    });
    cleanups.push(() => sessions.close());
    // A browser that signs out (or is signed out everywhere) loses its NATS logins at once,
    // not when their JWTs expire.
    sessions.onRevoke((_ids, gone) => {
      for (const s of gone)
        for (const key of s.natsKeys)
          void auth.revokeUser(key).catch((err) => log.warn({ err }, "NATS login not revoked"));
    });
    // A disabled or deleted account's browsers are signed out at once (and so lose their NATS
    // logins): every event of an account also reaches this core subscription.
    const accountEvents = nc.subscribe(HubSubjects.accounts, {
      callback: (err, m) => {
        if (err) return;
        try {
          const type = m.json<{ type?: string }>().type;
          if (type === "AccountDisabled" || type === "AccountDeleted")
            void sessions.revokeSubject(
              m.subject.split(".")[2]!,
              type === "AccountDisabled" ? "disabled" : "deleted",
            );
        } catch {
          // not an event: nothing to do
        }
      },
    });
    cleanups.push(async () => accountEvents.unsubscribe());
    const app = await buildHubApp({
      nc,
      sessions,
      proxyTokens: await ProxyTokens.open(join(opts.dataDir, "keys", "proxy-key")),
      ...(appsDomain !== undefined && { appsDomain }),
      appOrigin: (wsid, port) => {
        const seen = new URL(opts.publicUrl ?? `${tls ? "https" : "http"}://x:${opts.port}`);
        return `${seen.protocol}//${appHostName(wsid, port, appsDomain!)}${seen.port ? `:${seen.port}` : ""}`;
      },
      // The public URL's name is the hub's own (a reverse proxy in front keeps the Host).
      allowedHosts: allowedHostnames(opts.bind, [
        ...opts.allowHosts,
        ...(opts.publicUrl ? [new URL(opts.publicUrl).hostname] : []),
      ]),
      // Browsers reach it over HTTPS: its own, or a proxy's in front of --public-url https://….
      secureCookies: tls !== undefined || opts.publicUrl?.startsWith("https:") === true,
      trustedProxies: opts.trustProxies ?? [],
      webRoot: WEB_ROOT,
      natsWsPort: () => wsPort,
      natsWsOrigin: GATEWAY_ORIGIN,
      mintNats: async (account, publicKey, wsid) => {
        let of: Membership[];
        if (wsid !== undefined) {
          // A workspace's page: that workspace, on its host.
          const m = await membershipOf(account, wsid);
          if (!m) throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", `no workspace ${wsid} of yours`);
          of = [m];
        } else {
          // The dashboard: the hub's records of them, nothing on their hosts.
          of = (await memberships(account)).map(({ jsDomain: _d, ...m }) => m);
        }
        const login = await auth.mintUserJwt({
          userNkeyPublic: publicKey,
          accountId: account,
          memberships: of,
        });
        return {
          ...login,
          memberships: of.map((m) => ({
            wsid: m.wsid,
            role: m.role,
            ...(m.hostId !== undefined && { hostId: m.hostId }),
            ...(m.jsDomain !== undefined && { jsDomain: m.jsDomain }),
          })),
        };
      },
      membership: membershipOf,
      ...(tls && { tls: { cert: tls.cert, key: tls.key } }),
      health: () =>
        store.state.status === "full"
          ? { status: "degraded", reason: storeFullSummary(store.state) }
          : {
              status: supervisor.health().every((h) => h.status === "running") ? "ok" : "degraded",
            },
      log: log.child({ component: "gateway" }),
    });
    cleanups.push(() => app.close());
    await app.listen({ port: opts.port, host: opts.bind });
    // The hub's own host, when this machine can run workspaces (and it is not turned off).
    const here = opts.bind === "0.0.0.0" || opts.bind === "::" ? "127.0.0.1" : advertisedHost(opts);
    const localHost = await startLocalHost(
      opts,
      nc,
      {
        natsUrl: `nats://${here}:${opts.port + 3}`,
        leafUrl: `${leafScheme}://${leafNameHere(opts, tls)}:${opts.port + 2}`,
        tls: pin,
      },
      log,
      progress,
    );
    if (localHost) cleanups.push(() => localHost.stop());
    if (
      localHost &&
      opts.localHost !== false &&
      opts.localHost.firstImage === true &&
      opts.imagesDir !== undefined
    ) {
      await mkdir(opts.imagesDir, { recursive: true, mode: 0o755 });
      const first = startFirstImage({
        nc,
        hostId: localHost.hostId,
        hostRoot: localHost.root,
        imagesDir: opts.imagesDir,
        log: log.child({ component: "first-image" }),
        progress,
      });
      cleanups.push(() => first.stop());
    }
    const shownHost =
      opts.bind === "0.0.0.0" || opts.bind === "::"
        ? "127.0.0.1"
        : opts.bind.includes(":")
          ? `[${opts.bind}]`
          : opts.bind;
    const scheme = tls ? "https" : "http";
    const url = (opts.publicUrl ?? `${scheme}://${shownHost}:${opts.port}`).replace(/\/$/, "");
    const run: HubRunInfo = {
      pid: process.pid,
      natsUrl: server.url,
      url,
      ...(pin && { tls: pin }),
    };
    await writeSecretFile(hubRunFile(opts.dataDir), `${JSON.stringify(run)}\n`);
    cleanups.push(() => rm(hubRunFile(opts.dataDir), { force: true }));
    return {
      url: `${url}/`,
      ...(token !== undefined && { setupUrl: `${url}/setup?token=${token}` }),
      natsUrl: server.url,
      leafUrl: server.leafUrl,
      nc,
      ...(localHost && { localHostId: localHost.hostId }),
      ...(tls && { fingerprint: tls.fingerprint }),
      port: opts.port,
      sshPort: opts.port + 1,
      dataDir: opts.dataDir,
      stop: cleanups.undo,
    };
  } catch (err) {
    await cleanups.undo();
    throw err;
  }
}

/** Sends one registry command to the hub running on `dataDir`; its result. */
async function registryRequest<T>(dataDir: string, command: object, log: Logger): Promise<T> {
  const nc = await connectHub(dataDir, log);
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

/** Asks the running hub for a registration token and writes it to a new 0600 file. */
export async function issueHostToken(o: HubTokenOptions, log: Logger): Promise<HostTokenFile> {
  const token = await registryRequest<HostTokenFile>(
    o.dataDir,
    { type: "IssueHostToken", data: { hostId: o.hostId, ttlSeconds: o.ttlSeconds } },
    log,
  );
  const tmp = `${o.out}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(token, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  await rename(tmp, o.out);
  return token;
}

/** The hub's registration tokens (never their secrets). */
export function listHostTokens(dataDir: string, log: Logger): Promise<HostTokenInfo[]> {
  return registryRequest(dataDir, { type: "ListHostTokens", data: {} }, log);
}

/** Revokes a token: unused, it can no longer join; used, its host is cut off. */
export function revokeHostToken(
  dataDir: string,
  tokenId: string,
  log: Logger,
): Promise<HostTokenInfo> {
  return registryRequest(dataDir, { type: "RevokeHostToken", data: { tokenId } }, log);
}
