/**
 * The pages a page has heard on the workspace's presence subjects, pure: messages in (with
 * the account their subject names and the time they came), the pages present out. A message
 * that is too big, not JSON or not of the schema is ignored; a leave removes only the page
 * whose secret it reveals; a page unheard for a few beats expires. The roster is bounded,
 * per account and in all, so a flood of made-up pages cannot grow it or crowd out the others.
 */
import { Value } from "@sinclair/typebox/value";
import {
  MAX_PRESENCE_BYTES,
  PRESENCE_AWAY_EXPIRE_MS,
  PRESENCE_EXPIRE_MS,
  type PresenceMessage,
  PresenceMessageSchema,
  type PresenceWhere,
  pageIdOf,
} from "../../../shared/presence.js";

/** Pages one account may have in the roster. */
export const MAX_PAGES_PER_ACCOUNT = 16;
/** Pages the roster holds in all. */
export const MAX_PAGES = 256;
/** Left pages remembered, so a beat that arrives after a page's leave does not revive it. */
const MAX_LEFT = 256;

/** A page that is here, as it said. */
export interface PresentPage {
  /** Account and page id: unique in the roster. */
  key: string;
  page: string;
  /** The account its subject names (on launchpad vouched for by the hub's permissions). */
  account: string;
  name: string;
  color: string;
  where: PresenceWhere;
  away: boolean;
  /** When it was last heard (ms, the receiver's clock). */
  seen: number;
}

/** What one message did: changed the roster, and whether it asked to be answered. */
export interface Received {
  changed: boolean;
  hello: boolean;
}

const IGNORED: Received = { changed: false, hello: false };
const decoder = new TextDecoder();

/** A presence message, or undefined when it is not one (too big, not JSON, not the schema). */
export function parsePresence(data: Uint8Array | string): PresenceMessage | undefined {
  const size = typeof data === "string" ? data.length : data.byteLength;
  if (size > MAX_PRESENCE_BYTES) return undefined;
  try {
    const value: unknown = JSON.parse(typeof data === "string" ? data : decoder.decode(data));
    return Value.Check(PresenceMessageSchema, value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export class PresenceRoster {
  private readonly pages = new Map<string, PresentPage>();
  /** Ids of pages that left: their secret is out, so the id is spent. */
  private readonly left = new Set<string>();

  /** `self` is this page's own id: its echoes are not others. */
  constructor(private readonly self: string) {}

  /** Takes in what came on the subject of `account` at `now`. */
  receive(account: string | undefined, data: Uint8Array | string, now: number): Received {
    if (account === undefined) return IGNORED;
    const m = parsePresence(data);
    if (!m || m.page === this.self) return IGNORED;
    const key = `${account}/${m.page}`;
    if (this.left.has(key)) return IGNORED;
    if (m.kind === "left") {
      if (pageIdOf(m.key) !== m.page) return IGNORED;
      this.left.add(key);
      if (this.left.size > MAX_LEFT) this.left.delete(this.left.values().next().value!);
      return { changed: this.pages.delete(key), hello: false };
    }
    const known = this.pages.get(key);
    if (!known && !this.hasRoom(account)) return IGNORED;
    const next: PresentPage = {
      key,
      page: m.page,
      account,
      name: m.name,
      color: m.color,
      where: m.where,
      away: m.away === true,
      seen: now,
    };
    this.pages.set(key, next);
    return { changed: !known || !samePage(known, next), hello: m.hello === true };
  }

  /** Drops the pages not heard in time; true when one went. */
  expire(now: number): boolean {
    let changed = false;
    for (const [key, p] of this.pages) {
      const ttl = p.away ? PRESENCE_AWAY_EXPIRE_MS : PRESENCE_EXPIRE_MS;
      if (now - p.seen > ttl) changed = this.pages.delete(key) || changed;
    }
    return changed;
  }

  /** The pages here, by name. */
  list(): PresentPage[] {
    return [...this.pages.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key),
    );
  }

  private hasRoom(account: string): boolean {
    if (this.pages.size >= MAX_PAGES) return false;
    let mine = 0;
    for (const p of this.pages.values()) if (p.account === account) mine++;
    return mine < MAX_PAGES_PER_ACCOUNT;
  }
}

function samePage(a: PresentPage, b: PresentPage): boolean {
  return (
    a.name === b.name &&
    a.color === b.color &&
    a.away === b.away &&
    a.where.tab === b.where.tab &&
    a.where.path === b.where.path &&
    a.where.thread === b.where.thread
  );
}
