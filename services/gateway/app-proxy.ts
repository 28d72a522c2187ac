/**
 * Proxied apps of plus: `/port/<n>/…` and `/proxy/<n>/…` to 127.0.0.1:<n>, HTTP and WebSocket,
 * after app-proxy-request.ts said who may pass. Bodies stream both ways through node's own
 * pipes (a 1 MiB answer is never held whole; a slow reader slows the app, not our memory).
 * Node's http client and a raw socket for upgrades, not a proxy library: the checks and header
 * rules live in app-proxy-request.ts, shared with launchpad's NATS transport, so what is left
 * here is the two pipes, which node does with backpressure already, and a keep-alive agent.
 * `POST /api/proxy/token` makes links for another tab or tool.
 */
import {
  Agent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import {
  authorizeProxied,
  downstreamHeaders,
  errorAnswer,
  PORT_PREFIX,
  type ProxyAuthContext,
  type ProxyDecision,
  type ProxyTarget,
  proxyTarget,
  STRIP_PREFIX,
  upstreamHeaders,
} from "./app-proxy-request.js";
import { PROXY_TOKEN_MAX_TTL_S, PROXY_TOKEN_TTL_S, type ProxyTokens } from "./app-proxy-tokens.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { checkHost, checkOrigin } from "./security.js";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export const PROXY_TOKEN_PATH = "/api/proxy/token";
export const PROXIED_PREFIXES = [PORT_PREFIX, STRIP_PREFIX] as const;

export interface AppProxyOptions {
  tokens: ProxyTokens;
  sessions: BrowserSessions;
  wsid: string;
  allowedHosts: ReadonlySet<string>;
  log: Logger;
  /** Where the apps listen (tests: another loopback name is not needed; 127.0.0.1). */
  upstreamHost?: string;
}

/** Whether a path is a proxied app's (the other routes and upgrade handlers leave it alone). */
export function isProxiedPath(pathname: string): boolean {
  return PROXIED_PREFIXES.some((p) => pathname.startsWith(p));
}

const TokenBody = Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  ttl: Type.Optional(Type.Integer({ minimum: 10, maximum: PROXY_TOKEN_MAX_TTL_S })),
  strip: Type.Optional(Type.Boolean()),
});

/** A refusal or failure as the answer to an HTTP request. */
export function sendError(res: ServerResponse, err: CocalcError, accept: string | undefined) {
  const a = errorAnswer(err, accept);
  res.writeHead(a.status, {
    "Content-Type": a.type,
    "Content-Length": Buffer.byteLength(a.body),
    "Cache-Control": "no-store",
  });
  res.end(a.body);
}

/** A link's token exchanged for the app's cookie, and the browser sent on without it. */
export function sendExchange(
  req: IncomingMessage,
  res: ServerResponse,
  d: Extract<ProxyDecision, { kind: "exchange" }>,
): void {
  const site = req.headers["sec-fetch-site"];
  if (site === "same-origin" || site === "none") {
    res.writeHead(303, {
      Location: d.location,
      "Set-Cookie": d.setCookie,
      "Cache-Control": "no-store",
      "Referrer-Policy": "no-referrer",
    });
    return void res.end();
  }
  // Opened from another site: a SameSite=Strict cookie would not come with a redirect
  // that site started, so this page sends the browser on itself (a same-origin navigation).
  const body = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${d.location.replace(/"/g, "%22")}"><title>Opening…</title>`;
  res.writeHead(200, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Set-Cookie": d.setCookie,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
  });
  return void res.end(body);
}

/** A refused WebSocket upgrade: an HTTP answer on the raw socket, then closed. */
export function refuseSocket(socket: Duplex, err: CocalcError): void {
  const body = JSON.stringify({ code: err.code, message: err.message });
  socket.end(
    `HTTP/1.1 ${err.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The request line and headers of an upgrade, as the app gets them. */
export function upgradeHead(
  req: IncomingMessage,
  upstreamUrl: string,
  target: ProxyTarget,
): string {
  const h = upstreamHeaders(req.rawHeaders, {
    upgrade: true,
    remoteAddress: req.socket.remoteAddress ?? "",
    target,
  });
  const lines = [`${req.method} ${upstreamUrl} HTTP/1.1`];
  for (let i = 0; i < h.length; i += 2) lines.push(`${h[i]}: ${h[i + 1]}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Registers the proxy routes and its upgrade handler on `app`. */
export async function registerAppProxy(app: FastifyInstance, o: AppProxyOptions): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });
  const host = o.upstreamHost ?? "127.0.0.1";
  let known: ProxyAuthContext | undefined;
  /** Made once the server listens (its own port is refused). */
  const ctx = (): ProxyAuthContext => {
    if (known) return known;
    const own = (app.server.address() as AddressInfo | null)?.port;
    const c: ProxyAuthContext = {
      tokens: o.tokens,
      wsid: o.wsid,
      signedIn: (id) => o.sessions.has(id),
      userOf: (id) => o.sessions.subjectOf(id) ?? "owner",
      refusedPorts: new Set(own ? [own] : []),
    };
    if (own) known = c;
    return c;
  };
  const log = o.log.child({ component: "app-proxy" });

  app.post<{ Body: Static<typeof TokenBody> }>(
    PROXY_TOKEN_PATH,
    { schema: { body: TokenBody } },
    async (request, reply) => {
      const session = request.browserSession!;
      const { port, strip } = request.body;
      const ttl = request.body.ttl ?? PROXY_TOKEN_TTL_S;
      const token = o.tokens.sign(
        {
          kind: "link",
          user: o.sessions.subjectOf(session) ?? "owner",
          wsid: o.wsid,
          port,
          session,
        },
        ttl,
      );
      const base = `${strip ? STRIP_PREFIX : PORT_PREFIX}${port}/`;
      return reply.header("Cache-Control", "no-store").send({
        token,
        path: `${base}?token=${encodeURIComponent(token)}`,
        expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
      });
    },
  );

  // Proxied requests are taken before fastify routes them: its hooks and reply cost a third
  // of a small answer's time, and none of it applies (the body is the app's, never parsed or
  // limited; the answer is the app's). The same Host and Origin checks as every request.
  const server = app.server;
  const routed = server.listeners("request") as ((...a: unknown[]) => void)[];
  server.removeAllListeners("request");
  const front = (req: IncomingMessage, res: ServerResponse) => {
    if (!isProxiedPath(req.url ?? "/")) {
      for (const h of routed) h.call(server, req, res);
      return;
    }
    try {
      checkHost(req, o.allowedHosts);
      if (!SAFE_METHODS.has(req.method ?? "")) checkOrigin(req, false);
    } catch (err) {
      sendError(res, err as CocalcError, req.headers.accept);
      return;
    }
    proxyHttp(req, res);
  };
  server.on("request", front);

  function proxyHttp(req: IncomingMessage, res: ServerResponse): void {
    const accept = req.headers.accept;
    const url = req.url ?? "/";
    const pathname = url.split("?")[0]!;
    let target: ReturnType<typeof proxyTarget>;
    try {
      target = proxyTarget(pathname);
    } catch (err) {
      sendError(res, err as CocalcError, accept);
      return;
    }
    // The app's cookie has the base path with its slash: `/port/8888` first goes there.
    if (target && pathname === target.base.slice(0, -1)) {
      res.writeHead(308, { Location: `${target.base}${url.slice(pathname.length)}` });
      return void res.end();
    }
    const d: ProxyDecision = authorizeProxied(
      { method: req.method ?? "GET", url, headers: req.headers, upgrade: false },
      ctx(),
    );
    if (d.kind === "refuse") {
      sendError(res, d.error, accept);
      return;
    }
    if (d.kind === "exchange") return void sendExchange(req, res, d);
    const t = d.target;
    const up = httpRequest({
      host,
      port: t.port,
      method: req.method,
      path: d.upstreamUrl,
      headers: upstreamHeaders(req.rawHeaders, {
        upgrade: false,
        remoteAddress: req.socket.remoteAddress ?? "",
        target: t,
      }),
      agent,
    });
    // Head and body go out as separate writes: with Nagle's algorithm the second waits for
    // the peer's delayed ACK (40 ms) on a kept-alive connection.
    up.on("socket", (s) => s.setNoDelay(true));
    // pipe(), not pipeline(): the same backpressure, without an AbortController and an
    // AbortError made for every request that ends well.
    up.on("response", (upRes) => {
      // The same on the browser's side: a 1 MiB answer took 20 ms instead of 4 without it.
      res.socket?.setNoDelay(true);
      res.writeHead(upRes.statusCode ?? 502, downstreamHeaders(upRes.headers, t));
      upRes.on("error", () => res.destroy());
      upRes.pipe(res);
    });
    up.on("error", (err) => {
      if (!res.headersSent) {
        const code = (err as NodeJS.ErrnoException).code;
        sendError(
          res,
          new CocalcError(
            "ERR_PROXY_UPSTREAM",
            code === "ECONNREFUSED"
              ? `Nothing listens on port ${t.port} of this machine (start the app, or check its port).`
              : `The app on port ${t.port} failed to answer: ${err.message}`,
          ),
          accept,
        );
      } else res.destroy();
    });
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.on("error", () => up.destroy());
    req.pipe(up);
  }

  const open = new Map<Duplex, string>();
  const stopRevoke = o.sessions.onRevoke((ids) => {
    for (const [socket, id] of open) if (ids === "all" || ids.has(id)) socket.destroy();
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? "/";
    if (!isProxiedPath(url.split("?")[0]!)) return;
    socket.on("error", () => socket.destroy());
    try {
      checkHost(req, o.allowedHosts);
    } catch (err) {
      return refuseSocket(socket, err as CocalcError);
    }
    const d = authorizeProxied(
      { method: req.method ?? "GET", url, headers: req.headers, upgrade: true },
      ctx(),
    );
    if (d.kind === "refuse") return refuseSocket(socket, d.error);
    if (d.kind !== "pass") return refuseSocket(socket, new CocalcError("ERR_PROXY_AUTH", "no"));
    const t = d.target;
    const upstream = connect({ host, port: t.port });
    open.set(socket, d.claims.session);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      // Messages are small and answered at once (a kernel's, an editor's): no Nagle delay.
      upstream.setNoDelay(true);
      (socket as Socket).setNoDelay?.(true);
      upstream.write(upgradeHead(req, d.upstreamUrl, t));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", (err) => {
      if (!connected) {
        log.debug({ err, port: t.port }, "proxied app unreachable");
        refuseSocket(
          socket,
          new CocalcError(
            "ERR_PROXY_UPSTREAM",
            `Nothing listens on port ${t.port} of this machine.`,
          ),
        );
      } else socket.destroy();
    });
    upstream.on("close", () => socket.destroy());
    socket.on("close", () => {
      open.delete(socket);
      upstream.destroy();
    });
  };
  app.server.on("upgrade", onUpgrade);
  // Before the server closes: it waits for every socket, the upgraded ones too.
  app.addHook("preClose", async () => {
    app.server.off("upgrade", onUpgrade);
    stopRevoke();
    for (const s of open.keys()) s.destroy();
    agent.destroy();
  });
}
