/**
 * Per-user NATS credentials of the launchpad hub: browsers get short-lived user JWTs whose
 * permissions come from their account's memberships; revoking a browser key (or every key of
 * an account) updates the account JWT's revocations and pushes it to nats-server through the
 * system account, which closes the revoked connections at once. When an account's role in a
 * workspace changes or ends, the JWTs that reached that workspace are revoked the same way;
 * those keys may be minted for again (a JWT issued after the revocation is valid), with what
 * the account still has.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConnectionType } from "@nats-io/jwt";
import type { NatsConnection } from "@nats-io/nats-core";
import { createAccount, createUser } from "@nats-io/nkeys";
import { CocalcError } from "../../shared/errors.js";
import { browserUserName } from "../../shared/hub.js";
import {
  browserUserPermissions,
  type Membership,
  userInboxPrefix,
} from "../../shared/hub-permissions.js";
import { RegistrySubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import type { LeafAccount, Placement } from "./leaf-accounts.js";
import {
  accountJwt,
  accountUserJwt,
  encodeLeafUser,
  type HubKeyPairs,
  leafAccountJwt,
  loadOrCreateHubKeys,
  operatorJwt,
  servicesUserJwt,
  systemAccountJwt,
  systemUserJwt,
} from "./nats-keys.js";

/** A browser JWT lives this long unless asked otherwise; the page refreshes it before. */
export const DEFAULT_USER_TTL_S = 600;
/** The longest a browser JWT may live: also how long a revocation must be kept. */
export const MAX_USER_TTL_S = 3600;

export const USERS_FILE = "nats-users.json";

/** What the hub remembers about browser keys: who they were minted for, which are revoked. */
interface UsersState {
  /** User public key → revoke every JWT of it issued at or before (unix seconds). */
  revoked: Record<string, number>;
  /**
   * User public key → the account it was minted for, its newest JWT's expiry (unix s), and
   * the workspaces that JWT reaches.
   */
  minted: Record<string, { accountId: string; exp: number; wsids?: string[]; issued?: number }>;
  /**
   * Keys revoked because their account's access to a workspace changed (unix s, as in
   * `revoked`): unlike a signed-out key, each may be minted for again.
   */
  changed?: Record<string, number>;
  /** Joined hosts' leaf accounts: what the hub's account imports from. */
  leafs?: LeafAccount[];
  /** Workspaces placed on joined hosts: their subjects are imported from their host's account. */
  placements?: Placement[];
}

export interface MintRequest {
  /** The browser's own nkey public key ("U…"); its seed never leaves the page. */
  userNkeyPublic: string;
  /** The launchpad account the browser is signed in as. */
  accountId: string;
  memberships: readonly Membership[];
  /** Default DEFAULT_USER_TTL_S, at most MAX_USER_TTL_S. */
  ttlSeconds?: number;
  /** Default websocket only: a browser's JWT is useless on the client or leaf listener. */
  connectionTypes?: readonly ConnectionType[];
}

export interface MintedUser {
  jwt: string;
  /** The inbox prefix the browser must connect with (`inboxPrefix`). */
  inboxPrefix: string;
  /** Unix seconds. */
  expiresAt: number;
}

/** A user JWT and the seed that answers the server's challenge for it. */
export interface UserCredentials {
  jwt: string;
  seed: Uint8Array;
}

export interface HubNatsAuthOptions {
  /** Where the keys (0600) and the users' state live. */
  dir: string;
  /** The hub's JetStream domain (the account's own view lives there). */
  hubDomain: string;
  /** Services' durable consumer names, which browsers may not touch. */
  durables?: readonly string[];
  log: Logger;
  /** Milliseconds since the epoch (tests move time). */
  now?: () => number;
}

const CLAIMS_UPDATE = "$SYS.REQ.CLAIMS.UPDATE";

/**
 * Resolves once the wall clock's second is past `unixS` (JWTs carry the real time). A timer
 * counts from the event loop's cached time, so on a busy loop it fires before the wall clock
 * got there: the clock is asked again after each wait.
 */
async function waitUntilAfter(unixS: number): Promise<void> {
  for (;;) {
    const ms = (unixS + 1) * 1000 - Date.now();
    if (ms <= 0) return;
    await new Promise((r) => setTimeout(r, ms));
  }
}

export class HubNatsAuth {
  private system: NatsConnection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  private constructor(
    private readonly keys: HubKeyPairs,
    private readonly opts: HubNatsAuthOptions,
    private state: UsersState,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Loads (or makes, once) the keys in `opts.dir` and the users' state. */
  static async open(opts: HubNatsAuthOptions): Promise<HubNatsAuth> {
    const keys = await loadOrCreateHubKeys(opts.dir);
    let state: UsersState = { revoked: {}, minted: {} };
    try {
      const read = JSON.parse(await readFile(join(opts.dir, USERS_FILE), "utf8")) as UsersState;
      if (read && typeof read.revoked === "object" && typeof read.minted === "object") state = read;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        opts.log.warn({ err }, "the hub's NATS users file is unreadable; starting without it");
    }
    return new HubNatsAuth(keys, opts, state);
  }

  get accountPublicKey(): string {
    return this.keys.account.getPublicKey();
  }

  get systemAccountPublicKey(): string {
    return this.keys.systemAccount.getPublicKey();
  }

  operatorJwt(): Promise<string> {
    return operatorJwt(this.keys);
  }

  /** The account JWTs nats-server starts with: SYS, and the account with today's revocations. */
  async preload(): Promise<Record<string, string>> {
    this.prune();
    return {
      [this.systemAccountPublicKey]: await systemAccountJwt(this.keys),
      [this.accountPublicKey]: await this.hubAccountJwt(),
      ...Object.fromEntries(
        await Promise.all(
          this.leafs().map(async (l) => [l.account, await leafAccountJwt(this.keys, l)]),
        ),
      ),
    };
  }

  private hubAccountJwt(): Promise<string> {
    return accountJwt(this.keys, this.state.revoked, this.leafs(), this.state.placements ?? []);
  }

  /**
   * Makes exactly these workspaces reachable on their hosts (for their members' browsers):
   * the hub's account JWT is pushed again with their imports. Unchanged placements push
   * nothing.
   */
  setPlacements(placements: readonly Placement[]): Promise<void> {
    return this.serially(async () => {
      const next = [...placements]
        .map((p) => ({ wsid: p.wsid, hostId: p.hostId }))
        .sort((a, b) => a.wsid.localeCompare(b.wsid));
      if (JSON.stringify(next) === JSON.stringify(this.state.placements ?? [])) return;
      this.state.placements = next;
      await this.save();
      await this.push(await this.hubAccountJwt());
    });
  }

  /** The joined hosts' leaf accounts the hub's account imports from. */
  leafs(): readonly LeafAccount[] {
    return this.state.leafs ?? [];
  }

  /**
   * Makes exactly these leaf accounts reachable: each one's JWT is pushed, then the hub's
   * account with its imports of them. A leaf account left out stays on nats-server, but
   * nothing imports from it or exports to it: a leaf still connected there reaches nothing.
   */
  setLeafs(leafs: readonly LeafAccount[]): Promise<void> {
    return this.serially(async () => {
      this.state.leafs = leafs.map((l) => ({ ...l }));
      await this.save();
      for (const l of leafs) await this.push(await leafAccountJwt(this.keys, l));
      await this.push(await this.hubAccountJwt());
    });
  }

  /**
   * A new leaf login for host `hostId`: an account of its own (its key is thrown away once the
   * user is signed: the hub signs the account's JWT with the operator's key) and a user in it
   * that only a leaf node connection may use. Not reachable until given to setLeafs().
   */
  async newLeafLogin(hostId: string): Promise<{ account: string } & UserCredentials> {
    const account = createAccount();
    const user = createUser();
    const jwt = await encodeLeafUser(hostId, user.getPublicKey(), account);
    return { account: account.getPublicKey(), jwt, seed: user.getSeed() };
  }

  /**
   * The login a registration token carries: it may only ask `hostjoin.<tokenId>` and hear the
   * answer on its inbox, over a client connection, until `until` (the token's expiry and a
   * grace period, so a late join hears why it is refused).
   */
  async joinLogin(tokenId: string, until: Date): Promise<UserCredentials> {
    const user = createUser();
    const jwt = await accountUserJwt(
      this.keys,
      `join ${tokenId}`,
      user.getPublicKey(),
      {
        pub: { allow: [RegistrySubjects.join(tokenId)] },
        sub: { allow: [`${RegistrySubjects.joinInbox(tokenId)}.>`] },
        bearer_token: false,
        allowed_connection_types: ["STANDARD"],
      },
      Math.floor(until.getTime() / 1000),
    );
    return { jwt, seed: user.getSeed() };
  }

  /** The hub services' login: every subject of the account. */
  async servicesCredentials(): Promise<UserCredentials> {
    return { jwt: await servicesUserJwt(this.keys), seed: this.keys.servicesUser.getSeed() };
  }

  /** The system user's login, for the connection given to attach(). */
  async systemCredentials(): Promise<UserCredentials> {
    return { jwt: await systemUserJwt(this.keys), seed: this.keys.systemUser.getSeed() };
  }

  /** The system user's connection that pushes account JWTs; its owner closes it. */
  attach(system: NatsConnection): void {
    this.system = system;
  }

  /** A user JWT for a browser, signed by the account's signing key. */
  async mintUserJwt(req: MintRequest): Promise<MintedUser> {
    const ttl = req.ttlSeconds ?? DEFAULT_USER_TTL_S;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_USER_TTL_S)
      throw new CocalcError(
        "ERR_HUB_NATS_INPUT",
        `ttlSeconds must be a whole number from 1 to ${MAX_USER_TTL_S}`,
      );
    const types = req.connectionTypes ?? ["WEBSOCKET"];
    if (!Array.isArray(types) || types.length === 0)
      throw new CocalcError("ERR_HUB_NATS_INPUT", "connectionTypes must name at least one type");
    // Throws ERR_HUB_NATS_INPUT on a bad key, account, workspace, role or domain.
    const perms = browserUserPermissions({
      accountId: req.accountId,
      userNkeyPublic: req.userNkeyPublic,
      memberships: req.memberships,
      hubDomain: this.opts.hubDomain,
      durables: this.opts.durables ?? [],
    });
    return this.serially(async () => {
      const revokedAt = this.state.revoked[req.userNkeyPublic];
      if (revokedAt !== undefined) {
        if (this.state.changed?.[req.userNkeyPublic] !== revokedAt)
          throw new CocalcError("ERR_HUB_NATS_REVOKED", "this browser key was revoked");
        // nats-server refuses a JWT issued in the second of its key's revocation or before.
        await waitUntilAfter(revokedAt);
      }
      const exp = Math.floor(this.now() / 1000) + ttl;
      const jwt = await accountUserJwt(
        this.keys,
        browserUserName(req.accountId),
        req.userNkeyPublic,
        {
          pub: perms.pub,
          sub: perms.sub,
          bearer_token: false,
          allowed_connection_types: [...types],
        },
        exp,
      );
      this.state.minted[req.userNkeyPublic] = {
        accountId: req.accountId,
        exp,
        wsids: req.memberships.map((m) => m.wsid),
        issued: Math.floor(Date.now() / 1000),
      };
      await this.save();
      return { jwt, inboxPrefix: userInboxPrefix(req.userNkeyPublic), expiresAt: exp };
    });
  }

  /** The account browser key `userNkeyPublic` was minted for, while a JWT of it is valid. */
  accountOfKey(userNkeyPublic: string): string | undefined {
    const m = this.state.minted[userNkeyPublic];
    if (!m || m.exp < Math.floor(this.now() / 1000)) return undefined;
    const revokedAt = this.state.revoked[userNkeyPublic];
    // A key revoked when its access changed counts again once minted for anew.
    if (
      revokedAt !== undefined &&
      !(this.state.changed?.[userNkeyPublic] === revokedAt && (m.issued ?? 0) > revokedAt)
    )
      return undefined;
    return m.accountId;
  }

  /** Revokes one browser key at once: its open connections are closed, its JWTs refused. */
  revokeUser(userNkeyPublic: string): Promise<void> {
    userInboxPrefix(userNkeyPublic); // validates the key
    return this.serially(() => this.revoke([userNkeyPublic]));
  }

  /** Revokes every browser key minted for `accountId` (sign out everywhere, account removed). */
  revokeAccount(accountId: string): Promise<number> {
    return this.serially(async () => {
      const nowS = Math.floor(this.now() / 1000);
      const keys = Object.entries(this.state.minted)
        .filter(([, m]) => m.accountId === accountId && m.exp >= nowS)
        .map(([k]) => k);
      await this.revoke(keys);
      return keys.length;
    });
  }

  /**
   * Revokes at once every browser key of `accountId` whose JWT reaches workspace `wsid` (its
   * role there changed or ended): open connections are closed, and a new JWT of the same key
   * carries what the account has now. Returns how many keys.
   */
  revokeWorkspaceAccess(accountId: string, wsid: string): Promise<number> {
    return this.serially(async () => {
      const nowS = Math.floor(this.now() / 1000);
      const keys = Object.entries(this.state.minted)
        .filter(([, m]) => m.accountId === accountId && m.exp >= nowS && m.wsids?.includes(wsid))
        .map(([k]) => k)
        .filter(
          (k) => this.state.revoked[k] === undefined || this.state.changed?.[k] !== undefined,
        );
      await this.revoke(keys, true);
      return keys.length;
    });
  }

  private async revoke(keys: readonly string[], renewable = false): Promise<void> {
    if (keys.length === 0) return;
    const nowS = Math.floor(this.now() / 1000);
    this.state.changed ??= {};
    for (const k of keys) {
      this.state.revoked[k] = nowS;
      if (renewable) this.state.changed[k] = nowS;
      else delete this.state.changed[k];
    }
    await this.save();
    await this.push(await this.hubAccountJwt());
    this.opts.log.info({ keys: keys.length }, "revoked browser keys");
  }

  /** Sends an account JWT to nats-server through the system account; resolves once stored. */
  private async push(jwt: string): Promise<void> {
    if (!this.system)
      throw new CocalcError("ERR_HUB_NATS_PUSH", "no system connection to push the account with");
    let answer: { data?: { code?: number; message?: string }; error?: { description?: string } };
    try {
      const reply = await this.system.request(CLAIMS_UPDATE, jwt, { timeout: 10_000 });
      answer = reply.json();
    } catch (err) {
      throw new CocalcError(
        "ERR_HUB_NATS_PUSH",
        `nats-server did not answer the account update: ${(err as Error).message}`,
      );
    }
    if (answer.error || answer.data?.code !== 200)
      throw new CocalcError(
        "ERR_HUB_NATS_PUSH",
        `nats-server refused the account update: ${answer.error?.description ?? answer.data?.message ?? "no reason given"}`,
      );
  }

  /** Forgets what can no longer matter: expired mints, revocations older than any JWT. */
  private prune(): void {
    const nowS = Math.floor(this.now() / 1000);
    for (const [k, m] of Object.entries(this.state.minted))
      if (m.exp < nowS) delete this.state.minted[k];
    for (const [k, t] of Object.entries(this.state.revoked))
      if (t + MAX_USER_TTL_S < nowS) delete this.state.revoked[k];
    for (const k of Object.keys(this.state.changed ?? {}))
      if (this.state.revoked[k] === undefined) delete this.state.changed![k];
  }

  private async save(): Promise<void> {
    this.prune();
    await writeSecretFile(join(this.opts.dir, USERS_FILE), `${JSON.stringify(this.state)}\n`);
  }

  /** One change of the state at a time: a mint cannot slip between a revoke and its push. */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
