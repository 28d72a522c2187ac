/**
 * Starts plus: lock, secrets, nats-server child, streams, services, gateway. Returns a
 * handle whose stop() undoes it all in reverse order.
 */
import { mkdir, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { agentsService } from "../services/agents/index.js";
import { docsService } from "../services/docs/index.js";
import { forwardsService } from "../services/forwards/index.js";
import { fsService } from "../services/fs/index.js";
import { buildApp, type HealthInfo } from "../services/gateway/app.js";
import { BrowserSessions } from "../services/gateway/browser-sessions.js";
import { fileEventPublisher } from "../services/gateway/files.js";
import { allowedHostnames } from "../services/gateway/security.js";
import { UploadJournal } from "../services/gateway/upload-journal.js";
import { openRemoteRoute, remoteService } from "../services/remote/index.js";
import { connectServices } from "../services/runtime/connect.js";
import type { Logger } from "../services/runtime/logger.js";
import {
  locateNatsServer,
  NatsServer,
  natsServerVersion,
  supportsSyncAlways,
} from "../services/runtime/nats-server.js";
import { PathResolver } from "../services/runtime/paths.js";
import { freePort } from "../services/runtime/ports.js";
import type { ServiceDefinition } from "../services/runtime/service.js";
import { Supervisor } from "../services/runtime/supervisor.js";
import { syncService, syncStateFile } from "../services/sync/index.js";
import { stopPtyHost, terminalsService } from "../services/terminals/index.js";
import { workspaceService } from "../services/workspace/index.js";
import { browserPermissions } from "../shared/browser-permissions.js";
import { CocalcError, toErrorPayload } from "../shared/errors.js";
import { plusControlSubject } from "../shared/subjects.js";
import { ensureStreams } from "../streams/ensure.js";
import type { StartOptions } from "./args.js";
import { cleanupStack } from "./cleanups.js";
import { writeFileAtomic } from "./files.js";
import { acquireLock } from "./lock.js";
import { removeNatsContext, writeNatsContext } from "./nats-context.js";
import {
  browserSessionsFile,
  loadSecrets,
  loadWorkspaceId,
  newSecret,
  readTokenFile,
  seedFile,
  updateSecrets,
} from "./secrets.js";
import { sessionTargetResolver } from "./sync-target.js";
import { PACKAGE_ROOT, VERSION, WEB_ROOT } from "./version.js";

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

/** Where the terminals' pty host keeps its socket, pid file and log. */
export function terminalsDir(dataDir: string): string {
  return join(dataDir, "terminals");
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
      bundle: {
        version: VERSION,
        root: PACKAGE_ROOT,
        ...(opts.natsServer !== undefined && { natsServer: opts.natsServer }),
      },
    }),
    forwardsService(),
  ];
}

export async function startPlus(opts: StartOptions, log: Logger): Promise<PlusHandle> {
  const cleanups = cleanupStack(log);
  const undo = cleanups.undo;
  // Start-up phases at debug level, in ms since the process started.
  const phase = (name: string) =>
    log.debug({ ms: Math.round(performance.now()) }, `start: ${name}`);
  try {
    phase("begin");
    const binary = locateNatsServer(opts.natsServer);
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    cleanups.push(await acquireLock(opts.dataDir));

    const secrets = await loadSecrets(opts.dataDir);
    let token = opts.tokenFile ? await readTokenFile(opts.tokenFile) : secrets.token;
    let browserPassword = secrets.browserPassword;
    const sessions = await BrowserSessions.open(browserSessionsFile(opts.dataDir));
    const wsid = await loadWorkspaceId(opts.dataDir);
    const services = plusServices({
      dataDir: opts.dataDir,
      daemon: opts.daemon,
      natsServer: binary,
      ...(opts.title !== undefined && { title: opts.title }),
      secretFiles: secretFilesOf(opts),
    });

    const version = await natsServerVersion(binary, join(opts.dataDir, "nats-version.json"));
    const servicesNkey = secrets.servicesPublicKey;
    const nats = new NatsServer(
      {
        binary,
        dir: join(opts.dataDir, "nats"),
        port: await freePort(),
        wsPort: await freePort(),
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
        syncAlways: supportsSyncAlways(version),
      },
      log.child({ component: "nats-server" }),
    );
    phase("nats-server spawning");
    await nats.start();
    phase("nats-server ready");
    cleanups.push(() => nats.stop());

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
    await ensureStreams(await jetstreamManager(nc));
    phase("streams ensured");

    // One plus per data dir: its services keep one health record each across restarts.
    const supervisor = new Supervisor({ nc, wsid, log, instance: "plus" });
    // Runs after the services stopped: in the foreground, stopping plus ends its terminals.
    if (!opts.daemon) cleanups.push(() => stopPtyHost(terminalsDir(opts.dataDir)));
    cleanups.push(() => supervisor.stop());
    // The services mostly wait on NATS round trips while they start; the gateway's set-up is
    // CPU work, so both go at once. It listens only once every service runs.
    const starting = supervisor.start(services).then(() => phase("services started"));
    // Signing every browser out also changes the browsers' NATS password: a browser (or
    // whoever it leaked to) that learnt the old one can no longer log in to nats-server.
    const signOutEverywhere = async () => {
      browserPassword = newSecret();
      await updateSecrets(opts.dataDir, { browserPassword });
      await nats.setBrowserPassword(browserPassword);
      log.info("every browser was signed out");
    };
    const [app] = await Promise.all([
      buildApp({
        token: () => token,
        sessions,
        onSignOutEverywhere: signOutEverywhere,
        allowedHosts: allowedHostnames(opts.bind, opts.allowHosts),
        webRoot: WEB_ROOT,
        natsWsPort: () => nats.config.wsPort,
        natsWsOrigin: GATEWAY_ORIGIN,
        session: () => ({
          wsid,
          version: VERSION,
          ...(opts.title !== undefined && { title: opts.title }),
          natsPath: "/nats",
          nats: { user: BROWSER_USER, pass: browserPassword },
        }),
        health: (): HealthInfo => {
          const ok = natsConnected && supervisor.health().every((h) => h.status === "running");
          return { status: ok ? "ok" : "degraded" };
        },
        log: log.child({ component: "gateway" }),
        files: {
          resolver: await PathResolver.create({ home: homedir() }),
          journal: await openUploadJournal(join(opts.dataDir, "uploads"), log),
          publish: fileEventPublisher(jetstream(nc), wsid, log.child({ component: "files" })),
          log: log.child({ component: "files" }),
        },
      }),
      starting,
    ]);
    cleanups.push(() => app.close());
    openRemoteRoute(app, nc, opts.dataDir);
    await app.listen({ port: opts.port, host: opts.bind });
    phase("gateway listening");
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : opts.port;
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

/** The upload journal, with what a previous run left half-uploaded removed. */
async function openUploadJournal(dir: string, log: Logger): Promise<UploadJournal> {
  const journal = await UploadJournal.open(dir);
  const removed = await journal.sweep();
  if (removed > 0) log.info({ removed }, "removed temp files of interrupted uploads");
  return journal;
}
