/**
 * The gateway: static web app, sign-in (token → browser credential), /api/session, /healthz
 * and the /nats WebSocket pipe. `buildApp` returns an app that is not listening; only main
 * listens.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../runtime/logger.js";
import { isProxiedPath, registerAppProxy } from "./app-proxy.js";
import type { ProxyTokens } from "./app-proxy-tokens.js";
import { authPlugin } from "./auth.js";
import { gatewayBase } from "./base.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { DOWNLOAD_PATH, type FilesOptions, filesPlugin } from "./files.js";
import { attachNatsProxy } from "./nats-proxy.js";
import { securityPlugin } from "./security.js";
import { lazyTypeBoxValidator } from "./validation.js";
import { registerWebApp } from "./web-app.js";

/** What the browser learns from /api/session. */
export interface SessionInfo {
  wsid: string;
  version: string;
  natsPath: string;
  nats: { user: string; pass: string };
  /** The window title (a remote session: its target). */
  title?: string;
}

/** What anyone who can reach the port may learn: whether plus is up, nothing more. */
export interface HealthInfo {
  status: "ok" | "degraded";
}

export interface GatewayDeps {
  /** The URL token of now (`cocalc-plus token --rotate` changes it). */
  token: () => string;
  sessions: BrowserSessions;
  /** After "sign out everywhere" (e.g. a new NATS password for browsers). */
  onSignOutEverywhere?: () => Promise<void>;
  allowedHosts: ReadonlySet<string>;
  /** Directory of the built web app (index.html + assets). */
  webRoot: string;
  natsWsPort: () => number;
  natsWsOrigin: string;
  session: () => SessionInfo;
  health: () => HealthInfo;
  log: Logger;
  /** Uploads and downloads (services/gateway/files.ts); without it those routes do not exist. */
  files?: FilesOptions;
  /** Proxied apps (`/port/<n>/`, services/gateway/app-proxy.ts); without it those routes do not exist. */
  appProxy?: { tokens: ProxyTokens };
}

export const NATS_PATH = "/nats";
/** GET routes that a signed link (a download, a new tab) may open. */
export const LINKABLE_PATHS = [DOWNLOAD_PATH, "/api/remote/open/"] as const;

export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = gatewayBase(deps.log);
  app.setValidatorCompiler(lazyTypeBoxValidator);

  await app.register(securityPlugin, { allowedHosts: deps.allowedHosts });
  await app.register(authPlugin, {
    token: deps.token,
    sessions: deps.sessions,
    publicPaths: new Set(["/healthz"]),
    linkable: LINKABLE_PATHS,
    ...(deps.onSignOutEverywhere && { onSignOutEverywhere: deps.onSignOutEverywhere }),
  });
  if (deps.files) await app.register(filesPlugin, deps.files);
  if (deps.appProxy) {
    await registerAppProxy(app, {
      tokens: deps.appProxy.tokens,
      sessions: deps.sessions,
      wsid: deps.session().wsid,
      allowedHosts: deps.allowedHosts,
      log: deps.log,
    });
  }

  app.get("/healthz", async (_req, reply) => {
    const h = deps.health();
    return reply
      .code(h.status === "ok" ? 200 : 503)
      .header("Cache-Control", "no-store")
      .send({ status: h.status });
  });

  app.get("/api/session", async (_req, reply) => {
    return reply
      .header("Cache-Control", "no-store")
      .send({ ...deps.session(), natsPath: NATS_PATH });
  });

  await registerWebApp(app, deps.webRoot);

  const detach = attachNatsProxy(app.server, {
    path: NATS_PATH,
    sessions: deps.sessions,
    allowedHosts: deps.allowedHosts,
    upstreamPort: deps.natsWsPort,
    upstreamOrigin: deps.natsWsOrigin,
    log: deps.log,
    ...(deps.appProxy && { others: isProxiedPath }),
  });
  // Before the server closes: it waits for every socket, the upgraded ones too.
  app.addHook("preClose", async () => detach());
  return app;
}
