/**
 * The hub's gateway: the web app (as the hub: setup, sign-in, sign-up, dashboard), account
 * sign-in (hub-auth.ts), a hosted workspace's uploads and downloads (hub-files.ts), its apps
 * (`/ws/<wsid>/port/<n>/`, hub-app-proxy.ts), a browser's NATS login (a short-lived user JWT for the page's own
 * nkey), /healthz and the /nats WebSocket pipe. Not listening: only the hub's main listens.
 */
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { CocalcError } from "../../shared/errors.js";
import type { Membership } from "../../shared/hub-permissions.js";
import type { Logger } from "../runtime/logger.js";
import type { HealthInfo } from "./app.js";
import type { ProxyTokens } from "./app-proxy-tokens.js";
import { authPlugin } from "./auth.js";
import { gatewayBase } from "./base.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { hubAdminPlugin } from "./hub-admin.js";
import { hubAdminHostsPlugin } from "./hub-admin-hosts.js";
import { hubAgentKeysPlugin } from "./hub-agent-keys.js";
import { appOfHost, hubProxiedWorkspace, registerHubAppProxy } from "./hub-app-proxy.js";
import { HUB_PUBLIC_PATHS, hubAuthPlugin } from "./hub-auth.js";
import { HUB_DOWNLOAD_LINK, hubFilesPlugin } from "./hub-files.js";
import { hubSshKeysPlugin } from "./hub-ssh-keys.js";
import { hubWorkspacesPlugin } from "./hub-workspaces.js";
import { attachNatsProxy } from "./nats-proxy.js";
import { securityPlugin } from "./security.js";
import { PRODUCT_META, registerWebApp } from "./web-app.js";

export const HUB_NATS_PATH = "/api/hub/nats";

/** A browser's NATS login, as the hub mints it. */
export interface BrowserNatsLogin {
  jwt: string;
  inboxPrefix: string;
  /** Unix seconds: the page asks again before. */
  expiresAt: number;
  /**
   * The workspaces the JWT reaches, with the account's role and, once placed, the host and its
   * JetStream domain: the page asks again when they change.
   */
  memberships: { wsid: string; role: string; hostId?: string; jsDomain?: string }[];
}

export interface HubGatewayDeps {
  nc: import("@nats-io/nats-core").NatsConnection;
  sessions: BrowserSessions;
  allowedHosts: ReadonlySet<string>;
  webRoot: string;
  natsWsPort: () => number;
  natsWsOrigin: string;
  /**
   * Mints a user JWT for `publicKey` (the page's nkey) with what `account` may reach: all its
   * workspaces (the dashboard), or only `wsid` (a workspace's page; ERR_WORKSPACE_NOT_FOUND
   * when the account is not one of its members).
   */
  mintNats(account: string, publicKey: string, wsid?: string): Promise<BrowserNatsLogin>;
  /** The account's membership of workspace `wsid` (role, host), or undefined. */
  membership(account: string, wsid: string): Promise<Membership | undefined>;
  health(): HealthInfo;
  /** The key of workspace apps' links and cookies. */
  proxyTokens: ProxyTokens;
  /** Workspace apps' own origins are `p<port>-<wsid>.<appsDomain>`; undefined: no apps. */
  appsDomain?: string;
  /** An app's origin as browsers reach it. */
  appOrigin(wsid: string, port: number): string;
  /** Serve HTTPS with this certificate (the hub off loopback). */
  tls?: { cert: string; key: string };
  /**
   * Browsers reach the hub over HTTPS (its own, or a proxy's in front of it): its cookies are
   * `Secure`. Default: whether it serves HTTPS itself.
   */
  secureCookies?: boolean;
  /**
   * Reverse proxies in front of the hub (addresses or CIDR ranges): their X-Forwarded-For is
   * the client's address, which sign-in and sign-up slow guessing by.
   */
  trustedProxies?: readonly string[];
  log: Logger;
}

const NatsBody = Type.Object({
  publicKey: Type.String({ pattern: "^U[A-Z2-7]{55}$" }),
  wsid: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
});

export async function buildHubApp(deps: HubGatewayDeps): Promise<FastifyInstance> {
  const app = gatewayBase(deps.log, deps.tls, deps.trustedProxies);
  if (deps.tls)
    app.addHook("onRequest", async (_request, reply) => {
      reply.header("Strict-Transport-Security", "max-age=31536000");
    });

  await app.register(securityPlugin, { allowedHosts: deps.allowedHosts });
  await app.register(authPlugin, {
    sessions: deps.sessions,
    publicPaths: new Set([...HUB_PUBLIC_PATHS, "/healthz"]),
    linkable: [HUB_DOWNLOAD_LINK],
  });
  await app.register(hubAuthPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubWorkspacesPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubAgentKeysPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubSshKeysPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubAdminPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubAdminHostsPlugin, { nc: deps.nc, sessions: deps.sessions });
  await app.register(hubFilesPlugin, {
    nc: deps.nc,
    sessions: deps.sessions,
    membership: deps.membership,
    log: deps.log,
  });

  app.get("/healthz", async (_req, reply) => {
    const h = deps.health();
    return reply
      .code(h.status === "ok" ? 200 : 503)
      .header("Cache-Control", "no-store")
      .send({ status: h.status, ...(h.reason !== undefined && { reason: h.reason }) });
  });

  app.post<{ Body: Static<typeof NatsBody> }>(
    HUB_NATS_PATH,
    { schema: { body: NatsBody } },
    async (request, reply) => {
      const account = deps.sessions.subjectOf(request.browserSession!);
      if (account === undefined)
        throw new CocalcError("ERR_GATEWAY_AUTH", "not signed in to an account");
      await deps.sessions.attachNatsKey(request.browserSession!, request.body.publicKey);
      const login = await deps.mintNats(account, request.body.publicKey, request.body.wsid);
      return reply.header("Cache-Control", "no-store").send({ ...login, natsPath: "/nats" });
    },
  );

  await registerHubAppProxy(app, {
    nc: deps.nc,
    sessions: deps.sessions,
    tokens: deps.proxyTokens,
    membership: deps.membership,
    allowedHosts: deps.allowedHosts,
    ...(deps.appsDomain !== undefined && { appsDomain: deps.appsDomain }),
    appOrigin: deps.appOrigin,
    secure: deps.secureCookies ?? deps.tls !== undefined,
    log: deps.log,
  });

  await registerWebApp(app, deps.webRoot, { [PRODUCT_META]: "hub" });

  const detach = attachNatsProxy(app.server, {
    path: "/nats",
    sessions: deps.sessions,
    allowedHosts: deps.allowedHosts,
    upstreamPort: deps.natsWsPort,
    upstreamOrigin: deps.natsWsOrigin,
    others: (path, req) =>
      hubProxiedWorkspace(path) !== undefined ||
      appOfHost(req.headers.host, deps.appsDomain) !== undefined,
    log: deps.log,
  });
  // Before the server closes: it waits for every connection, and a proxied NATS WebSocket
  // (an open tab) never ends by itself.
  app.addHook("preClose", async () => detach());
  return app;
}
