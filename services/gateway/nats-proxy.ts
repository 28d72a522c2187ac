/**
 * `/nats`: the browser's WebSocket, piped byte for byte to nats-server's websocket listener
 * after the same checks as every request. The browser logs in to NATS as the restricted
 * browser user; the services' credentials never leave the server.
 */
import type { IncomingMessage, Server } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import { hasSession } from "./auth.js";
import { checkHost, checkOrigin } from "./security.js";

export interface NatsProxyOptions {
  path: string;
  token: string;
  allowedHosts: ReadonlySet<string>;
  upstreamPort: () => number;
  /** The Origin nats-server's allowed_origins lists. */
  upstreamOrigin: string;
  log: Logger;
}

/**
 * Not passed on. A browser's User-Agent makes nats-server cut what it sends into 4 KiB frames
 * (meant for compressed frames, which this listener does not use): a replayed log of 10,000
 * events then reaches the page as a thousand frames instead of a few dozen.
 */
const HOP_HEADERS = new Set(["host", "origin", "cookie", "referer", "user-agent"]);

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
  const open = new Set<Duplex>();
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    try {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path !== o.path)
        throw new CocalcError("ERR_GATEWAY_NOT_FOUND", `no WebSocket at ${path}`);
      checkHost(req, o.allowedHosts);
      checkOrigin(req, true);
      if (!hasSession(req, o.token)) throw new CocalcError("ERR_GATEWAY_AUTH", "no session");
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
    open.add(socket);
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
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", (err) => {
      if (!connected) {
        o.log.warn({ err: String(err) }, "nats websocket upstream unreachable");
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
    for (const s of open) s.destroy();
  };
}
