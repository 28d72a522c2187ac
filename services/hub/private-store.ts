/**
 * What identifies a person, kept apart from the event history: an account's email and
 * password hash, the email → account index, invite secrets (the hub's sign-up invites and
 * workspaces' invite links), the hashes of its reset links, agents' API keys (sealed) and SSH
 * public keys. KV
 * `hub-private` keeps two
 * revisions; every write erases the revision before it in place (nats-server overwrites the
 * message on disk), and deleting an account erases every revision of its keys. So what is
 * deleted is gone from the store's files, not only hidden.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV, Kvm } from "@nats-io/kv";
import { bytesToBase64url } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import { HubBuckets } from "../../shared/hub.js";
import { bucketStream } from "../../shared/subjects.js";

export interface PrivateAccount {
  email: string;
  passwordHash: string;
}

/** What the store keeps of a secret (a token, an invite's): its SHA-256, hex. */
export const secretHash = (text: string) => createHash("sha256").update(text).digest("hex");

/** Whether two hashes are the same, in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Emails compare case-insensitively and without surrounding space. */
export function normalEmail(email: string): string {
  return email.trim().toLowerCase();
}

const accountKey = (id: string) => `account.${id}`;
const emailKey = (email: string) =>
  `email.${bytesToBase64url(new TextEncoder().encode(normalEmail(email)))}`;
const inviteKey = (id: string) => `invite.${id}`;
/** Where the sealed agent API keys of an account, or of a workspace, are kept. */
export const agentKeysKey = (scope: { account: string } | { wsid: string }) =>
  "account" in scope ? `agentkeys.account.${scope.account}` : `agentkeys.ws.${scope.wsid}`;
/** Where an account's SSH public keys are kept. */
const sshKeysKey = (account: string) => `sshkeys.${account}`;

/** An SSH public key of an account, as the store keeps it. */
export interface StoredSshKey {
  name: string;
  type: string;
  /** The key's wire form (base64), as OpenSSH's second field. */
  data: string;
  fingerprint: string;
  added: string;
}
/** A workspace invite link's: apart from the hub's sign-up invites, so neither works as the other. */
const workspaceInviteKey = (id: string) => `wsinvite.${id}`;

/** Where a workspace invite link leads, and its secret's hash. */
export interface WorkspaceInviteSecret {
  wsid: string;
  hash: string;
}
const resetKey = (id: string) => `reset.${id}`;
/** A port's public link: the sha256 (hex) of its secret. */
const portShareKey = (wsid: string, port: number) => `portshare.${wsid}.${port}`;

/** An account's newest reset links: the sha256 (hex) of each one's secret, by its number. */
export type StoredResetLinks = Record<string, string>;

/** Reset links whose hash is kept (older ones are refused as not valid). */
const RESET_LINKS_KEPT = 5;

export class PrivateStore {
  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(kvm: Kvm, jsm: JetStreamManager): Promise<PrivateStore> {
    return new PrivateStore(await kvm.open(HubBuckets.private), jsm);
  }

  /** The account that has `email`, if any. */
  async accountOfEmail(email: string): Promise<string | undefined> {
    const e = await this.kv.get(emailKey(email));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<{ id: string }>().id : undefined;
  }

  async account(id: string): Promise<PrivateAccount | undefined> {
    const e = await this.kv.get(accountKey(id));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<PrivateAccount>() : undefined;
  }

  /**
   * Claims `email` for account `id` (atomically: two sign-ups with one email, one wins), then
   * stores the account's record. Throws ERR_HUB_EMAIL_TAKEN.
   */
  async create(id: string, record: PrivateAccount): Promise<void> {
    try {
      await this.kv.create(emailKey(record.email), JSON.stringify({ id }));
    } catch {
      // create fails when the key exists (also after a purge: then it is free again)
      const owner = await this.accountOfEmail(record.email);
      if (owner !== undefined)
        throw new CocalcError("ERR_HUB_EMAIL_TAKEN", "an account with this email exists");
      await this.write(emailKey(record.email), JSON.stringify({ id }));
    }
    await this.write(
      accountKey(id),
      JSON.stringify({ ...record, email: normalEmail(record.email) }),
    );
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    const current = await this.account(id);
    if (!current) throw new CocalcError("ERR_HUB_ACCOUNT_NOT_FOUND", "no such account");
    await this.write(accountKey(id), JSON.stringify({ ...current, passwordHash }));
  }

  /** The account's SSH public keys. */
  async sshKeys(account: string): Promise<StoredSshKey[]> {
    const e = await this.kv.get(sshKeysKey(account));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<StoredSshKey[]>() : [];
  }

  /** Replaces the account's SSH public keys (none: erased). */
  async setSshKeys(account: string, keys: StoredSshKey[]): Promise<void> {
    if (keys.length === 0) await this.eraseKey(sshKeysKey(account));
    else await this.write(sshKeysKey(account), JSON.stringify(keys));
  }

  /** Erases the account's email, hash, index entry, agent and SSH keys from the store's files. */
  async erase(id: string): Promise<void> {
    const current = await this.account(id);
    const keys = [
      accountKey(id),
      resetKey(id),
      agentKeysKey({ account: id }),
      sshKeysKey(id),
      ...(current ? [emailKey(current.email)] : []),
    ];
    for (const key of keys) await this.eraseKey(key);
  }

  async inviteHash(id: string): Promise<string | undefined> {
    const e = await this.kv.get(inviteKey(id));
    return e && e.operation === "PUT" && e.length > 0 ? e.string() : undefined;
  }

  async setInviteHash(id: string, hash: string): Promise<void> {
    await this.write(inviteKey(id), hash);
  }

  async eraseInvite(id: string): Promise<void> {
    await this.eraseKey(inviteKey(id));
  }

  /** A value sealed by its owner (services/hub/sealed.ts), e.g. at agentKeysKey(). */
  async sealed(key: string): Promise<string | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === "PUT" && e.length > 0 ? e.string() : undefined;
  }

  /** Stores a sealed value; empty erases it. */
  async setSealed(key: string, value: string): Promise<void> {
    if (value === "") await this.eraseKey(key);
    else await this.write(key, value);
  }

  async workspaceInvite(id: string): Promise<WorkspaceInviteSecret | undefined> {
    const e = await this.kv.get(workspaceInviteKey(id));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<WorkspaceInviteSecret>() : undefined;
  }

  async setWorkspaceInvite(id: string, secret: WorkspaceInviteSecret): Promise<void> {
    await this.write(workspaceInviteKey(id), JSON.stringify(secret));
  }

  /** A spent or revoked link's hash is erased: the token no longer matches anything. */
  async eraseWorkspaceInvite(id: string): Promise<void> {
    await this.eraseKey(workspaceInviteKey(id));
  }

  /** The hash of the secret of workspace `wsid`'s public link for `port`, while it is shared. */
  async portShareHash(wsid: string, port: number): Promise<string | undefined> {
    const e = await this.kv.get(portShareKey(wsid, port));
    return e && e.operation === "PUT" && e.length > 0 ? e.string() : undefined;
  }

  async setPortShare(wsid: string, port: number, hash: string): Promise<void> {
    await this.write(portShareKey(wsid, port), hash);
  }

  /** A revoked link's hash is erased: its secret opens nothing. */
  async erasePortShare(wsid: string, port: number): Promise<void> {
    await this.eraseKey(portShareKey(wsid, port));
  }

  /** The hash of the secret of the account's reset link number `n`, if it is kept. */
  async resetLinkHash(id: string, n: number): Promise<string | undefined> {
    const e = await this.kv.get(resetKey(id));
    const links = e && e.operation === "PUT" && e.length > 0 ? e.json<StoredResetLinks>() : {};
    return Object.hasOwn(links, String(n)) ? links[String(n)] : undefined;
  }

  /** Keeps the hash of reset link `n`, with those of the few before it. */
  async addResetLink(id: string, n: number, hash: string): Promise<void> {
    const e = await this.kv.get(resetKey(id));
    const links = e && e.operation === "PUT" && e.length > 0 ? e.json<StoredResetLinks>() : {};
    const kept = Object.entries({ ...links, [String(n)]: hash })
      .sort(([a], [b]) => Number(b) - Number(a))
      .slice(0, RESET_LINKS_KEPT);
    await this.write(resetKey(id), JSON.stringify(Object.fromEntries(kept)));
  }

  /** Puts a value, then erases the revision it replaced. */
  private async write(key: string, value: string): Promise<void> {
    const before = await this.kv.get(key);
    await this.kv.put(key, value);
    if (before && before.revision > 0) await this.eraseSeq(before.revision);
  }

  private async eraseKey(key: string): Promise<void> {
    const seqs: number[] = [];
    const history = await this.kv.history({ key });
    for await (const e of history) seqs.push(e.revision);
    for (const seq of seqs) await this.eraseSeq(seq);
    await this.kv.purge(key);
    // The purge marker itself holds no value; drop it too so the key leaves no trace.
    const marker = await this.kv.get(key);
    if (marker) await this.eraseSeq(marker.revision);
  }

  private async eraseSeq(seq: number): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(bucketStream(HubBuckets.private), seq, true);
    } catch (err) {
      // Already gone (a limit dropped it, or an earlier erase): nothing left to erase.
      if (!/no message found|10037/i.test(String((err as Error).message))) throw err;
    }
  }
}
