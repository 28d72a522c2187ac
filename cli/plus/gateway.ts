/**
 * The gateway of plus (services/gateway: the web app, sign-in, uploads and downloads, the
 * /nats pipe, the remote sessions' open route), built for one start. server.ts imports
 * this module only once nats-server is spawned: loading fastify and the rest, like building
 * the app, is CPU work that happens while the server starts and makes the streams.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { FastifyInstance } from "fastify";
import { buildApp, type GatewayDeps } from "../../services/gateway/app.js";
import { ProxyTokens } from "../../services/gateway/app-proxy-tokens.js";
import { BrowserSessions } from "../../services/gateway/browser-sessions.js";
import { fileEventPublisher } from "../../services/gateway/files.js";
import { allowedHostnames } from "../../services/gateway/security.js";
import { openRemoteRoute } from "../../services/remote/index.js";
import type { Logger } from "../../services/runtime/logger.js";
import { PathResolver } from "../../services/runtime/paths.js";
import { UploadJournal } from "../../services/runtime/upload-journal.js";
import { browserSessionsFile } from "../common/secrets.js";
import { WEB_ROOT } from "../common/version.js";
import type { StartOptions } from "./args.js";

export interface PlusGatewayOptions
  extends Pick<GatewayDeps, "token" | "onSignOutEverywhere" | "natsWsPort" | "natsWsOrigin">,
    Pick<GatewayDeps, "session" | "health" | "log"> {
  opts: Pick<StartOptions, "dataDir" | "bind" | "allowHosts">;
  nc: NatsConnection;
  wsid: string;
}

export interface PlusGateway {
  app: FastifyInstance;
  sessions: BrowserSessions;
}

/** The gateway app, not listening yet, and the signed-in browsers it checks. */
export async function buildPlusGateway(o: PlusGatewayOptions): Promise<PlusGateway> {
  const { opts, log } = o;
  const [sessions, resolver, journal, proxyTokens] = await Promise.all([
    BrowserSessions.open(browserSessionsFile(opts.dataDir)),
    PathResolver.create({ home: homedir() }),
    openUploadJournal(join(opts.dataDir, "uploads"), log),
    ProxyTokens.open(join(opts.dataDir, "proxy-key")),
  ]);
  const filesLog = log.child({ component: "files" });
  const app = await buildApp({
    token: o.token,
    sessions,
    ...(o.onSignOutEverywhere && { onSignOutEverywhere: o.onSignOutEverywhere }),
    allowedHosts: allowedHostnames(opts.bind, opts.allowHosts),
    webRoot: WEB_ROOT,
    natsWsPort: o.natsWsPort,
    natsWsOrigin: o.natsWsOrigin,
    session: o.session,
    health: o.health,
    log: log.child({ component: "gateway" }),
    files: {
      resolver,
      journal,
      publish: fileEventPublisher(jetstream(o.nc), o.wsid, filesLog),
      log: filesLog,
    },
    appProxy: { tokens: proxyTokens },
  });
  openRemoteRoute(app, o.nc, opts.dataDir);
  return { app, sessions };
}

/** The upload journal, with what a previous run left half-uploaded removed. */
async function openUploadJournal(dir: string, log: Logger): Promise<UploadJournal> {
  const journal = await UploadJournal.open(dir);
  const removed = await journal.sweep();
  if (removed > 0) log.info({ removed }, "removed temp files of interrupted uploads");
  return journal;
}
