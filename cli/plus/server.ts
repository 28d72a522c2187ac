/**
 * Starts plus: lock, secrets, nats-server child, streams, services, gateway. Returns a
 * handle whose stop() undoes it all in reverse order.
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { agentsService } from "../../services/agents/index.js";
import { appsService } from "../../services/apps/index.js";
import { docsService } from "../../services/docs/index.js";
import { forwardsService } from "../../services/forwards/index.js";
import { fsService } from "../../services/fs/index.js";
import type { HealthInfo } from "../../services/gateway/app.js";
import { kernelsService, stopKernels } from "../../services/kernels/index.js";
import { remoteService } from "../../services/remote/index.js";
import { connectServices } from "../../services/runtime/connect.js";
import type { Logger } from "../../services/runtime/logger.js";
import {
  locateNatsServer,
  NatsServer,
  natsServerVersion,
  natsVersionFile,
  supportsSyncAlways,
} from "../../services/runtime/nats-server.js";
import { freePort } from "../../services/runtime/ports.js";
import type { ServiceDefinition } from "../../services/runtime/service.js";
import { StoreWatch, storeWatchOptionsFromEnv } from "../../services/runtime/store-watch.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { syncService, syncStateFile } from "../../services/sync/index.js";
import { stopPtyHost, terminalsService } from "../../services/terminals/index.js";
import { workspaceService } from "../../services/workspace/index.js";
import { browserPermissions } from "../../shared/browser-permissions.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { storeFullSummary } from "../../shared/health.js";
import { plusControlSubject, workspaceSubjects } from "../../shared/subjects.js";
import { ensureStreams, plusStreams } from "../../streams/index.js";
import { cleanupStack } from "../common/cleanups.js";
import { writeFileAtomic } from "../common/files.js";
import { acquireLock } from "../common/lock.js";
import {
  loadSecrets,
  loadWorkspaceId,
  newSecret,
  readTokenFile,
  seedFile,
  updateSecrets,
} from "../common/secrets.js";
import { PACKAGE_ROOT, VERSION } from "../common/version.js";
import type { StartOptions } from "./args.js";
import { removeNatsContext, writeNatsContext } from "./nats-context.js";
import { sessionTargetResolver } from "./sync-target.js";

/** Where a running plus can be reached by local tools (events tail): 0600, removed on stop. */
export interface RunInfo {
  pid: number;
  natsUrl: string;
  wsid: string;
  url: string;
}

export function runInfoFile(dataDir: string): string {
  return join(dataDir, "run.json");
}

/** What `cocalc-plus token` asks a running plus on plusControlSubject. */
export type PlusControlRequest = { type: "SignInUrl" } | { type: "RotateToken" };
export type PlusControlReply =
  | { ok: true; signInUrl: string }
  | { ok: false; error: { code: string; message: string } };

export interface PlusHandle {
  /** The URL without the token. */
  url: string;
  /** The URL with the token: what a person opens. */
  signInUrl: string;
  port: number;
  wsid: string;
  nats: NatsServer;
  nc: NatsConnection;
  supervisor: Supervisor;
  stop(): Promise<void>;
}

const BROWSER_USER = "browser";
/** nats-server accepts websocket connections only with this Origin: the gateway's. */
const GATEWAY_ORIGIN = "http://gateway.cocalc-plus.invalid";

/** The port plus last served on, which the next start takes again when it is free. */
export function lastPortFile(dataDir: string): string {
  return join(dataDir, "last-port");
}

/**
 * Listens on the port of the last start when no port was asked for and it is free, so that
 * open tabs find plus where they left it; else on the port asked for (0: a free one).
 */
async function listenReusing(
  app: { listen(o: { port: number; host: string }): Promise<string> },
  opts: StartOptions,
  log: Logger,
): Promise<void> {
  const last = opts.reusePort
    ? Number((await readFile(lastPortFile(opts.dataDir), "utf8").catch(() => "")).trim())
    : Number.NaN;
  if (Number.isInteger(last) && last > 0 && last <= 65535) {
    try {
      await app.listen({ port: last, host: opts.bind });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      log.info({ port: last }, "the port of the last start is taken; listening on another");
    }
  }
  await app.listen({ port: opts.port, host: opts.bind });
}

/** Where the terminals' pty host keeps its socket, pid file and log. */
export function terminalsDir(dataDir: string): string {
  return join(dataDir, "terminals");
}

/** Where the kernels' connection files (0600), process records and logs are kept. */
export function kernelsDir(dataDir: string): string {
  return join(dataDir, "kernels");
}

/** The token file written next to a connection-info file (FILE with .token for .json). */
export function connectionTokenFile(connectionInfo: string): string {
  return connectionInfo.endsWith(".json")
    ? `${connectionInfo.slice(0, -5)}.token`
    : `${connectionInfo}.token`;
}

/** The files outside the data directory that hold plus's secrets (kept from agents). */
export function secretFilesOf(opts: Pick<StartOptions, "connectionInfo" | "tokenFile">): string[] {
  return [
    ...(opts.connectionInfo ? [opts.connectionInfo, connectionTokenFile(opts.connectionInfo)] : []),
    ...(opts.tokenFile ? [opts.tokenFile] : []),
  ];
}

export function plusServices(
  opts: {
    dataDir: string;
    daemon: boolean;
    natsServer?: string;
    title?: string;
    secretFiles?: string[];
  } = {
    dataDir: ".",
    daemon: false,
  },
): ServiceDefinition[] {
  return [
    workspaceService(opts.title !== undefined ? { defaultTitle: opts.title } : {}),
    fsService(),
    docsService(),
    terminalsService({
      dir: terminalsDir(opts.dataDir),
      hostScript: join(PACKAGE_ROOT, "dist", "bundle", "pty-host.js"),
      // In daemon mode shells outlive plus (a restart reattaches); in the foreground, plus's
      // stop ends them, and a plus killed -9 leaves them a minute to be picked up again.
      orphanExitMs: opts.daemon ? 0 : 60_000,
    }),
    syncService({
      stateFile: syncStateFile(opts.dataDir),
      resolveTarget: sessionTargetResolver(opts.dataDir, VERSION),
    }),
    agentsService({
      dataDir: opts.dataDir,
      secretFiles: opts.secretFiles ?? [],
      // Agents installed with the package (codex-acp is a dependency) are found there too.
      binDirs: [join(PACKAGE_ROOT, "node_modules", ".bin")],
    }),
    remoteService({
      dataDir: opts.dataDir,
      ...(process.env.COCALC_REMOTE_RETRY_MS && {
        retryMs: Math.max(10, Number(process.env.COCALC_REMOTE_RETRY_MS) || 1000),
      }),
      bundle: {
        version: VERSION,
        root: PACKAGE_ROOT,
        ...(opts.natsServer !== undefined && { natsServer: opts.natsServer }),
      },
    }),
    forwardsService(),
    appsService(),
    // Kernels outlive the service (a restart reconnects); like terminals, plus's own stop ends
    // them unless it runs as a daemon.
    kernelsService({ dir: kernelsDir(opts.dataDir) }),
  ];
}

export async function startPlus(opts: StartOptions, log: Logger): Promise<PlusHandle> {
  const cleanups = cleanupStack(log);
  const undo = cleanups.undo;
  // Start-up phases at debug level: ms since the process started, and CPU ms it used so far.
  const phase = (name: string) => {
    const cpu = process.cpuUsage();
    const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
    log.debug({ ms: Math.round(performance.now()), cpuMs }, `start: ${name}`);
  };
  try {
    phase("begin");
    const binary = locateNatsServer(opts.natsServer);
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    // plus.ts asked already (on a new data dir: one `nats-server --version`); this waits for it.
    const version = natsServerVersion(binary, natsVersionFile(opts.dataDir));
    version.catch(() => undefined);
    cleanups.push(await acquireLock(opts.dataDir));

    const [secrets, wsid, natsPort, wsPort] = await Promise.all([
      loadSecrets(opts.dataDir),
      loadWorkspaceId(opts.dataDir),
      freePort(),
      freePort(),
    ]);
    let token = opts.tokenFile ? await readTokenFile(opts.tokenFile) : secrets.token;
    let browserPassword = secrets.browserPassword;
    const services = plusServices({
      dataDir: opts.dataDir,
      daemon: opts.daemon,
      natsServer: binary,
      ...(opts.title !== undefined && { title: opts.title }),
      secretFiles: secretFilesOf(opts),
    });

    const servicesNkey = secrets.servicesPublicKey;
    const nats = new NatsServer(
      {
        binary,
        dir: join(opts.dataDir, "nats"),
        port: natsPort,
        wsPort,
        servicesNkey,
        browser: {
          user: BROWSER_USER,
          password: browserPassword,
          permissions: browserPermissions(
            wsid,
            services.flatMap((s) => s.durables),
          ),
        },
        wsOrigin: GATEWAY_ORIGIN,
        syncAlways: supportsSyncAlways(await version),
      },
      log.child({ component: "nats-server" }),
    );
    phase("nats-server spawning");
    const { ready } = await nats.launch();
    cleanups.push(() => nats.stop());
    // The gateway's code (fastify and all) loads while nats-server starts, and is built while
    // nats-server makes the streams and the services start: CPU work here, next to waiting.
    const gatewayModule = import("./gateway.js");
    gatewayModule.catch(() => undefined);
    await ready;
    phase("nats-server ready");

    const nc = await connectServices(
      { url: nats.url, seed: secrets.servicesSeed, publicKey: secrets.servicesPublicKey },
      "cocalc-plus services",
    );
    cleanups.push(async () => {
      await nc.drain().catch(() => nc.close());
    });
    let natsConnected = true;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") natsConnected = false;
        if (s.type === "reconnect") natsConnected = true;
      }
    })();
    phase("connected");

    // A full disk under the data dir: noticed, told to the page, recovered from by itself.
    const storeNc = await connectServices(
      { url: nats.url, seed: secrets.servicesSeed, publicKey: secrets.servicesPublicKey },
      "cocalc-plus store watch",
    );
    cleanups.push(async () => {
      await storeNc.drain().catch(() => storeNc.close());
    });
    const store = new StoreWatch({
      dir: nats.config.dir,
      server: nats,
      nc: storeNc,
      connections: [nc],
      log: log.child({ component: "store" }),
      publishTo: [workspaceSubjects(wsid).storeFeed],
      answerOn: workspaceSubjects(wsid).storeRead,
      ...storeWatchOptionsFromEnv(),
    });
    store.start();
    cleanups.push(() => store.stop());

    // One plus per data dir: its services keep one health record each across restarts.
    const supervisor = new Supervisor({ nc, wsid, log, instance: "plus" });
    // Runs after the services stopped: in the foreground, stopping plus ends its terminals.
    if (!opts.daemon) cleanups.push(() => stopPtyHost(terminalsDir(opts.dataDir)));
    if (!opts.daemon)
      cleanups.push(() => stopKernels(kernelsDir(opts.dataDir)).then(() => undefined));
    cleanups.push(() => supervisor.stop());
    // The services start as soon as their streams are there; they mostly wait on NATS round
    // trips meanwhile, which the gateway's set-up (CPU) fills.
    const servicesUp = jetstreamManager(nc, { checkAPI: false })
      .then((jsm) => ensureStreams(jsm, plusStreams()))
      .then(() => {
        phase("streams ensured");
        return supervisor.start(services);
      })
      .then(() => phase("services started"));
    servicesUp.catch(() => undefined);
    // Signing every browser out also changes the browsers' NATS password: a browser (or
    // whoever it leaked to) that learnt the old one can no longer log in to nats-server.
    const signOutEverywhere = async () => {
      browserPassword = newSecret();
      await updateSecrets(opts.dataDir, { browserPassword });
      await nats.setBrowserPassword(browserPassword);
      log.info("every browser was signed out");
    };
    const { app, sessions } = await (await gatewayModule).buildPlusGateway({
      opts,
      nc,
      wsid,
      token: () => token,
      onSignOutEverywhere: signOutEverywhere,
      natsWsPort: () => nats.config.wsPort,
      natsWsOrigin: GATEWAY_ORIGIN,
      session: () => ({
        wsid,
        version: VERSION,
        ...(opts.title !== undefined && { title: opts.title }),
        ...(opts.remoteOf !== undefined && { remoteOf: opts.remoteOf }),
        natsPath: "/nats",
        nats: { user: BROWSER_USER, pass: browserPassword },
      }),
      health: (): HealthInfo => {
        if (store.state.status === "full")
          return { status: "degraded", reason: storeFullSummary(store.state) };
        const ok = natsConnected && supervisor.health().every((h) => h.status === "running");
        return { status: ok ? "ok" : "degraded" };
      },
      log,
    });
    cleanups.push(() => app.close());
    // Loads the plugins and compiles the routes' schemas: what listen() would do first.
    await app.ready();
    phase("gateway built");
    await servicesUp;
    // Messages a damaged block made unreadable: looked for once the services run, in the
    // background, and after every nats-server restart.
    void store.scrub();
    const scrubAfterRestart = () => void store.scrub();
    nats.on("restarted", scrubAfterRestart);
    cleanups.push(async () => {
      nats.off("restarted", scrubAfterRestart);
    });
    await listenReusing(app, opts, log);
    phase("gateway listening");
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : opts.port;
    // Open tabs reconnect by themselves after a restart that gets this port again.
    await writeFileAtomic(lastPortFile(opts.dataDir), `${port}\n`).catch((err) =>
      log.warn({ err }, "the port was not recorded for the next start"),
    );
    const shownHost =
      opts.bind === "0.0.0.0" || opts.bind === "::"
        ? "127.0.0.1"
        : opts.bind.includes(":")
          ? `[${opts.bind}]`
          : opts.bind;
    const url = `http://${shownHost}:${port}/`;
    const signInUrl = `${url}?token=${token}`;

    const rotateToken = async () => {
      if (opts.tokenFile)
        throw new CocalcError(
          "ERR_TOKEN_FILE",
          `this cocalc-plus reads its token from ${opts.tokenFile}: write a new token there and restart it`,
        );
      token = newSecret();
      await updateSecrets(opts.dataDir, { token });
      await sessions.revokeAll();
      await signOutEverywhere();
      log.info("the access token was rotated");
    };
    const control = nc.subscribe(plusControlSubject(wsid), {
      callback: (err, msg) => {
        if (err) return;
        void (async (): Promise<PlusControlReply> => {
          const req = JSON.parse(msg.string()) as PlusControlRequest;
          if (req.type === "RotateToken") await rotateToken();
          else if (req.type !== "SignInUrl")
            throw new CocalcError("ERR_CLI_USAGE", "unknown control request");
          return { ok: true, signInUrl: `${url}?token=${token}` };
        })()
          .catch((e): PlusControlReply => ({ ok: false, error: toErrorPayload(e) }))
          .then((reply) => msg.respond(JSON.stringify(reply)));
      },
    });
    cleanups.push(async () => control.unsubscribe());

    const runInfo: RunInfo = { pid: process.pid, natsUrl: nats.url, wsid, url };
    await writeFileAtomic(runInfoFile(opts.dataDir), `${JSON.stringify(runInfo, null, 2)}\n`);
    cleanups.push(() => rm(runInfoFile(opts.dataDir), { force: true }));
    await writeNatsContext(nats.url, seedFile(opts.dataDir)).then(
      () => cleanups.push(() => removeNatsContext(seedFile(opts.dataDir))),
      (err) => log.warn({ err }, "nats CLI context not written"),
    );

    if (opts.connectionInfo) {
      const tokenPath = connectionTokenFile(opts.connectionInfo);
      await writeFileAtomic(tokenPath, `${token}\n`, 0o600);
      const info = {
        url,
        port,
        pid: process.pid,
        version: VERSION,
        started: new Date().toISOString(),
        dataDir: opts.dataDir,
        tokenFile: tokenPath,
      };
      await writeFileAtomic(opts.connectionInfo, `${JSON.stringify(info, null, 2)}\n`, 0o600);
      const infoFile = opts.connectionInfo;
      cleanups.push(async () => {
        await rm(infoFile, { force: true });
        await rm(tokenPath, { force: true });
      });
    }

    // Stopping starts by telling the open pages, which then say "stopped", not "reconnecting".
    cleanups.push(async () => {
      nc.publish(workspaceSubjects(wsid).plusFeed, JSON.stringify({ type: "PlusStopping" }));
      await nc.flush().catch(() => undefined);
    });

    return {
      url,
      signInUrl,
      port,
      wsid,
      nats,
      nc,
      supervisor,
      stop: undo,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
