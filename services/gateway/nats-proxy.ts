/**
 * `/nats`: the browser's WebSocket, piped byte for byte to nats-server's websocket listener
 * after the same checks as every request. A browser cannot set headers on a WebSocket, so its
 * credential travels as a subprotocol (`cocalc.auth.<credential>`, next to `cocalc.v1`, which
 * the answer names). The browser logs in to NATS as the restricted browser user; the
 * services' credentials never leave the server. Signing a browser out closes its sockets.
 */
import type { IncomingMessage, Server } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { checkHost, checkOrigin } from "./security.js";

export interface NatsProxyOptions {
  path: string;
  sessions: BrowserSessions;
  allowedHosts: ReadonlySet<string>;
  upstreamPort: () => number;
  /** The Origin nats-server's allowed_origins lists. */
  upstreamOrigin: string;
  log: Logger;
  /** Upgrades another handler serves (proxied apps, by path or host): left alone here. */
  others?: (pathname: string, req: IncomingMessage) => boolean;
}

/**
 * Not passed on. A browser's User-Agent makes nats-server cut what it sends into 4 KiB frames
 * (meant for compressed frames, which this listener does not use): a replayed log of 10,000
 * events then reaches the page as a thousand frames instead of a few dozen.
 */
const HOP_HEADERS = new Set([
  "host",
  "origin",
  "cookie",
  "referer",
  "user-agent",
  "authorization",
  "sec-websocket-protocol",
]);

/** The subprotocol the gateway answers with. */
export const NATS_SUBPROTOCOL = "cocalc.v1";
const AUTH_PREFIX = "cocalc.auth.";

/** The credential a WebSocket upgrade carries in its subprotocols, and whether it offered ours. */
export function subprotocolCredential(req: IncomingMessage): string | undefined {
  const offered = String(req.headers["sec-websocket-protocol"] ?? "")
    .split(",")
    .map((p) => p.trim());
  if (!offered.includes(NATS_SUBPROTOCOL)) return undefined;
  return offered.find((p) => p.startsWith(AUTH_PREFIX))?.slice(AUTH_PREFIX.length);
}

function refuse(
  socket: Duplex,
  err: CocalcError | { status: number; code: string; message: string },
): void {
  const body = JSON.stringify({ code: err.code, message: err.message });
  const reason =
    err.status === 401
      ? "Unauthorized"
      : err.status === 403
        ? "Forbidden"
        : err.status === 404
          ? "Not Found"
          : "Bad Gateway";
  socket.end(
    `HTTP/1.1 ${err.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Adds the upgrade handler to `server`; returns a function that removes it. */
export function attachNatsProxy(server: Server, o: NatsProxyOptions): () => void {
  const open = new Map<Duplex, string>();
  const stopRevoke = o.sessions.onRevoke((ids) => {
    for (const [socket, id] of open) if (ids === "all" || ids.has(id)) socket.destroy();
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    let session: string | undefined;
    try {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (o.others?.(path, req)) return;
      if (path !== o.path)
        throw new CocalcError("ERR_GATEWAY_NOT_FOUND", `no WebSocket at ${path}`);
      checkHost(req, o.allowedHosts);
      checkOrigin(req, true);
      session = o.sessions.verify(subprotocolCredential(req));
      if (session === undefined)
        throw new CocalcError("ERR_GATEWAY_AUTH", "not signed in, or signed out");
    } catch (err) {
      const p = toErrorPayload(err);
      refuse(socket, {
        status: err instanceof CocalcError ? err.status : 500,
        code: p.code,
        message: p.message,
      });
      return;
    }
    const port = o.upstreamPort();
    const upstream = connect({ host: "127.0.0.1", port });
    open.set(socket, session);
    const lines = [`GET / HTTP/1.1`, `Host: 127.0.0.1:${port}`, `Origin: ${o.upstreamOrigin}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!HOP_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
    }
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      void answerWithSubprotocol(upstream, socket).then((ok) => {
        if (!ok) return socket.destroy();
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
    });
    upstream.on("error", (err) => {
      if (!connected) {
        o.log.warn({ err }, "nats websocket upstream unreachable");
        refuse(socket, {
          status: 502,
          code: "ERR_GATEWAY_UPSTREAM",
          message: "nats-server is not reachable",
        });
      } else socket.destroy();
    });
    upstream.on("close", () => socket.destroy());
    socket.on("close", () => {
      open.delete(socket);
      upstream.destroy();
    });
  };
  server.on("upgrade", onUpgrade);
  return () => {
    server.off("upgrade", onUpgrade);
    stopRevoke();
    for (const s of open.keys()) s.destroy();
  };
}

/**
 * Passes nats-server's handshake answer on with our subprotocol named in it (a browser that
 * offered subprotocols drops an answer that names none), then leaves the rest to the pipes.
 * False when the upstream closed or answered with more head than a handshake has.
 */
function answerWithSubprotocol(upstream: Duplex, socket: Duplex): Promise<boolean> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) {
        if (buffered.length > 16 * 1024) finish(false);
        return;
      }
      upstream.off("data", onData);
      upstream.pause();
      const head = buffered.subarray(0, end).toString("latin1");
      const rest = buffered.subarray(end + 4);
      const upgraded = /^HTTP\/1\.1 101 /.test(head);
      socket.write(
        upgraded
          ? `${head}\r\nSec-WebSocket-Protocol: ${NATS_SUBPROTOCOL}\r\n\r\n`
          : `${head}\r\n\r\n`,
      );
      if (rest.length > 0) socket.write(rest);
      finish(true);
    };
    const onEnd = () => finish(false);
    const finish = (ok: boolean) => {
      upstream.off("data", onData);
      upstream.off("end", onEnd);
      resolve(ok);
    };
    upstream.on("data", onData);
    upstream.once("end", onEnd);
  });
}
