/**
 * The hub's NATS key material (decentralized JWT auth): made once, kept in one 0600 file in
 * the data dir, never passed in argv or env, never logged. Everything else (operator and
 * account JWTs, the services' and the system user's JWTs) is signed from it at start.
 *
 * Accounts. One NATS account ("cocalc") holds the hub's services, the hosts' leaf
 * connections and every browser: a workspace's subjects and JetStream streams are shared by
 * the services that serve it, the host that stores it and the browsers that use it, and NATS
 * isolates accounts completely. Separate accounts would need an export/import for every
 * subject family and for the JetStream API of every host domain (with its delivery, flow
 * control and inbox subjects), which is where cross-account JetStream gets brittle; per-user
 * permissions inside one account give the exact control we need. The system account (SYS)
 * is separate, as NATS requires: only the hub's system user is in it, to push account JWTs.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { encodeAccount, encodeOperator, encodeUser, type User } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { CocalcError } from "../../shared/errors.js";
import { nativeKeyPair } from "../runtime/nkey.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import {
  hostAccountClaims,
  hubAccountClaims,
  type LeafAccount,
  type Placement,
} from "./leaf-accounts.js";

/** The seeds the hub keeps (each an nkey seed "S…"). */
export interface HubNatsSeeds {
  /** Operator identity: signs only the operator JWT. */
  operator: string;
  /** Operator signing key: signs the account JWTs (also every revocation update). */
  operatorSigning: string;
  /** The system account (SYS). */
  systemAccount: string;
  /** The hub's user in SYS: pushes account JWTs with $SYS.REQ.CLAIMS.UPDATE. */
  systemUser: string;
  /** The account of services, hosts and browsers. */
  account: string;
  /** The account's signing key: signs every user JWT (services, hosts, browsers). */
  accountSigning: string;
  /** The hub services' user (full rights in the account). */
  servicesUser: string;
}

/** The first letter of each key's public key: operator, account or user. */
const KINDS: Record<keyof HubNatsSeeds, "O" | "A" | "U"> = {
  operator: "O",
  operatorSigning: "O",
  systemAccount: "A",
  systemUser: "U",
  account: "A",
  accountSigning: "A",
  servicesUser: "U",
};

export const KEYS_FILE = "nats-keys.json";

const td = new TextDecoder();
const te = new TextEncoder();

function seedOf(kp: KeyPair): string {
  return td.decode(kp.getSeed());
}

function newSeeds(): HubNatsSeeds {
  return {
    operator: seedOf(createOperator()),
    operatorSigning: seedOf(createOperator()),
    systemAccount: seedOf(createAccount()),
    systemUser: seedOf(createUser()),
    account: seedOf(createAccount()),
    accountSigning: seedOf(createAccount()),
    servicesUser: seedOf(createUser()),
  };
}

/** The key pairs of the hub, checked to be of the right kind. */
export type HubKeyPairs = Record<keyof HubNatsSeeds, KeyPair>;

function pairsOf(seeds: HubNatsSeeds, file: string): HubKeyPairs {
  const out = {} as HubKeyPairs;
  for (const [name, letter] of Object.entries(KINDS) as [keyof HubNatsSeeds, string][]) {
    let kp: KeyPair;
    try {
      kp = nativeKeyPair(fromSeed(te.encode(String(seeds[name]))));
    } catch {
      throw new CocalcError("ERR_HUB_NATS_KEYS", `${file}: ${name} is not an nkey seed`);
    }
    if (!kp.getPublicKey().startsWith(letter))
      throw new CocalcError("ERR_HUB_NATS_KEYS", `${file}: ${name} is not a key of the right kind`);
    out[name] = kp;
  }
  return out;
}

/**
 * Reads the hub's keys from `dir`, or makes them once (0600). Refuses a key file that others
 * may read: its seeds would have to be thrown away.
 */
export async function loadOrCreateHubKeys(dir: string): Promise<HubKeyPairs> {
  const file = join(dir, KEYS_FILE);
  let text: string | undefined;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0)
      throw new CocalcError(
        "ERR_HUB_NATS_KEYS",
        `${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}); it must be 0600`,
      );
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      if (err instanceof CocalcError) throw err;
      throw new CocalcError("ERR_HUB_NATS_KEYS", `cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (text === undefined) {
    const seeds = newSeeds();
    await writeSecretFile(file, `${JSON.stringify(seeds, null, 2)}\n`);
    return pairsOf(seeds, file);
  }
  let seeds: HubNatsSeeds;
  try {
    seeds = JSON.parse(text) as HubNatsSeeds;
  } catch {
    throw new CocalcError("ERR_HUB_NATS_KEYS", `${file} is not JSON`);
  }
  if (typeof seeds !== "object" || seeds === null)
    throw new CocalcError("ERR_HUB_NATS_KEYS", `${file} is not an object of seeds`);
  return pairsOf(seeds, file);
}

/** The account's name in its JWT (NATS knows it by its public key). */
export const ACCOUNT_NAME = "cocalc";

/** JetStream and connection limits of the account: none (quotas are the hub's business). */
const UNLIMITED_CONNECTIONS = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
} as const;
const UNLIMITED = {
  ...UNLIMITED_CONNECTIONS,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
} as const;

export function operatorJwt(k: HubKeyPairs): Promise<string> {
  return encodeOperator("cocalc-hub", k.operator, {
    signing_keys: [k.operatorSigning.getPublicKey()],
    system_account: k.systemAccount.getPublicKey(),
  });
}

export function systemAccountJwt(k: HubKeyPairs): Promise<string> {
  return encodeAccount(
    "SYS",
    k.systemAccount.getPublicKey(),
    // No JetStream in SYS; connections as many as the hub opens.
    { limits: { ...UNLIMITED_CONNECTIONS } },
    { signer: k.operatorSigning },
  );
}

/**
 * The account JWT with `revocations` (user public key → revoke JWTs issued at or before, unix
 * s) and what it takes from joined hosts' accounts, for them and for the workspaces placed
 * on them (services/hub/leaf-accounts.ts).
 */
export function accountJwt(
  k: HubKeyPairs,
  revocations: Record<string, number>,
  leafs: readonly LeafAccount[] = [],
  placements: readonly Placement[] = [],
): Promise<string> {
  return encodeAccount(
    ACCOUNT_NAME,
    k.account.getPublicKey(),
    {
      signing_keys: [k.accountSigning.getPublicKey()],
      limits: { ...UNLIMITED },
      revocations: { ...revocations },
      ...hubAccountClaims(leafs, placements),
    },
    { signer: k.operatorSigning },
  );
}

/**
 * A joined host's own account: no JetStream of the hub's (the host keeps its own), only what
 * it offers the hub's account and the inbox it takes from it.
 */
export function leafAccountJwt(k: HubKeyPairs, leaf: LeafAccount): Promise<string> {
  return encodeAccount(
    `host-${leaf.hostId}`,
    leaf.account,
    {
      limits: { ...UNLIMITED_CONNECTIONS },
      ...hostAccountClaims(leaf.hostId, k.account.getPublicKey()),
    },
    { signer: k.operatorSigning },
  );
}

export function systemUserJwt(k: HubKeyPairs): Promise<string> {
  return encodeUser("hub-system", k.systemUser, k.systemAccount);
}

/** A user JWT of the account, signed by the account's signing key. */
export function accountUserJwt(
  k: HubKeyPairs,
  name: string,
  userPublicKey: string,
  user: Partial<User>,
  exp?: number,
): Promise<string> {
  return encodeUser(name, userPublicKey, k.account.getPublicKey(), user, {
    signer: k.accountSigning,
    ...(exp !== undefined && { exp }),
  });
}

/** The hub services' user: anything in the account (no expiry; revocable like any user). */
export function servicesUserJwt(k: HubKeyPairs): Promise<string> {
  return accountUserJwt(k, "hub-services", k.servicesUser.getPublicKey(), {});
}

/** A leaf node's user in its host's own account, signed by that account's key. */
export function encodeLeafUser(
  hostId: string,
  userPublicKey: string,
  account: KeyPair,
): Promise<string> {
  return encodeUser(`leaf ${hostId}`, userPublicKey, account, {
    bearer_token: false,
    allowed_connection_types: ["LEAFNODE"],
  });
}
