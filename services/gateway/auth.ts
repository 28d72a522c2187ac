/**
 * The URL token is exchanged once for an HttpOnly, SameSite=Strict cookie, and the browser is
 * sent to the same URL without it. Every request but /healthz needs the cookie.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { CocalcError } from "../../shared/errors.js";

export interface AuthOptions {
  token: string;
  /** Paths that need no session. */
  publicPaths: ReadonlySet<string>;
}

/** The cookie value that proves a browser once presented the token. */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("cocalc-plus session v1").digest("base64url");
}

/**
 * Cookies are not port-specific, so the name carries the port: two servers on one host do not
 * clash. It is the port the browser sees (the Host header's), not the one this server listens
 * on: behind an SSH tunnel those differ, and two remote daemons that listen on the same port
 * of their machines are two local ports here, which must not share one cookie.
 */
export function cookieName(req: IncomingMessage): string {
  const port = /:(\d{1,5})$/.exec(req.headers?.host ?? "")?.[1];
  return `cocalc_plus_${port ?? req.socket.localPort ?? 0}`;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

/** True when the request carries a valid session cookie. */
export function hasSession(req: IncomingMessage, token: string): boolean {
  const value = cookies(req).get(cookieName(req));
  return value !== undefined && equal(value, sessionValue(token));
}

function signInPage(message: string): string {
  return `<!doctype html><meta charset="utf-8"><title>cocalc-plus: sign in</title>
<style>body{font:16px system-ui,sans-serif;margin:4rem auto;max-width:36rem;color:#333}</style>
<h1>Not signed in</h1><p>${message}</p>`;
}

function refuse(request: FastifyRequest, reply: FastifyReply, err: CocalcError) {
  if (request.method === "GET" && (request.headers.accept ?? "").includes("text/html")) {
    return reply.code(err.status).type("text/html").send(signInPage(err.message));
  }
  return reply.code(err.status).send({ code: err.code, message: err.message });
}

export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, opts) => {
    app.addHook("onRequest", async (request, reply) => {
      const url = new URL(request.url, "http://x");
      if (opts.publicPaths.has(url.pathname)) return;
      const given = url.searchParams.get("token");
      if (given !== null) {
        if (!equal(given, opts.token)) {
          return refuse(
            request,
            reply,
            new CocalcError(
              "ERR_GATEWAY_TOKEN",
              "The token in this URL is wrong. Open the URL that cocalc-plus printed.",
            ),
          );
        }
        url.searchParams.delete("token");
        const cookie = `${cookieName(request.raw)}=${sessionValue(opts.token)}; Path=/; HttpOnly; SameSite=Strict`;
        // A page that moves on by itself rather than an HTTP redirect: when the link was
        // followed from another site (a chat, a local file the opener was given), the browser
        // withholds a SameSite=Strict cookie from the rest of that navigation, while a
        // navigation this page starts is same-site and carries it.
        const next = escapeHtml(`${url.pathname}${url.search}${url.hash}`);
        return reply
          .header("Set-Cookie", cookie)
          .header("Cache-Control", "no-store")
          .header("Referrer-Policy", "no-referrer")
          .type("text/html; charset=utf-8")
          .send(
            `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${next}">` +
              `<title>Signing in…</title><p>Signing in… <a href="${next}">continue</a></p>\n`,
          );
      }
      if (!hasSession(request.raw, opts.token)) {
        return refuse(
          request,
          reply,
          new CocalcError(
            "ERR_GATEWAY_AUTH",
            "Open the URL with ?token=… that cocalc-plus printed when it started.",
          ),
        );
      }
    });
  },
  { name: "auth" },
);

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll('"', "&quot;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;");
}
