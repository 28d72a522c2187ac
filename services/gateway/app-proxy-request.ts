/**
 * What a proxied app's request needs before its bytes go anywhere, whatever carries them
 * (plus: a socket to 127.0.0.1:<n>, app-proxy.ts; launchpad: a byte stream over NATS): which
 * port it is for, whether it may pass, and the headers each side gets.
 *
 * Who may pass (see docs/architecture.md, "Proxied apps"):
 * - a link token (app-proxy-tokens.ts) in `Authorization: Bearer` or `?token=`; a GET that
 *   navigates with `?token=` exchanges it for a cookie and is sent to the same URL without it;
 * - that cookie (HttpOnly, SameSite=Strict, Path of the app), but only from this origin: a
 *   page on another port of this host is the same *site*, so the browser sends it our cookies
 *   too. It cannot forge `Sec-Fetch-Site` (the browser sets it: `same-site` for that page) nor
 *   a WebSocket's Origin, so a cookie counts only with `Sec-Fetch-Site: same-origin` or `none`
 *   (typed, bookmarked) and, on a WebSocket or a state-changing request, this server's Origin.
 */
import type { IncomingHttpHeaders } from "node:http";
import { CocalcError } from "../../shared/errors.js";
import { PROXY_COOKIE_TTL_S, type ProxyTokenClaims, type ProxyTokens } from "./app-proxy-tokens.js";

/** `/port/<n>/…` passes the path on as it is (the app was given that base path). */
export const PORT_PREFIX = "/port/";
/** `/proxy/<n>/…` passes on what follows the prefix (apps that use relative links only). */
export const STRIP_PREFIX = "/proxy/";

const TOKEN_PARAM = "token";
const TOKEN_PREFIX = "cpx1.";
const COOKIE_PREFIX = "cocalc-app-";

export interface ProxyTarget {
  port: number;
  /** The app's base path, e.g. `/port/8888/`. */
  base: string;
  /** Whether the prefix is taken off before the request goes on. */
  strip: boolean;
}

/**
 * The app a request path is for, or undefined when it is not a proxied path at all. `mount` is
 * what comes before the prefix (the hub: `/ws/<wsid>`; plus: nothing).
 */
export function proxyTarget(full: string, mount = ""): ProxyTarget | undefined {
  if (!full.startsWith(mount)) return undefined;
  const pathname = full.slice(mount.length);
  const prefix = pathname.startsWith(PORT_PREFIX)
    ? PORT_PREFIX
    : pathname.startsWith(STRIP_PREFIX)
      ? STRIP_PREFIX
      : undefined;
  if (!prefix) return undefined;
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf("/");
  const digits = slash === -1 ? rest : rest.slice(0, slash);
  if (!/^[1-9][0-9]{0,4}$/.test(digits) || Number(digits) > 65535) {
    throw new CocalcError(
      "ERR_PROXY_PORT",
      `${prefix}${digits || "…"}/ is not a port: use ${prefix}<1-65535>/`,
    );
  }
  return {
    port: Number(digits),
    base: `${mount}${prefix}${digits}/`,
    strip: prefix === STRIP_PREFIX,
  };
}

/** The cookie that opens one app (its name carries the prefix too: two paths, two cookies). */
export function appCookieName(t: ProxyTarget): string {
  return `${COOKIE_PREFIX}${t.strip ? "s" : "p"}${t.port}`;
}

export interface ProxyAuthContext {
  tokens: ProxyTokens;
  wsid: string;
  /** Whether browser sign-in `id` is still signed in. */
  signedIn: (id: string) => boolean;
  /** The user a sign-in belongs to (plus: "owner"). */
  userOf: (id: string) => string;
  /** Ports never proxied (the gateway's own: a request would come back to itself). */
  refusedPorts: ReadonlySet<number>;
  /** What comes before `/port/` (plus: nothing). */
  mount?: string;
  /**
   * The app, when the request's host names it (the hub: an app's own origin, its path the
   * app's own): the path then names no port.
   */
  target?: ProxyTarget;
  /** Where links are made, for the refusal's words (plus: "plus (Apps)"). */
  opener?: string;
  /**
   * The server speaks HTTPS: the cookie is `Secure`, so no plain-HTTP request to this host
   * (any port: cookies ignore it) carries it in the clear.
   */
  secure?: boolean;
}

export interface ProxyRequest {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  headers: IncomingHttpHeaders;
  upgrade: boolean;
}

export type ProxyDecision =
  | { kind: "pass"; target: ProxyTarget; claims: ProxyTokenClaims; upstreamUrl: string }
  | { kind: "exchange"; target: ProxyTarget; location: string; setCookie: string }
  | { kind: "refuse"; target?: ProxyTarget; error: CocalcError };

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The value of cookie `name` in the request's Cookie header. */
export function cookieValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const all = header(h, "cookie");
  if (!all) return undefined;
  for (const part of all.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function ourBearer(h: IncomingHttpHeaders): string | undefined {
  const m = /^Bearer (\S+)$/.exec((header(h, "authorization") ?? "").trim());
  return m?.[1]?.startsWith(TOKEN_PREFIX) ? m[1] : undefined;
}

/** Origin names this very server (the Host the request was sent to)? */
function sameOrigin(h: IncomingHttpHeaders): boolean | undefined {
  const origin = header(h, "origin");
  if (origin === undefined) return undefined;
  try {
    return new URL(origin).host === header(h, "host")?.toLowerCase();
  } catch {
    return false;
  }
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether `req` may reach its app, and how. Throws nothing: a refusal is a decision. */
export function authorizeProxied(req: ProxyRequest, ctx: ProxyAuthContext): ProxyDecision {
  const url = new URL(req.url, "http://x");
  let target = ctx.target;
  try {
    target ??= proxyTarget(url.pathname, ctx.mount);
  } catch (err) {
    return { kind: "refuse", error: err as CocalcError };
  }
  if (!target) {
    return { kind: "refuse", error: new CocalcError("ERR_GATEWAY_NOT_FOUND", "not a proxied app") };
  }
  if (ctx.refusedPorts.has(target.port)) {
    return {
      kind: "refuse",
      target,
      error: new CocalcError("ERR_PROXY_PORT", `port ${target.port} is this server's own`),
    };
  }
  const refuse = (code: "ERR_PROXY_AUTH" | "ERR_PROXY_TOKEN" | "ERR_PROXY_SITE", msg: string) =>
    ({ kind: "refuse", target, error: new CocalcError(code, msg) }) as const;
  const check = (token: string, kind: "link" | "cookie") => {
    const v = ctx.tokens.verify(token, { kind, wsid: ctx.wsid, port: target.port });
    if (!v.ok) return v;
    if (!ctx.signedIn(v.claims.session)) {
      return { ok: false as const, reason: "the browser that made it was signed out" };
    }
    if (ctx.userOf(v.claims.session) !== v.claims.user) {
      return { ok: false as const, reason: "the token is for another user" };
    }
    return v;
  };

  const params = url.searchParams.getAll(TOKEN_PARAM).filter((t) => t.startsWith(TOKEN_PREFIX));
  const given = ourBearer(req.headers) ?? (params.length === 1 ? params[0] : undefined);
  if (params.length > 1) return refuse("ERR_PROXY_TOKEN", "more than one token in the URL");
  if (given !== undefined) {
    const v = check(given, "link");
    if (!v.ok) return refuse("ERR_PROXY_TOKEN", `This link does not open the app: ${v.reason}.`);
    if (params.length === 1) {
      url.searchParams.delete(TOKEN_PARAM);
      if ((req.method === "GET" || req.method === "HEAD") && !req.upgrade) {
        const cookie = ctx.tokens.sign({ ...v.claims, kind: "cookie" }, PROXY_COOKIE_TTL_S);
        return {
          kind: "exchange",
          target,
          location: `${url.pathname}${url.search}`,
          setCookie: `${appCookieName(target)}=${cookie}; Path=${target.base}; Max-Age=${PROXY_COOKIE_TTL_S}; HttpOnly; SameSite=Strict${ctx.secure ? "; Secure" : ""}`,
        };
      }
    }
    return { kind: "pass", target, claims: v.claims, upstreamUrl: upstreamUrl(url, target) };
  }

  const cookie = cookieValue(req.headers, appCookieName(target));
  if (cookie === undefined) {
    return refuse(
      "ERR_PROXY_AUTH",
      `Not signed in to the app on port ${target.port}: open it from ${ctx.opener ?? "plus (Apps)"}, or with a link it made.`,
    );
  }
  const site = header(req.headers, "sec-fetch-site");
  const origin = sameOrigin(req.headers);
  if (req.upgrade || !SAFE.has(req.method)) {
    if (origin !== true) {
      return refuse(
        "ERR_PROXY_SITE",
        req.upgrade
          ? "A WebSocket to a proxied app must come from a page of this server (Origin)."
          : "A change to a proxied app must come from a page of this server (Origin).",
      );
    }
  }
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return refuse(
      "ERR_PROXY_SITE",
      `A request from a page of another site or port (Sec-Fetch-Site: ${site}) does not open a proxied app: use a link with a token.`,
    );
  }
  if (site === undefined && !req.upgrade) {
    return refuse(
      "ERR_PROXY_SITE",
      "This browser does not say where a request comes from (Sec-Fetch-Site): open plus on localhost or https, or send a token.",
    );
  }
  const v = check(cookie, "cookie");
  if (!v.ok)
    return refuse(
      "ERR_PROXY_AUTH",
      `Open the app again from ${ctx.opener ?? "plus"}: ${v.reason}.`,
    );
  return { kind: "pass", target, claims: v.claims, upstreamUrl: upstreamUrl(url, target) };
}

function upstreamUrl(url: URL, t: ProxyTarget): string {
  const path = t.strip ? url.pathname.slice(t.base.length - 1) : url.pathname;
  return `${path}${url.search}`;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1), never passed on by a proxy. */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function connectionTokens(h: IncomingHttpHeaders): Set<string> {
  return new Set(
    String(h.connection ?? "")
      .toLowerCase()
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * The headers the app gets, as raw name/value pairs in the client's order: without hop-by-hop
 * ones (an upgrade keeps `Connection: Upgrade` and `Upgrade`), without our token and our cookies
 * (the app never sees what opens it), with X-Forwarded-*. Host and Origin stay as the browser
 * sent them, so an app that checks Origin against Host (Jupyter) sees the page's own origin.
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  o: { upgrade: boolean; remoteAddress: string; target: ProxyTarget },
): string[] {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "connection") {
      for (const t of rawHeaders[i + 1]!.toLowerCase().split(",")) named.add(t.trim());
    }
  }
  const out: string[] = [];
  let host = "";
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    let value = rawHeaders[i + 1]!;
    if (lower === "host") host = value;
    if (HOP.has(lower) || (named.has(lower) && lower !== "upgrade")) continue;
    if (lower.startsWith("x-forwarded-")) continue;
    if (lower === "authorization" && /^Bearer cpx1\./.test(value.trim())) continue;
    if (lower === "cookie") {
      value = value
        .split(";")
        .filter((c) => !c.trim().startsWith(COOKIE_PREFIX))
        .join(";")
        .trim();
      if (value === "") continue;
    }
    out.push(name, value);
  }
  if (o.upgrade) out.push("Connection", "Upgrade", "Upgrade", "websocket");
  out.push("X-Forwarded-For", o.remoteAddress, "X-Forwarded-Proto", "http");
  if (host) out.push("X-Forwarded-Host", host);
  if (o.target.strip) out.push("X-Forwarded-Prefix", o.target.base.slice(0, -1));
  return out;
}

/**
 * The app's answer headers for the browser: without hop-by-hop ones (node frames the body
 * itself) and, for a stripped prefix, a redirect to an absolute path of the app kept inside it.
 */
export function downstreamHeaders(
  headers: IncomingHttpHeaders,
  target: ProxyTarget,
): Record<string, string | string[]> {
  const named = connectionTokens(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  const loc = out.location;
  if (target.strip && typeof loc === "string") {
    const abs = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d+)(\/.*)?$/.exec(loc);
    if (abs && Number(abs[2]) === target.port)
      out.location = `${target.base}${(abs[3] ?? "/").slice(1)}`;
    else if (loc.startsWith("/") && !loc.startsWith("//") && !loc.startsWith(target.base)) {
      out.location = `${target.base}${loc.slice(1)}`;
    }
  }
  return out;
}

/** A refusal or failure as a page (a browser navigated) or `{ code, message }`. */
export function errorAnswer(
  err: CocalcError,
  accept: string | undefined,
): { status: number; type: string; body: string } {
  if (accept?.includes("text/html")) {
    const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return {
      status: err.status,
      type: "text/html; charset=utf-8",
      body: `<!doctype html><meta charset="utf-8"><title>${esc(err.code)}</title><style>body{font:15px system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#eee;padding:0 .3em}</style><h1>${err.status === 502 ? "The app does not answer" : err.code === "ERR_WORKSPACE_STATE" ? "The workspace is not running" : "This app is not open to this page"}</h1><p>${esc(err.message)}</p><p><code>${esc(err.code)}</code></p>`,
    };
  }
  return {
    status: err.status,
    type: "application/json",
    body: JSON.stringify({ code: err.code, message: err.message }),
  };
}
