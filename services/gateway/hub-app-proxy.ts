/**
 * Proxied apps of launchpad: `p<n>-<wsid>.<apps domain>` (an origin of the app's own, on the
 * hub's port) reaches port n inside the workspace's container; the path is the app's, so an
 * app needs no base path. An app's pages never share an origin with the hub's pages or with
 * another app: a collaborator's app cannot read the credential a member's dashboard keeps in
 * its origin's storage, nor fetch another workspace's app with that browser's cookie for it.
 * `/ws/<wsid>/port/<n>/…` on the hub is sent there. Each upstream connection is one byte pipe
 * over NATS to the workspace's host Each upstream connection is one byte pipe over NATS to the
 * workspace's host (services/runtime/workspace-pipe.ts, `kind: "tcp"`: the host relays to the port
 * in the container's network namespace), so hosts open no port. HTTP/1.1 goes over the pipe
 * with node's http client (the pipe is its socket); a WebSocket upgrade is written to the pipe
 * and the two raw streams are joined.
 *
 * Who may pass is plus's rule (app-proxy-request.ts: a short-lived signed link token,
 * exchanged for a host-only HttpOnly SameSite=Strict cookie, a cookie counting only from the
 * app's own origin), and then, on every request, the account's role now: owners and
 * collaborators reach apps, viewers do not (ERR_HUB_FORBIDDEN), others do not know the
 * workspace (ERR_WORKSPACE_NOT_FOUND). Roles are looked up at most a few seconds old, so a
 * removed member's link and cookie stop working, and their open WebSockets close; signing out
 * closes them at once.
 * `POST /api/hub/proxy/token` makes links.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { CocalcError } from "../../shared/errors.js";
import type { Membership } from "../../shared/hub-permissions.js";
import { WorkspaceRoles } from "../../shared/hub-permissions.js";
import {
  APP_PROXY_ACTOR,
  type HubWorkspaceReply,
  HubWorkspaceSubjects,
} from "../../shared/hub-workspaces.js";
import type { Logger } from "../runtime/logger.js";
import { openWorkspacePipe } from "../runtime/workspace-pipe.js";
import { refuseSocket, sendError, sendExchange, upgradeHead } from "./app-proxy.js";
import {
  authorizeProxied,
  cookieValue,
  downstreamHeaders,
  type ProxyAuthContext,
  type ProxyDecision,
  type ProxyTarget,
  proxyTarget,
  upstreamHeaders,
} from "./app-proxy-request.js";
import {
  PROXY_COOKIE_TTL_S,
  PROXY_TOKEN_MAX_TTL_S,
  PROXY_TOKEN_TTL_S,
  type ProxyTokens,
} from "./app-proxy-tokens.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";
import { HUB_WORKSPACES_PATH } from "./hub-workspaces.js";
import { checkHost, checkOrigin, hostnameOf } from "./security.js";

/** A workspace's app: a port inside its container. */
interface App {
  wsid: string;
  port: number;
}

/** Who may pass, and where the bytes go: a member's or a public link's. */
type Decision =
  | Exclude<ProxyDecision, { kind: "pass" }>
  | {
      kind: "pass";
      target: ProxyTarget;
      upstreamUrl: string;
      to: { wsid: string; hostId?: string };
      member?: { session: string; account: string };
      share?: string;
    };

/** `?share=<secret>`: a port's public link (ShareHubPort). */
const SHARE_PARAM = "share";
/** The cookie a public link is exchanged for (its prefix keeps it from the app, like ours). */
const shareCookieName = (port: number) => `cocalc-app-share-p${port}`;

export const HUB_PROXY_TOKEN_PATH = "/api/hub/proxy/token";
/** How old a role may be when a request is let through (a removed member's cookie then ends). */
const ROLE_CACHE_MS = 3000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const PROXIED = /^\/ws\/([A-Za-z0-9_-]{1,64})\/port\//;
/** `p<port>-<wsid>.`: one DNS label (the hub's wsids are `w` and hex digits). */
const APP_HOST = /^p([1-9][0-9]{0,4})-([a-z0-9]{1,48})\.(.+)$/;

/** The workspace a path of the hub's own origin names an app of, or undefined. */
export function hubProxiedWorkspace(pathname: string): string | undefined {
  return PROXIED.exec(pathname)?.[1];
}

/** The host name of workspace `wsid`'s app on `port`: its own origin under `domain`. */
export function appHostName(wsid: string, port: number, domain: string): string {
  return `p${port}-${wsid}.${domain}`;
}

/** The app a Host header names under `domain`, or undefined when it names none. */
export function appOfHost(
  host: string | undefined,
  domain: string | undefined,
): { wsid: string; port: number } | undefined {
  if (!host || !domain) return undefined;
  const m = APP_HOST.exec(hostnameOf(host));
  if (!m || m[3] !== domain.toLowerCase() || Number(m[1]) > 65535) return undefined;
  return { wsid: m[2]!, port: Number(m[1]) };
}

export interface HubAppProxyOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
  tokens: ProxyTokens;
  membership(account: string, wsid: string): Promise<Membership | undefined>;
  allowedHosts: ReadonlySet<string>;
  /**
   * The domain apps get their own origins under (`p<n>-<wsid>.<domain>`: a wildcard DNS name
   * for the hub); undefined: the hub serves no apps.
   */
  appsDomain?: string;
  /** An app's origin as browsers reach it (scheme, host, the hub's port). */
  appOrigin(wsid: string, port: number): string;
  /** The hub serves HTTPS: its app cookies are `Secure`. */
  secure: boolean;
  log: Logger;
}

const TokenBody = Type.Object({
  wsid: Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  ttl: Type.Optional(Type.Integer({ minimum: 10, maximum: PROXY_TOKEN_MAX_TTL_S })),
});

/** Registers the token route, the proxied paths and their upgrade handler on `app`. */
export async function registerHubAppProxy(
  app: FastifyInstance,
  o: HubAppProxyOptions,
): Promise<void> {
  const log = o.log.child({ component: "hub-app-proxy" });
  const roles = new Map<string, { at: number; m: Promise<Membership | undefined> }>();
  /** The account's membership of `wsid`, at most ROLE_CACHE_MS old. */
  const member = (account: string, wsid: string) => {
    const key = `${account}.${wsid}`;
    const kept = roles.get(key);
    if (kept && Date.now() - kept.at < ROLE_CACHE_MS) return kept.m;
    if (roles.size > 10_000) roles.clear();
    const m = o.membership(account, wsid);
    roles.set(key, { at: Date.now(), m });
    m.catch(() => roles.delete(key));
    return m;
  };
  /** The membership if the account may reach the workspace's apps; else why not. */
  const mayReach = async (account: string, wsid: string): Promise<Membership> => {
    const m = await member(account, wsid);
    if (!m) throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", `no workspace ${wsid} of yours`);
    if (m.role === WorkspaceRoles.viewer)
      throw new CocalcError(
        "ERR_HUB_FORBIDDEN",
        "a viewer of this workspace cannot reach its apps: ask its owner to make you a collaborator",
      );
    return m;
  };
  const ctxOf = (app: App): ProxyAuthContext => ({
    tokens: o.tokens,
    wsid: app.wsid,
    signedIn: (id) => o.sessions.has(id),
    userOf: (id) => o.sessions.subjectOf(id) ?? "",
    refusedPorts: new Set(),
    target: { port: app.port, base: "/", strip: false },
    opener: "the workspace's page (Apps)",
    secure: o.secure,
  });
  const off = () =>
    new CocalcError(
      "ERR_PROXY_OFF",
      "This hub serves no workspace apps: start it with --apps-domain DOMAIN (a wildcard DNS name *.DOMAIN for the hub, and a certificate for it).",
    );
  /** Where an app is, as a link: its origin and what follows (path and query). */
  const appUrl = (app: App, rest: string) => {
    if (o.appsDomain === undefined) throw off();
    return `${o.appOrigin(app.wsid, app.port)}${rest}`;
  };
  /** A refusal as it is; anything else as the app not reached (and logged). */
  const failure = (err: unknown): CocalcError => {
    if (err instanceof CocalcError) return err;
    log.error({ err }, "hub app proxy failed");
    return new CocalcError("ERR_PROXY_UPSTREAM", "the workspace's app could not be reached");
  };
  /** A pipe to the app's port in the container (refusals: the workspace's state, its host). */
  const pipeTo = (m: { wsid: string; hostId?: string }, t: ProxyTarget) =>
    openWorkspacePipe(o.nc, m.wsid, m.hostId, { kind: "tcp", host: "127.0.0.1", port: t.port });

  const shares = new Map<string, { at: number; host: Promise<{ hostId?: string }> }>();
  /**
   * The workspace's host if `secret` is the public link of the app now (asked at most
   * ROLE_CACHE_MS ago: a revoked link stops within those seconds); else ERR_PROXY_TOKEN.
   */
  const publicShare = (app: App, secret: string) => {
    const key = `${app.wsid}.${app.port}.${secret}`;
    const kept = shares.get(key);
    if (kept && Date.now() - kept.at < ROLE_CACHE_MS) return kept.host;
    if (shares.size > 10_000) shares.clear();
    const host = askHub<HubWorkspaceReply>(
      o.nc,
      HubWorkspaceSubjects.command,
      "CheckHubPortShare",
      { by: APP_PROXY_ACTOR, wsid: app.wsid, port: app.port, secret },
      "workspaces service",
    ).then((r) => r.shared ?? {});
    shares.set(key, { at: Date.now(), host });
    host.catch(() => undefined);
    return host;
  };
  /** A public link's secret the request carries: in its URL (`?share=`) or its cookie. */
  const shareOf = (req: IncomingMessage, app: App) => {
    const url = new URL(req.url ?? "/", "http://x");
    const given = url.searchParams.getAll(SHARE_PARAM);
    if (given.length > 1)
      throw new CocalcError("ERR_PROXY_TOKEN", "more than one public link in the URL");
    if (given.length === 1) {
      url.searchParams.delete(SHARE_PARAM);
      return { secret: given[0]!, inUrl: true, rest: `${url.pathname}${url.search}` };
    }
    const secret = cookieValue(req.headers, shareCookieName(app.port));
    return secret === undefined ? undefined : { secret, inUrl: false, rest: req.url ?? "/" };
  };
  /**
   * Who may pass and where to: a public link (anyone, no sign-in), or a member's token or
   * cookie (plus's rule, then the account's role now).
   */
  const decide = async (req: IncomingMessage, app: App, upgrade: boolean): Promise<Decision> => {
    const target: ProxyTarget = { port: app.port, base: "/", strip: false };
    const share = shareOf(req, app);
    if (share) {
      // Without a sign-in of its own, a WebSocket comes from the app's own pages only.
      if (upgrade) checkOrigin(req, true);
      const host = await publicShare(app, share.secret);
      if (share.inUrl && !upgrade && (req.method === "GET" || req.method === "HEAD"))
        return {
          kind: "exchange",
          target,
          location: share.rest,
          // Lax: a public link followed from another site brings it along; it opens no more
          // than the link does.
          setCookie: `${shareCookieName(app.port)}=${share.secret}; Path=/; Max-Age=${PROXY_COOKIE_TTL_S}; HttpOnly; SameSite=Lax${o.secure ? "; Secure" : ""}`,
        };
      return {
        kind: "pass",
        target,
        upstreamUrl: share.rest,
        to: { wsid: app.wsid, ...host },
        share: share.secret,
      };
    }
    const d = authorizeProxied(
      { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, upgrade },
      ctxOf(app),
    );
    if (d.kind !== "pass") return d;
    const m = await mayReach(d.claims.user, app.wsid);
    return {
      kind: "pass",
      target,
      upstreamUrl: d.upstreamUrl,
      to: m,
      member: { session: d.claims.session, account: d.claims.user },
    };
  };

  app.post<{ Body: Static<typeof TokenBody> }>(
    HUB_PROXY_TOKEN_PATH,
    { schema: { body: TokenBody } },
    async (request, reply) => {
      const account = accountOfRequest(o.sessions, request);
      const { wsid, port } = request.body;
      if (o.appsDomain === undefined) throw off();
      await mayReach(account, wsid);
      const ttl = request.body.ttl ?? PROXY_TOKEN_TTL_S;
      const token = o.tokens.sign(
        { kind: "link", user: account, wsid, port, session: request.browserSession! },
        ttl,
      );
      return reply.header("Cache-Control", "no-store").send({
        token,
        url: appUrl({ wsid, port }, `/?token=${encodeURIComponent(token)}`),
        expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
      });
    },
  );

  const PortParams = Type.Object({
    wsid: TokenBody.properties.wsid,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  });
  const ask = (type: string, data: object) =>
    askHub<HubWorkspaceReply>(o.nc, HubWorkspaceSubjects.command, type, data, "workspaces service");
  // An owner shares one port publicly: the answer holds the link, once.
  app.post<{ Params: { wsid: string }; Body: { port: number } }>(
    `${HUB_WORKSPACES_PATH}/:wsid/ports`,
    {
      schema: {
        params: Type.Object({ wsid: TokenBody.properties.wsid }),
        body: Type.Object({ port: PortParams.properties.port }),
      },
    },
    async (request, reply) => {
      const by = accountOfRequest(o.sessions, request);
      if (o.appsDomain === undefined) throw off();
      const { wsid } = request.params;
      const r = await ask("ShareHubPort", { by, wsid, port: request.body.port });
      const { port, secret } = r.share!;
      return reply
        .header("Cache-Control", "no-store")
        .send({ port, url: appUrl({ wsid, port }, `/?${SHARE_PARAM}=${secret}`) });
    },
  );
  app.delete<{ Params: Static<typeof PortParams> }>(
    `${HUB_WORKSPACES_PATH}/:wsid/ports/:port`,
    { schema: { params: PortParams } },
    async (request, reply) => {
      const by = accountOfRequest(o.sessions, request);
      await ask("UnshareHubPort", { by, ...request.params });
      return reply.header("Cache-Control", "no-store").send({ ok: true });
    },
  );

  // As plus's proxy: taken before fastify routes them (the body and answer are the app's).
  const server = app.server;
  const routed = server.listeners("request") as ((...a: unknown[]) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const app = appOfHost(req.headers.host, o.appsDomain);
    const pathname = (req.url ?? "/").split("?")[0]!;
    if (app === undefined && hubProxiedWorkspace(pathname) === undefined) {
      for (const h of routed) h.call(server, req, res);
      return;
    }
    try {
      if (app === undefined) return sendToOrigin(req, res, pathname);
      // Its Host is the app's: no hub route, page or API answers on an app's origin.
      if (!SAFE_METHODS.has(req.method ?? "")) checkOrigin(req, false);
    } catch (err) {
      return sendError(res, err as CocalcError, req.headers.accept);
    }
    proxyHttp(req, res, app).catch((err) => {
      const e = failure(err);
      if (!res.headersSent) sendError(res, e, req.headers.accept);
      else res.destroy();
    });
  });

  /** `/ws/<wsid>/port/<n>/rest` of the hub's origin: to `rest` on the app's own origin. */
  function sendToOrigin(req: IncomingMessage, res: ServerResponse, pathname: string) {
    checkHost(req, o.allowedHosts);
    const wsid = hubProxiedWorkspace(pathname)!;
    const t = proxyTarget(pathname, `/ws/${wsid}`)!;
    const rest = pathname === t.base.slice(0, -1) ? "" : pathname.slice(t.base.length);
    const query = (req.url ?? "").slice(pathname.length);
    res.writeHead(308, { Location: appUrl({ wsid, port: t.port }, `/${rest}${query}`) });
    res.end();
  }

  async function proxyHttp(req: IncomingMessage, res: ServerResponse, app: App) {
    const accept = req.headers.accept;
    const wsid = app.wsid;
    const d = await decide(req, app, false);
    if (d.kind === "refuse") return sendError(res, d.error, accept);
    if (d.kind === "exchange") return sendExchange(req, res, d);
    const t = d.target;
    const pipe = await pipeTo(d.to, t);
    const up = httpRequest({
      method: req.method,
      path: d.upstreamUrl,
      headers: upstreamHeaders(req.rawHeaders, {
        upgrade: false,
        remoteAddress: req.socket.remoteAddress ?? "",
        target: t,
      }),
      createConnection: () => pipe as unknown as import("node:net").Socket,
    });
    up.on("response", (upRes) => {
      res.socket?.setNoDelay(true);
      res.writeHead(upRes.statusCode ?? 502, downstreamHeaders(upRes.headers, t));
      upRes.on("error", () => res.destroy());
      upRes.pipe(res);
      upRes.on("end", () => pipe.destroy());
    });
    up.on("error", (err) => {
      pipe.destroy();
      if (res.headersSent) return void res.destroy();
      log.debug({ err, wsid, port: t.port }, "proxied app unreachable");
      sendError(
        res,
        new CocalcError(
          "ERR_PROXY_UPSTREAM",
          `Nothing answers on port ${t.port} in the workspace (start the app, or check its port).`,
        ),
        accept,
      );
    });
    res.on("close", () => {
      if (!res.writableFinished) {
        up.destroy();
        pipe.destroy();
      }
    });
    req.on("error", () => up.destroy());
    req.pipe(up);
  }

  const open = new Map<Duplex, { app: App; session?: string; account?: string; share?: string }>();
  const stopRevoke = o.sessions.onRevoke((ids) => {
    for (const [socket, w] of open)
      if (w.session !== undefined && (ids === "all" || ids.has(w.session))) socket.destroy();
  });
  // An open WebSocket of a member removed or made a viewer, or through a public link that was
  // revoked, is closed within a few seconds.
  const recheck = setInterval(() => {
    for (const [socket, w] of open) {
      const still =
        w.share !== undefined ? publicShare(w.app, w.share) : mayReach(w.account ?? "", w.app.wsid);
      still.catch((err) => {
        if (err instanceof CocalcError) socket.destroy();
      });
    }
  }, ROLE_CACHE_MS);
  recheck.unref();
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? "/";
    const app = appOfHost(req.headers.host, o.appsDomain);
    const old = hubProxiedWorkspace(url.split("?")[0]!);
    if (app === undefined && old === undefined) return;
    socket.on("error", () => socket.destroy());
    if (app === undefined)
      return refuseSocket(
        socket,
        o.appsDomain === undefined
          ? off()
          : new CocalcError(
              "ERR_GATEWAY_NOT_FOUND",
              "A workspace's app is served on its own origin (p<port>-<wsid>.<apps domain>), not on the hub's.",
            ),
      );
    void (async () => {
      const d = await decide(req, app, true);
      if (d.kind === "refuse") return refuseSocket(socket, d.error);
      if (d.kind !== "pass") return refuseSocket(socket, new CocalcError("ERR_PROXY_AUTH", "no"));
      const t = d.target;
      open.set(socket, {
        app,
        ...(d.member ?? {}),
        ...(d.share !== undefined && { share: d.share }),
      });
      socket.on("close", () => open.delete(socket));
      const pipe = await pipeTo(d.to, t);
      if (socket.destroyed) return void pipe.destroy();
      pipe.write(upgradeHead(req, d.upstreamUrl, t));
      if (head.length > 0) pipe.write(head);
      pipe.pipe(socket);
      socket.pipe(pipe);
      pipe.on("error", () => socket.destroy());
      pipe.on("close", () => socket.destroy());
      socket.on("close", () => pipe.destroy());
    })().catch((err) => {
      refuseSocket(socket, failure(err));
    });
  };
  server.on("upgrade", onUpgrade);
  app.addHook("preClose", async () => {
    server.off("upgrade", onUpgrade);
    stopRevoke();
    clearInterval(recheck);
    for (const s of open.keys()) s.destroy();
  });
}
