/**
 * Who may act. The app shell (the page and its static assets) is public: it holds no secret.
 * Everything else wants a signed-in browser's credential in `Authorization: Bearer …` (the
 * /nats WebSocket: in its subprotocol, see nats-proxy.ts), or, for the few GET routes a plain
 * link must open, a signed single-use `link` parameter. No cookie opens any of it: a browser
 * sends cookies to every port of a host, so another local server would receive them. (Proxied
 * apps are taken before these routes and check who may pass themselves: app-proxy.ts.)
 *
 * Signing in: the page reads `?token=` from its own URL, posts it to /api/auth/sign-in and
 * keeps the credential it gets back in its origin's storage (see docs/architecture.md,
 * "Security model").
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply } from "fastify";
import fp from "fastify-plugin";
import { CocalcError } from "../../shared/errors.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { checkOrigin } from "./security.js";

export const SIGN_IN_PATH = "/api/auth/sign-in";
export const SIGN_OUT_PATH = "/api/auth/sign-out";
export const LINK_PATH = "/api/auth/link";

export interface AuthOptions {
  sessions: BrowserSessions;
  /** The URL token of now (it changes when rotated); without it, no token sign-in (the hub). */
  token?: () => string;
  /** Paths that need no session (besides the app shell and sign-in). */
  publicPaths: ReadonlySet<string>;
  /** GET routes a signed link may open: path prefixes, or patterns of whole paths. */
  linkable: readonly (string | RegExp)[];
  /** After "sign out everywhere": what else must change (the browser's NATS password). */
  onSignOutEverywhere?: () => Promise<void>;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The signed-in browser that made the request (its session id). */
    browserSession?: string;
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The credential of an `Authorization: Bearer …` header, if any. */
export function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== "string") return undefined;
  const m = /^Bearer ([^\s]+)$/.exec(h.trim());
  return m?.[1];
}

/** The app shell: what a GET outside /api/ serves (index.html for deep links, assets). */
function isShell(method: string, path: string): boolean {
  return (method === "GET" || method === "HEAD") && !path.startsWith("/api/") && path !== "/api";
}

function isLinkable(linkable: AuthOptions["linkable"], path: string): boolean {
  return linkable.some((p) => (typeof p === "string" ? path.startsWith(p) : p.test(path)));
}

function refuse(reply: FastifyReply, err: CocalcError) {
  return reply
    .code(err.status)
    .header("Cache-Control", "no-store")
    .send({ code: err.code, message: err.message });
}

const SignInBody = Type.Object({ token: Type.String({ maxLength: 1024 }) });
const SignOutBody = Type.Object({ everywhere: Type.Optional(Type.Boolean()) });
const LinkBody = Type.Object({ url: Type.String({ minLength: 1, maxLength: 8192 }) });

export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, opts) => {
    const { sessions } = opts;
    app.decorateRequest("browserSession", undefined);

    app.addHook("onRequest", async (request, reply) => {
      const path = new URL(request.url, "http://x").pathname;
      if (opts.publicPaths.has(path) || isShell(request.method, path)) return;
      if (request.method === "POST" && path === SIGN_IN_PATH && opts.token) return;
      const given = bearer(request.raw);
      const id =
        given !== undefined
          ? sessions.verify(given)
          : request.method === "GET" && isLinkable(opts.linkable, path)
            ? sessions.useLink(request.url)
            : undefined;
      if (id === undefined) {
        return refuse(
          reply,
          new CocalcError(
            "ERR_GATEWAY_AUTH",
            given !== undefined || request.url.includes("link=")
              ? "This browser was signed out, or the link expired: open the URL with ?token=… that cocalc-plus printed."
              : "Not signed in: open the URL with ?token=… that cocalc-plus printed.",
          ),
        );
      }
      request.browserSession = id;
    });

    const token = opts.token;
    if (token)
      app.post<{ Body: Static<typeof SignInBody> }>(
        SIGN_IN_PATH,
        { schema: { body: SignInBody } },
        async (request, reply) => {
          // A sign-in only from a page of this very server (not from a form on another site).
          checkOrigin(request.raw, true);
          if (!equal(request.body.token, token())) {
            return refuse(
              reply,
              new CocalcError(
                "ERR_GATEWAY_TOKEN",
                "The token in this URL is wrong: open the URL that cocalc-plus printed (`cocalc-plus token` prints it again).",
              ),
            );
          }
          const credential = await sessions.create(request.headers["user-agent"] ?? "");
          return reply.header("Cache-Control", "no-store").send({ credential });
        },
      );

    app.post<{ Body: Static<typeof SignOutBody> }>(
      SIGN_OUT_PATH,
      { schema: { body: SignOutBody } },
      async (request, reply) => {
        const id = request.browserSession!;
        const subject = sessions.subjectOf(id);
        if (!request.body.everywhere) await sessions.revoke(id);
        // A hub account signs out its own browsers; plus's one user, every browser.
        else if (subject !== undefined) await sessions.revokeSubject(subject, "everywhere");
        else {
          await sessions.revokeAll();
          await opts.onSignOutEverywhere?.();
        }
        return reply.header("Cache-Control", "no-store").send({ ok: true });
      },
    );

    app.post<{ Body: Static<typeof LinkBody> }>(
      LINK_PATH,
      { schema: { body: LinkBody } },
      async (request, reply) => {
        const url = request.body.url;
        const path = url.startsWith("/") && !url.startsWith("//") ? url.split("?")[0]! : "";
        if (!isLinkable(opts.linkable, path)) {
          throw new CocalcError("ERR_GATEWAY_LINK", `no link can be made for ${path || url}`);
        }
        return reply
          .header("Cache-Control", "no-store")
          .send({ url: sessions.signLink(request.browserSession!, url) });
      },
    );
  },
  { name: "auth" },
);
