/**
 * Signed-in browsers. Signing in with the URL token makes a credential `<id>.<secret>` that the
 * page keeps in its origin's storage and sends itself (an Authorization header, a WebSocket
 * subprotocol): a browser sends it to no other server, whatever port that server listens on,
 * as it would a cookie. The server keeps only a hash of each secret, in a 0600 file, so a
 * restart keeps browsers signed in and signing out (one browser or all) takes effect at once.
 *
 * Links that cannot carry a header (a download, opening a remote session in a new tab) get a
 * short-lived, single-use signature bound to the signed-in browser, the method and the URL.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { writeSecretFile } from "../runtime/secret-file.js";

interface StoredSession {
  id: string;
  /** sha256 of the secret, hex. */
  hash: string;
  created: string;
  /** What the browser said it is when it signed in, for a list of signed-in browsers. */
  label: string;
  /** Who signed in (a hub account); plus has one user and leaves it out. */
  subject?: string;
  /** NATS user keys the hub minted credentials for in this browser (revoked when it leaves). */
  natsKeys?: string[];
}

/** What a signed-out browser held, for what must end with it. */
export interface SignedOut {
  id: string;
  subject?: string;
  natsKeys: readonly string[];
}

interface SessionsFile {
  v: 1;
  sessions: StoredSession[];
}

/**
 * Browsers kept signed in per account (plus, with no accounts: in all); signing in one more
 * signs out that account's browser that signed in first, never another account's.
 */
export const MAX_SESSIONS = 200;

/** A signed link is valid this long. */
export const LINK_TTL_MS = 60_000;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function random(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

/** A credential's shape: two base64url parts; anything else is refused before any lookup. */
const CREDENTIAL = /^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;

export type RevokeListener = (ids: ReadonlySet<string> | "all", gone: readonly SignedOut[]) => void;

export class BrowserSessions {
  private readonly byId = new Map<string, StoredSession>();
  private readonly listeners = new Set<RevokeListener>();
  /** Signs links; a new key each start, so a restart ends every link (they live a minute). */
  private readonly linkKey = randomBytes(32);
  /** Nonces of links already used, with their expiry. */
  private readonly usedLinks = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string | undefined) {}

  /** The sessions kept in `file` (0600; made on the first sign-in); without a file, in memory. */
  static async open(file?: string): Promise<BrowserSessions> {
    const s = new BrowserSessions(file);
    if (!file) return s;
    let parsed: SessionsFile | undefined;
    try {
      parsed = JSON.parse(await readFile(file, "utf8")) as SessionsFile;
    } catch (err) {
      // A damaged file signs everyone out, which is the safe side.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError))
        throw err;
    }
    for (const x of parsed?.v === 1 && Array.isArray(parsed.sessions) ? parsed.sessions : []) {
      if (
        typeof x?.id === "string" &&
        typeof x.hash === "string" &&
        /^[0-9a-f]{64}$/.test(x.hash) &&
        (x.subject === undefined || typeof x.subject === "string") &&
        (x.natsKeys === undefined ||
          (Array.isArray(x.natsKeys) && x.natsKeys.every((k) => typeof k === "string")))
      )
        s.byId.set(x.id, x);
    }
    return s;
  }

  /** A new signed-in browser; returns its credential (shown to that browser only, once). */
  async create(label: string, subject?: string): Promise<string> {
    const id = random(12);
    const secret = random(32);
    this.byId.set(id, {
      id,
      hash: sha256(secret).toString("hex"),
      created: new Date().toISOString(),
      label: label.slice(0, 200),
      ...(subject !== undefined && { subject }),
    });
    const dropped: StoredSession[] = [];
    let kept = 0;
    for (const s of this.byId.values()) if (s.subject === subject) kept++;
    // Oldest first: a Map iterates in the order of signing in.
    for (const old of this.byId.values()) {
      if (kept <= MAX_SESSIONS) break;
      if (old.subject !== subject) continue;
      this.byId.delete(old.id);
      dropped.push(old);
      kept--;
    }
    await this.save();
    if (dropped.length > 0) this.emit(dropped);
    return `${id}.${secret}`;
  }

  /** The session id of a valid credential, else undefined. */
  verify(credential: string | undefined): string | undefined {
    const m = credential ? CREDENTIAL.exec(credential) : null;
    if (!m) return undefined;
    const stored = this.byId.get(m[1]!);
    if (!stored) return undefined;
    const want = Buffer.from(stored.hash, "hex");
    return timingSafeEqual(want, sha256(m[2]!)) ? stored.id : undefined;
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
    s.natsKeys = [...(s.natsKeys ?? []), key].slice(-20);
    await this.save();
  }

  /**
   * Signs out every browser of `subject` (a hub account: sign out everywhere, deletion), or
   * every one but `keep` (its password changed in that browser).
   */
  async revokeSubject(subject: string, keep?: string): Promise<void> {
    const gone = [...this.byId.values()].filter((s) => s.subject === subject && s.id !== keep);
    if (gone.length === 0) return;
    for (const s of gone) this.byId.delete(s.id);
    await this.save();
    this.emit(gone);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Signs this browser out. */
  async revoke(id: string): Promise<void> {
    const s = this.byId.get(id);
    if (!s) return;
    this.byId.delete(id);
    await this.save();
    this.emit([s]);
  }

  /** Signs every browser out (sign out everywhere, a new token). */
  async revokeAll(): Promise<void> {
    const all = [...this.byId.values()];
    this.byId.clear();
    await this.save();
    this.emit(all, true);
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

  private emit(gone: readonly StoredSession[], all = false): void {
    const ids = all ? ("all" as const) : new Set(gone.map((s) => s.id));
    const out: SignedOut[] = gone.map((s) => ({
      id: s.id,
      ...(s.subject !== undefined && { subject: s.subject }),
      natsKeys: s.natsKeys ?? [],
    }));
    for (const listener of [...this.listeners]) listener(ids, out);
  }

  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const body: SessionsFile = { v: 1, sessions: [...this.byId.values()] };
    // One write at a time, each with the state as it is when it runs.
    this.writing = this.writing
      .catch(() => undefined)
      .then(() => writeSecretFile(file, `${JSON.stringify(body, null, 2)}\n`));
    return this.writing;
  }
}
