/**
 * Proxied apps of launchpad: `/ws/<wsid>/port/<n>/…` on the hub reaches port n inside the
 * workspace's container. Each upstream connection is one byte pipe over NATS to the
 * workspace's host (services/runtime/workspace-pipe.ts, `kind: "tcp"`: the host relays to the port
 * in the container's network namespace), so hosts open no port. HTTP/1.1 goes over the pipe
 * with node's http client (the pipe is its socket); a WebSocket upgrade is written to the pipe
 * and the two raw streams are joined.
 *
 * Who may pass is plus's rule (app-proxy-request.ts: a short-lived signed link token,
 * exchanged for a path-scoped HttpOnly SameSite=Strict cookie, a cookie counting only from the
 * hub's own origin), and then, on every request, the account's role now: owners and
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
import type { Logger } from "../runtime/logger.js";
import { openWorkspacePipe } from "../runtime/workspace-pipe.js";
import { refuseSocket, sendError, sendExchange, upgradeHead } from "./app-proxy.js";
import {
  authorizeProxied,
  downstreamHeaders,
  PORT_PREFIX,
  type ProxyAuthContext,
  type ProxyTarget,
  proxyTarget,
  upstreamHeaders,
} from "./app-proxy-request.js";
import { PROXY_TOKEN_MAX_TTL_S, PROXY_TOKEN_TTL_S, type ProxyTokens } from "./app-proxy-tokens.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest } from "./hub-auth.js";
import { checkHost, checkOrigin } from "./security.js";

export const HUB_PROXY_TOKEN_PATH = "/api/hub/proxy/token";
/** How old a role may be when a request is let through (a removed member's cookie then ends). */
const ROLE_CACHE_MS = 3000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const PROXIED = /^\/ws\/([A-Za-z0-9_-]{1,64})\/port\//;

/** The workspace a path is a proxied app of, or undefined when it is not one. */
export function hubProxiedWorkspace(pathname: string): string | undefined {
  return PROXIED.exec(pathname)?.[1];
}

/** `/ws/<wsid>/port/<n>/`: where a workspace's app is reached on the hub. */
export function hubAppBase(wsid: string, port: number): string {
  return `/ws/${wsid}${PORT_PREFIX}${port}/`;
}

export interface HubAppProxyOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
  tokens: ProxyTokens;
  membership(account: string, wsid: string): Promise<Membership | undefined>;
  allowedHosts: ReadonlySet<string>;
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
  const ctxOf = (wsid: string): ProxyAuthContext => ({
    tokens: o.tokens,
    wsid,
    signedIn: (id) => o.sessions.has(id),
    userOf: (id) => o.sessions.subjectOf(id) ?? "",
    refusedPorts: new Set(),
    mount: `/ws/${wsid}`,
    opener: "the workspace's page (Apps)",
    secure: o.secure,
  });
  /** A refusal as it is; anything else as the app not reached (and logged). */
  const failure = (err: unknown): CocalcError => {
    if (err instanceof CocalcError) return err;
    log.error({ err }, "hub app proxy failed");
    return new CocalcError("ERR_PROXY_UPSTREAM", "the workspace's app could not be reached");
  };
  /** A pipe to the app's port in the container (refusals: the workspace's state, its host). */
  const pipeTo = (m: Membership, t: ProxyTarget) =>
    openWorkspacePipe(o.nc, m.wsid, m.hostId, { kind: "tcp", host: "127.0.0.1", port: t.port });

  app.post<{ Body: Static<typeof TokenBody> }>(
    HUB_PROXY_TOKEN_PATH,
    { schema: { body: TokenBody } },
    async (request, reply) => {
      const account = accountOfRequest(o.sessions, request);
      const { wsid, port } = request.body;
      await mayReach(account, wsid);
      const ttl = request.body.ttl ?? PROXY_TOKEN_TTL_S;
      const token = o.tokens.sign(
        { kind: "link", user: account, wsid, port, session: request.browserSession! },
        ttl,
      );
      return reply.header("Cache-Control", "no-store").send({
        token,
        path: `${hubAppBase(wsid, port)}?token=${encodeURIComponent(token)}`,
        expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
      });
    },
  );

  // As plus's proxy: taken before fastify routes them (the body and answer are the app's).
  const server = app.server;
  const routed = server.listeners("request") as ((...a: unknown[]) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const wsid = hubProxiedWorkspace((req.url ?? "/").split("?")[0]!);
    if (wsid === undefined) {
      for (const h of routed) h.call(server, req, res);
      return;
    }
    try {
      checkHost(req, o.allowedHosts);
      if (!SAFE_METHODS.has(req.method ?? "")) checkOrigin(req, false);
    } catch (err) {
      return sendError(res, err as CocalcError, req.headers.accept);
    }
    proxyHttp(req, res, wsid).catch((err) => {
      const e = failure(err);
      if (!res.headersSent) sendError(res, e, req.headers.accept);
      else res.destroy();
    });
  });

  async function proxyHttp(req: IncomingMessage, res: ServerResponse, wsid: string) {
    const accept = req.headers.accept;
    const url = req.url ?? "/";
    const pathname = url.split("?")[0]!;
    const target = proxyTarget(pathname, `/ws/${wsid}`);
    // The app's cookie has the base path with its slash: `/ws/<wsid>/port/8888` goes there.
    if (target && pathname === target.base.slice(0, -1)) {
      res.writeHead(308, { Location: `${target.base}${url.slice(pathname.length)}` });
      return void res.end();
    }
    const d = authorizeProxied(
      { method: req.method ?? "GET", url, headers: req.headers, upgrade: false },
      ctxOf(wsid),
    );
    if (d.kind === "refuse") return sendError(res, d.error, accept);
    if (d.kind === "exchange") return sendExchange(req, res, d);
    const t = d.target;
    const m = await mayReach(d.claims.user, wsid);
    const pipe = await pipeTo(m, t);
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

  const open = new Map<Duplex, { session: string; account: string; wsid: string }>();
  const stopRevoke = o.sessions.onRevoke((ids) => {
    for (const [socket, w] of open) if (ids === "all" || ids.has(w.session)) socket.destroy();
  });
  // An open WebSocket of a member removed or made a viewer is closed within a few seconds.
  const recheck = setInterval(() => {
    for (const [socket, w] of open)
      mayReach(w.account, w.wsid).catch((err) => {
        if (err instanceof CocalcError) socket.destroy();
      });
  }, ROLE_CACHE_MS);
  recheck.unref();
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? "/";
    const wsid = hubProxiedWorkspace(url.split("?")[0]!);
    if (wsid === undefined) return;
    socket.on("error", () => socket.destroy());
    try {
      checkHost(req, o.allowedHosts);
    } catch (err) {
      return refuseSocket(socket, err as CocalcError);
    }
    const d = authorizeProxied(
      { method: req.method ?? "GET", url, headers: req.headers, upgrade: true },
      ctxOf(wsid),
    );
    if (d.kind === "refuse") return refuseSocket(socket, d.error);
    if (d.kind !== "pass") return refuseSocket(socket, new CocalcError("ERR_PROXY_AUTH", "no"));
    const t = d.target;
    open.set(socket, { session: d.claims.session, account: d.claims.user, wsid });
    socket.on("close", () => open.delete(socket));
    void (async () => {
      const m = await mayReach(d.claims.user, wsid);
      const pipe = await pipeTo(m, t);
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
