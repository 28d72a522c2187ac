/**
 * Signed tokens for proxied apps (`/port/<n>/`): HMAC-SHA256 with a key kept in the data dir
 * (0600), bound to a user, a workspace, a port and the browser sign-in that asked for them, so
 * signing that browser out ends them. Two kinds: a `link` (default 300 s, for another tab or
 * tool: `Authorization: Bearer` or `?token=`) and the `cookie` a link is exchanged for (the
 * one thing a top-level navigation can carry; see app-proxy-request.ts for what else it needs).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { writeSecretFile } from "../runtime/secret-file.js";

export const PROXY_TOKEN_TTL_S = 300;
export const PROXY_TOKEN_MAX_TTL_S = 7 * 86_400;
/** How long the cookie a link is exchanged for opens its app. */
export const PROXY_COOKIE_TTL_S = 12 * 3600;

export type ProxyTokenKind = "link" | "cookie";

export interface ProxyTokenClaims {
  kind: ProxyTokenKind;
  /** The user (plus: "owner"; the hub: the account id). */
  user: string;
  wsid: string;
  port: number;
  /** The browser sign-in that asked for it. */
  session: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Why a token was refused, in words a person can act on. */
export type ProxyTokenVerdict =
  | { ok: true; claims: ProxyTokenClaims }
  | { ok: false; reason: string };

const PREFIX = "cpx1";
const KEY_BYTES = 32;

export class ProxyTokens {
  private constructor(
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  /** The key in `file` (made, 0600, when missing); without a file, a key of this run only. */
  static async open(file?: string, now: () => number = Date.now): Promise<ProxyTokens> {
    if (!file) return new ProxyTokens(randomBytes(KEY_BYTES), now);
    let key: Buffer | undefined;
    try {
      const text = (await readFile(file, "utf8")).trim();
      const k = Buffer.from(text, "base64url");
      if (k.length === KEY_BYTES) key = k;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (!key) {
      key = randomBytes(KEY_BYTES);
      await writeSecretFile(file, `${key.toString("base64url")}\n`);
    }
    return new ProxyTokens(key, now);
  }

  /** A token of `claims` without `exp`, valid `ttlS` seconds from now. */
  sign(claims: Omit<ProxyTokenClaims, "exp">, ttlS: number): string {
    const full: ProxyTokenClaims = { ...claims, exp: Math.floor(this.now() / 1000) + ttlS };
    const body = Buffer.from(
      JSON.stringify([full.kind, full.user, full.wsid, full.port, full.session, full.exp]),
    ).toString("base64url");
    return `${PREFIX}.${body}.${this.mac(body)}`;
  }

  /** The claims of a token this key signed, unexpired and for `want`; else why not. */
  verify(
    token: string,
    want: { kind: ProxyTokenKind; wsid: string; port: number; user?: string },
  ): ProxyTokenVerdict {
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== PREFIX || token.length > 2048) {
      return { ok: false, reason: "not a token of this plus" };
    }
    const [, body, mac] = parts as [string, string, string];
    const expect = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expect.length !== given.length || !timingSafeEqual(expect, given)) {
      return { ok: false, reason: "the token's signature is wrong (forged, or from another plus)" };
    }
    let claims: ProxyTokenClaims;
    try {
      const [kind, user, wsid, port, session, exp] = JSON.parse(
        Buffer.from(body, "base64url").toString("utf8"),
      ) as [ProxyTokenKind, string, string, number, string, number];
      claims = { kind, user, wsid, port, session, exp };
    } catch {
      return { ok: false, reason: "the token is damaged" };
    }
    if (claims.kind !== want.kind) return { ok: false, reason: `not a ${want.kind} token` };
    if (!(claims.exp * 1000 > this.now())) return { ok: false, reason: "the token expired" };
    if (claims.wsid !== want.wsid)
      return { ok: false, reason: "the token is for another workspace" };
    if (claims.port !== want.port) {
      return { ok: false, reason: `the token is for port ${claims.port}, not ${want.port}` };
    }
    if (want.user !== undefined && claims.user !== want.user) {
      return { ok: false, reason: "the token is for another user" };
    }
    return { ok: true, claims };
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(`${PREFIX}.${body}`).digest("base64url");
  }
}
