/** Host allowlist (DNS rebinding), Origin checks and security headers, for HTTP and WebSocket alike. */
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { CocalcError } from "../../shared/errors.js";

/** The host names the server answers to: loopback names, the bind address, and any extras. */
export function allowedHostnames(bind: string, extra: readonly string[] = []): Set<string> {
  const names = new Set(["127.0.0.1", "localhost", "[::1]", ...extra.map((h) => h.toLowerCase())]);
  if (bind !== "0.0.0.0" && bind !== "::") names.add(bind.includes(":") ? `[${bind}]` : bind);
  return names;
}

export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.lastIndexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

/** Throws ERR_GATEWAY_HOST unless the Host header names this server. */
export function checkHost(req: IncomingMessage, allowed: ReadonlySet<string>): void {
  const host = req.headers.host;
  if (!host || !allowed.has(hostnameOf(host))) {
    throw new CocalcError("ERR_GATEWAY_HOST", `Host ${JSON.stringify(host ?? "")} is not allowed`);
  }
}

/**
 * Throws ERR_GATEWAY_ORIGIN unless the request's Origin is this very server (same scheme-less
 * host and port as the Host header). `required`: a missing Origin is refused too (WebSockets).
 */
export function checkOrigin(req: IncomingMessage, required: boolean): void {
  const origin = req.headers.origin;
  if (origin === undefined) {
    if (required) throw new CocalcError("ERR_GATEWAY_ORIGIN", "Origin header missing");
    return;
  }
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new CocalcError("ERR_GATEWAY_ORIGIN", `Origin ${JSON.stringify(origin)} is not a URL`);
  }
  if (host !== req.headers.host?.toLowerCase()) {
    throw new CocalcError("ERR_GATEWAY_ORIGIN", `Origin ${origin} is not this server`);
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The app's pages load scripts only from this server and run no inline script, take style
 * sheets only from this server or as `<style>` elements made by the page's own script (they
 * carry the page's nonce; markup put into the page by innerHTML cannot have it), talk only to
 * this server, and show images only from it (or data:/blob: URLs it made): markup an agent or
 * a document injects can neither run nor send data out by loading a remote image. Inline
 * style attributes are allowed: xterm and KaTeX position with them, and whatever URL one
 * names is still held to img-src and font-src.
 */
export function contentSecurityPolicy(nonce?: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    `style-src-elem 'self'${nonce ? ` 'nonce-${nonce}'` : ""}`,
    "style-src-attr 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self' blob:",
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "frame-ancestors 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join("; ");
}

export interface SecurityOptions {
  allowedHosts: ReadonlySet<string>;
}

export const securityPlugin = fp<SecurityOptions>(
  async (app: FastifyInstance, opts) => {
    app.addHook("onRequest", async (request, reply) => {
      reply.header("Referrer-Policy", "no-referrer");
      reply.header("X-Content-Type-Options", "nosniff");
      reply.header("X-Frame-Options", "SAMEORIGIN");
      reply.header("Content-Security-Policy", contentSecurityPolicy());
      checkHost(request.raw, opts.allowedHosts);
      if (!SAFE_METHODS.has(request.method)) checkOrigin(request.raw, false);
    });
  },
  { name: "security" },
);
