/**
 * Signed-in browsers. Signing in with the URL token makes a credential `<id>.<secret>` that the
 * page keeps in its origin's storage and sends itself (an Authorization header, a WebSocket
 * subprotocol): a browser sends it to no other server, whatever port that server listens on,
 * as it would a cookie. The server keeps only a hash of each secret, in a 0600 file (an
 * append-only journal, session-journal.ts), so a restart keeps browsers signed in and signing
 * out (one browser or all) takes effect at once. With limits (the hub's), a browser unused
 * for the idle time, or signed in longer than the lifetime, is signed out.
 *
 * Links that cannot carry a header (a download, opening a remote session in a new tab) get a
 * short-lived, single-use signature bound to the signed-in browser, the method and the URL.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { SignOutReason } from "../../shared/hub.js";
import {
  applyEntry,
  type JournalEntry,
  SessionJournal,
  type StoredSession,
} from "./session-journal.js";

/** What a signed-out browser held, for what must end with it. */
export interface SignedOut {
  id: string;
  subject?: string;
  natsKeys: readonly string[];
  why: SignOutReason;
}

/**
 * Browsers kept signed in per account (plus, with no accounts: in all); signing in one more
 * signs out that account's browser that signed in first, never another account's.
 */
export const MAX_SESSIONS = 200;

export interface SessionLimits {
  /** A browser not used this long is signed out (ms; default: never). */
  idleMs?: number;
  /** A browser is signed out this long after it signed in, used or not (ms; default: never). */
  lifetimeMs?: number;
  /** The clock (Unix ms); tests move it. */
  now?: () => number;
}

/** The hub's defaults: idle 30 days, at most 90 days after signing in. */
export const HUB_SESSION_IDLE_MS = 30 * 86_400_000;
export const HUB_SESSION_LIFETIME_MS = 90 * 86_400_000;

/** How stale a session's last use may be in the file (idle expiry counts from the file's). */
const SEEN_EVERY_MS = 3_600_000;

/** A signed link is valid this long. */
export const LINK_TTL_MS = 60_000;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function random(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

/** A session's id: the first part of its credential. */
export function newSessionId(): string {
  return random(12);
}

/** A credential's shape: two base64url parts; anything else is refused before any lookup. */
const CREDENTIAL = /^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;

export type RevokeListener = (ids: ReadonlySet<string> | "all", gone: readonly SignedOut[]) => void;

export class BrowserSessions {
  private readonly byId = new Map<string, StoredSession>();
  /** When each session was last used, to the ms (the file's `seen` lags by up to an hour). */
  private readonly lastUsed = new Map<string, number>();
  private readonly listeners = new Set<RevokeListener>();
  /** Signs links; a new key each start, so a restart ends every link (they live a minute). */
  private readonly linkKey = randomBytes(32);
  /** Nonces of links already used, with their expiry. */
  private readonly usedLinks = new Map<string, number>();
  private readonly now: () => number;

  private constructor(
    private readonly journal: SessionJournal | undefined,
    private readonly limits: SessionLimits,
  ) {
    this.now = limits.now ?? Date.now;
  }

  /**
   * The sessions kept in `file` (0600, an append-only journal: session-journal.ts); without
   * a file, in memory. Sessions past `limits` are signed out when next seen.
   */
  static async open(file?: string, limits: SessionLimits = {}): Promise<BrowserSessions> {
    if (!file) return new BrowserSessions(undefined, limits);
    const { journal, loaded } = await SessionJournal.open(file);
    const s = new BrowserSessions(journal, limits);
    for (const x of loaded.sessions) {
      s.byId.set(x.id, x);
      s.lastUsed.set(x.id, x.seen ?? Date.parse(x.created));
    }
    return s;
  }

  /**
   * A new signed-in browser; returns its credential (shown to that browser only, once). `id`:
   * one from `newSessionId()`, when its sign-in was recorded under it before.
   */
  async create(label: string, subject?: string, id = newSessionId()): Promise<string> {
    if (this.byId.has(id)) throw new Error("a session id is used once");
    const secret = random(32);
    const now = this.now();
    const session: StoredSession = {
      id,
      hash: sha256(secret).toString("hex"),
      created: new Date(now).toISOString(),
      label: label.slice(0, 200),
      ...(subject !== undefined && { subject }),
      seen: now,
    };
    const expired = [...this.byId.values()].filter((s) => this.expired(s, now));
    const tooMany: StoredSession[] = [];
    let kept = 1;
    for (const s of this.byId.values()) if (s.subject === subject && !expired.includes(s)) kept++;
    // Oldest first: a Map iterates in the order of signing in.
    for (const old of this.byId.values()) {
      if (kept <= MAX_SESSIONS) break;
      if (old.subject !== subject || expired.includes(old)) continue;
      tooMany.push(old);
      kept--;
    }
    if (expired.length > 0) await this.remove(expired, "expired");
    if (tooMany.length > 0) await this.remove(tooMany, "too-many");
    this.byId.set(id, session);
    this.lastUsed.set(id, now);
    try {
      await this.write({ op: "add", session });
    } catch (err) {
      // Never answered with its credential: it was not signed in.
      this.byId.delete(id);
      this.lastUsed.delete(id);
      throw err;
    }
    return `${id}.${secret}`;
  }

  /**
   * The session id of a valid credential, else undefined; a session past its limits is
   * signed out here. Using a session keeps it from going idle.
   */
  verify(credential: string | undefined): string | undefined {
    const m = credential ? CREDENTIAL.exec(credential) : null;
    if (!m) return undefined;
    const stored = this.byId.get(m[1]!);
    if (!stored) return undefined;
    const want = Buffer.from(stored.hash, "hex");
    if (!timingSafeEqual(want, sha256(m[2]!))) return undefined;
    const now = this.now();
    if (this.expired(stored, now)) {
      void this.remove([stored], "expired").catch(() => undefined);
      return undefined;
    }
    this.lastUsed.set(stored.id, now);
    if (now - (stored.seen ?? 0) >= SEEN_EVERY_MS) {
      stored.seen = now;
      // Losing this write only makes the session look idle sooner after a restart.
      void this.write({ op: "seen", id: stored.id, at: now }).catch(() => undefined);
    }
    return stored.id;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Who signed in with session `id` (a hub account), if it is still signed in. */
  subjectOf(id: string): string | undefined {
    return this.byId.get(id)?.subject;
  }

  /** Records a NATS user key minted for session `id`, to be revoked when it signs out. */
  async attachNatsKey(id: string, key: string): Promise<void> {
    const s = this.byId.get(id);
    if (!s || s.natsKeys?.includes(key)) return;
    // A page makes a new key when it loads: keep the newest few.
    const entry: JournalEntry = { op: "key", id, key };
    applyEntry(this.byId, entry);
    await this.write(entry);
  }

  /**
   * Signs out every browser of `subject` (a hub account: sign out everywhere, deletion, a
   * password reset), or every one but `keep` (its password changed in that browser).
   */
  async revokeSubject(subject: string, why: SignOutReason, keep?: string): Promise<void> {
    await this.remove(
      [...this.byId.values()].filter((s) => s.subject === subject && s.id !== keep),
      why,
    );
  }

  /** The sessions of `subject` (a hub account) with when each was last used (Unix ms). */
  sessionsOf(subject: string): { id: string; label: string; lastUsed: number }[] {
    return [...this.byId.values()]
      .filter((s) => s.subject === subject)
      .map((s) => ({
        id: s.id,
        label: s.label,
        lastUsed: this.lastUsed.get(s.id) ?? Date.parse(s.created),
      }));
  }

  /** The subjects (hub accounts) with a browser signed in. */
  subjects(): string[] {
    const out = new Set<string>();
    for (const s of this.byId.values()) if (s.subject !== undefined) out.add(s.subject);
    return [...out];
  }

  get size(): number {
    return this.byId.size;
  }

  /** Signs this browser out. */
  async revoke(id: string): Promise<void> {
    const s = this.byId.get(id);
    if (s) await this.remove([s], "signed-out");
  }

  /** Signs every browser out (sign out everywhere, a new token). */
  async revokeAll(): Promise<void> {
    const all = [...this.byId.values()];
    await this.remove(all, "everywhere", true);
    this.emit(all, "everywhere", true);
  }

  /** Waits for the writes under way (a last use being noted, say), before the file goes. */
  async close(): Promise<void> {
    await this.journal?.settled();
  }

  /** Called after browsers were signed out, e.g. to close their open sockets. */
  onRevoke(listener: RevokeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * `pathAndQuery` with a `link` parameter that lets a GET of exactly that URL through once,
   * within LINK_TTL_MS, while session `id` stays signed in.
   */
  signLink(id: string, pathAndQuery: string, now = Date.now()): string {
    const url = new URL(pathAndQuery, "http://x");
    url.searchParams.delete("link");
    const exp = (now + LINK_TTL_MS).toString(36);
    const nonce = random(12);
    const mac = this.linkMac(id, exp, nonce, url);
    url.searchParams.append("link", `${id}.${exp}.${nonce}.${mac}`);
    return `${url.pathname}${url.search}`;
  }

  /** The session id a GET's `link` parameter was signed for, using it up; else undefined. */
  useLink(pathAndQuery: string, now = Date.now()): string | undefined {
    const url = new URL(pathAndQuery, "http://x");
    const link = url.searchParams.getAll("link");
    if (link.length !== 1) return undefined;
    const parts = link[0]!.split(".");
    if (parts.length !== 4) return undefined;
    const [id, exp, nonce, mac] = parts as [string, string, string, string];
    url.searchParams.delete("link");
    const want = Buffer.from(this.linkMac(id, exp, nonce, url));
    const given = Buffer.from(mac);
    if (want.length !== given.length || !timingSafeEqual(want, given)) return undefined;
    const expires = Number.parseInt(exp, 36);
    this.sweepLinks(now);
    if (!(expires > now) || this.usedLinks.has(nonce) || !this.byId.has(id)) return undefined;
    this.usedLinks.set(nonce, expires);
    return id;
  }

  private linkMac(id: string, exp: string, nonce: string, url: URL): string {
    return createHmac("sha256", this.linkKey)
      .update(`GET\n${url.pathname}${url.search}\n${id}\n${exp}\n${nonce}`)
      .digest("base64url");
  }

  private sweepLinks(now: number): void {
    for (const [nonce, expires] of this.usedLinks) if (expires <= now) this.usedLinks.delete(nonce);
  }

  /** Whether `s` is past its idle time or its lifetime at `now`. */
  private expired(s: StoredSession, now: number): boolean {
    const { idleMs, lifetimeMs } = this.limits;
    const used = this.lastUsed.get(s.id) ?? s.seen ?? Date.parse(s.created);
    return (
      (idleMs !== undefined && now - used >= idleMs) ||
      (lifetimeMs !== undefined && now - Date.parse(s.created) >= lifetimeMs)
    );
  }

  /** Signs `gone` out: forgotten at once, written, then told to the listeners. */
  private async remove(
    gone: readonly StoredSession[],
    why: SignOutReason,
    quiet = false,
  ): Promise<void> {
    const here = gone.filter((s) => this.byId.get(s.id) === s);
    if (here.length === 0) return;
    for (const s of here) {
      this.byId.delete(s.id);
      this.lastUsed.delete(s.id);
    }
    await this.write({ op: "remove", ids: here.map((s) => s.id) });
    if (!quiet) this.emit(here, why);
  }

  private emit(gone: readonly StoredSession[], why: SignOutReason, all = false): void {
    const ids = all ? ("all" as const) : new Set(gone.map((s) => s.id));
    const out: SignedOut[] = gone.map((s) => ({
      id: s.id,
      ...(s.subject !== undefined && { subject: s.subject }),
      natsKeys: s.natsKeys ?? [],
      why,
    }));
    for (const listener of [...this.listeners]) listener(ids, out);
  }

  /**
   * Appends `entry` to the file (if any), compacting it when it has grown. The change is in
   * memory already, so a compaction (which writes what memory holds) never undoes it.
   */
  private async write(entry: JournalEntry): Promise<void> {
    const j = this.journal;
    if (!j) return;
    await j.append(entry);
    if (j.wantsCompaction(this.byId.size)) await j.compact(() => [...this.byId.values()]);
  }
}
