/**
 * The gateway: static web app, sign-in (token → browser credential), /api/session, /healthz
 * and the /nats WebSocket pipe. `buildApp` returns an app that is not listening; only main
 * listens.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fastifyStatic from "@fastify/static";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import { CocalcError, ErrorCodes, toErrorPayload } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import { authPlugin } from "./auth.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { DOWNLOAD_PATH, type FilesOptions, filesPlugin } from "./files.js";
import { attachNatsProxy } from "./nats-proxy.js";
import { contentSecurityPolicy, securityPlugin } from "./security.js";

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
}

export const NATS_PATH = "/nats";
/** GET routes that a signed link (a download, a new tab) may open. */
export const LINKABLE_PATHS = [DOWNLOAD_PATH, "/api/remote/open/"] as const;

export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    bodyLimit: 1024 * 1024,
  });

  app.setErrorHandler((err, request, reply) => {
    const payload = toErrorPayload(err);
    if (err instanceof CocalcError) return reply.code(err.status).send(payload);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500)
      return reply.code(status).send({ code: "ERR_INTERNAL", message: (err as Error).message });
    request.log.error({ err }, "request failed");
    return reply.code(500).send(payload);
  });

  await app.register(securityPlugin, { allowedHosts: deps.allowedHosts });
  await app.register(authPlugin, {
    token: deps.token,
    sessions: deps.sessions,
    publicPaths: new Set(["/healthz"]),
    linkable: LINKABLE_PATHS,
    ...(deps.onSignOutEverywhere && { onSignOutEverywhere: deps.onSignOutEverywhere }),
  });
  if (deps.files) await app.register(filesPlugin, deps.files);

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

  const index = join(deps.webRoot, "index.html");
  const page = existsSync(index) ? await appPage(index) : undefined;
  if (page) {
    await app.register(fastifyStatic, {
      root: deps.webRoot,
      wildcard: false,
      index: false,
      // The page itself always comes with its nonce (below).
      allowedPath: (path) => path !== "/index.html",
    });
  }
  const sendPage = (reply: FastifyReply) => {
    const { html, nonce } = page!.render();
    return reply
      .header("Cache-Control", "no-cache")
      .header("Content-Security-Policy", contentSecurityPolicy(nonce))
      .type("text/html; charset=utf-8")
      .send(html);
  };
  if (page) app.get("/", (_req, reply) => sendPage(reply));

  app.setNotFoundHandler((request, reply) => {
    const wantsPage = request.method === "GET" && !request.url.startsWith("/api/");
    // Client-side routes (deep links) all load the app.
    if (wantsPage && page) return sendPage(reply);
    if (wantsPage) {
      return reply
        .code(503)
        .type("text/plain")
        .send("The web app is not built: run `npm run build`.");
    }
    const err = new CocalcError(
      "ERR_GATEWAY_NOT_FOUND",
      `no route ${request.method} ${request.url.split("?")[0]}`,
    );
    return reply.code(ErrorCodes.ERR_GATEWAY_NOT_FOUND.status).send(toErrorPayload(err));
  });

  const detach = attachNatsProxy(app.server, {
    path: NATS_PATH,
    sessions: deps.sessions,
    allowedHosts: deps.allowedHosts,
    upstreamPort: deps.natsWsPort,
    upstreamOrigin: deps.natsWsOrigin,
    log: deps.log,
  });
  app.addHook("onClose", async () => detach());
  return app;
}

/** The page's meta tag that hands the nonce of this response to the page's script. */
export const NONCE_META = "cocalc-style-nonce";

/** index.html, read once, with a fresh style nonce in every copy sent. */
async function appPage(file: string): Promise<{ render(): { html: string; nonce: string } }> {
  const text = await readFile(file, "utf8");
  const at = text.indexOf("</head>");
  if (at === -1) throw new Error(`${file} has no </head>`);
  return {
    render() {
      const nonce = randomBytes(18).toString("base64");
      const meta = `<meta name="${NONCE_META}" content="${nonce}">\n`;
      return { html: `${text.slice(0, at)}${meta}${text.slice(at)}`, nonce };
    },
  };
}
