/**
 * `cocalc-launchpad` (or `cocalc-launchpad hub`): the hub people sign in to. Its nats-server
 * runs in operator mode (browsers get short-lived user JWTs for their own nkeys, minted
 * without a reload), the accounts service keeps who may sign in, and the gateway serves the
 * web app, sign-in and the browsers' NATS WebSocket. On the first run it prints a one-time
 * setup link that makes the first admin.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { jwtAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BrowserSessions } from "../services/gateway/browser-sessions.js";
import { buildHubApp } from "../services/gateway/hub-app.js";
import { allowedHostnames } from "../services/gateway/security.js";
import {
  HUB_ACCOUNTS_SERVICE,
  hubAccountsService,
  newSetupToken,
  setupToken,
} from "../services/hub/accounts.js";
import { HubNatsAuth, startHubNatsServer } from "../services/hub/index.js";
import type { Logger } from "../services/runtime/logger.js";
import { locateNatsServer } from "../services/runtime/nats-server.js";
import { freePort } from "../services/runtime/ports.js";
import { writeSecretFile } from "../services/runtime/secret-file.js";
import { Supervisor } from "../services/runtime/supervisor.js";
import { HUB_JS_DOMAIN, HubBuckets, type HubConfigView, HubSubjects } from "../shared/hub.js";
import { hubStreams } from "../streams/definitions.js";
import { ensureStreams } from "../streams/ensure.js";
import { cleanupStack } from "./cleanups.js";
import type { HubOptions } from "./launchpad-args.js";
import { acquireLock } from "./lock.js";
import { browserSessionsFile } from "./secrets.js";
import { hubTls } from "./tls.js";
import { WEB_ROOT } from "./version.js";

/** nats-server accepts websocket connections only with this Origin: the gateway's. */
const GATEWAY_ORIGIN = "http://gateway.cocalc-hub.invalid";

export interface RunningHub {
  url: string;
  /** The one-time link that makes the first admin, while the hub has none. */
  setupUrl?: string;
  natsUrl: string;
  leafUrl: string;
  /** The certificate's SHA-256 fingerprint when serving HTTPS. */
  fingerprint?: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** Where a running hub says how its console commands reach it (0600, removed on stop). */
export function hubRunFile(dataDir: string): string {
  return join(dataDir, "run.json");
}

export interface HubRunInfo {
  pid: number;
  natsUrl: string;
}

export function setupTokenFile(dataDir: string): string {
  return join(dataDir, "setup-token");
}

/** A JWT login to the hub's nats-server; the hub's own connections reconnect for ever. */
async function login(url: string, jwt: string, seed: Uint8Array, name: string, reconnect = true) {
  return connect({
    servers: url,
    authenticator: jwtAuthenticator(jwt, seed),
    name,
    ...(reconnect ? { maxReconnectAttempts: -1, reconnectTimeWait: 250 } : { reconnect: false }),
  });
}

export async function startHub(
  opts: HubOptions,
  log: Logger,
  progress: (line: string) => void,
): Promise<RunningHub> {
  const cleanups = cleanupStack(log);
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    cleanups.push(await acquireLock(opts.dataDir));
    await mkdir(join(opts.dataDir, "keys"), { recursive: true, mode: 0o700 });
    const auth = await HubNatsAuth.open({
      dir: join(opts.dataDir, "keys"),
      hubDomain: HUB_JS_DOMAIN,
      durables: [HUB_ACCOUNTS_SERVICE],
      log: log.child({ component: "nats-auth" }),
    });
    const operatorJwtFile = join(opts.dataDir, "keys", "operator.jwt");
    await writeSecretFile(operatorJwtFile, await auth.operatorJwt());
    const wsPort = await freePort();
    const server = await startHubNatsServer(
      locateNatsServer(),
      {
        dir: join(opts.dataDir, "nats"),
        serverName: "cocalc_hub",
        host: "127.0.0.1",
        port: await freePort(),
        websocket: { host: "127.0.0.1", port: wsPort, allowedOrigins: [GATEWAY_ORIGIN] },
        leaf: { host: opts.bind, port: opts.port + 2 },
        jetstreamDomain: HUB_JS_DOMAIN,
        operatorJwtFile,
        systemAccount: auth.systemAccountPublicKey,
        preload: await auth.preload(),
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
    const system = await login(server.url, sys.jwt, sys.seed, "cocalc-hub system");
    conns.push(system);
    auth.attach(system);
    const svc = await auth.servicesCredentials();
    const nc = await login(server.url, svc.jwt, svc.seed, "cocalc-hub services");
    conns.push(nc);
    await ensureStreams(await jetstreamManager(nc), hubStreams());

    const supervisor = new Supervisor({ nc, wsid: "hub", log, instance: "hub" });
    cleanups.push(() => supervisor.stop());
    await supervisor.start([hubAccountsService({ setupTokenFile: setupTokenFile(opts.dataDir) })]);

    // The first admin is made with a one-time link, as long as there is none.
    const { Kvm } = await import("@nats-io/kv");
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

    const loopback = ["127.0.0.1", "localhost", "::1"].includes(opts.bind);
    const tls =
      loopback && !opts.cert
        ? undefined
        : await hubTls(opts.dataDir, { cert: opts.cert, key: opts.key }, [
            opts.bind,
            ...opts.allowHosts,
          ]);
    if (tls)
      progress(
        `HTTPS with ${tls.selfSigned ? "a self-signed certificate" : opts.cert}, SHA-256 ${tls.fingerprint}`,
      );
    const sessions = await BrowserSessions.open(browserSessionsFile(opts.dataDir));
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
            void sessions.revokeSubject(m.subject.split(".")[2]!);
        } catch {
          // not an event: nothing to do
        }
      },
    });
    cleanups.push(async () => accountEvents.unsubscribe());
    const app = await buildHubApp({
      nc,
      sessions,
      allowedHosts: allowedHostnames(opts.bind, opts.allowHosts),
      webRoot: WEB_ROOT,
      natsWsPort: () => wsPort,
      natsWsOrigin: GATEWAY_ORIGIN,
      mintNats: (account, publicKey) =>
        auth.mintUserJwt({ userNkeyPublic: publicKey, accountId: account, memberships: [] }),
      ...(tls && { tls: { cert: tls.cert, key: tls.key } }),
      health: () => ({
        status: supervisor.health().every((h) => h.status === "running") ? "ok" : "degraded",
      }),
      log: log.child({ component: "gateway" }),
    });
    cleanups.push(() => app.close());
    await app.listen({ port: opts.port, host: opts.bind });
    const run: HubRunInfo = { pid: process.pid, natsUrl: server.url };
    await writeSecretFile(hubRunFile(opts.dataDir), `${JSON.stringify(run)}\n`);
    cleanups.push(() => rm(hubRunFile(opts.dataDir), { force: true }));
    const shownHost =
      opts.bind === "0.0.0.0" || opts.bind === "::"
        ? "127.0.0.1"
        : opts.bind.includes(":")
          ? `[${opts.bind}]`
          : opts.bind;
    const scheme = tls ? "https" : "http";
    const url = (opts.publicUrl ?? `${scheme}://${shownHost}:${opts.port}`).replace(/\/$/, "");
    return {
      url: `${url}/`,
      ...(token !== undefined && { setupUrl: `${url}/setup?token=${token}` }),
      natsUrl: server.url,
      leafUrl: server.leafUrl,
      ...(tls && { fingerprint: tls.fingerprint }),
      port: opts.port,
      dataDir: opts.dataDir,
      stop: cleanups.undo,
    };
  } catch (err) {
    await cleanups.undo();
    throw err;
  }
}

/** The hub's services connection, for console commands: its keys and run file in `dataDir`. */
export async function connectHub(dataDir: string, log: Logger): Promise<NatsConnection> {
  const { readFile } = await import("node:fs/promises");
  let run: HubRunInfo;
  try {
    run = JSON.parse(await readFile(hubRunFile(dataDir), "utf8")) as HubRunInfo;
  } catch {
    throw new Error(
      `no hub is running on ${dataDir} (start it with cocalc-launchpad, or pass --data-dir)`,
    );
  }
  const auth = await HubNatsAuth.open({
    dir: join(dataDir, "keys"),
    hubDomain: HUB_JS_DOMAIN,
    log,
  });
  const svc = await auth.servicesCredentials();
  try {
    return await login(run.natsUrl, svc.jwt, svc.seed, "cocalc-launchpad console", false);
  } catch (err) {
    throw new Error(`the hub on ${dataDir} did not answer: ${(err as Error).message}`);
  }
}
