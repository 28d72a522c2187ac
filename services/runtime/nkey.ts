/**
 * NATS nkey challenge signing, and the hub's JWT signing, with Node's native Ed25519. The
 * pure-JS signer in nats.js costs tens of milliseconds on a cold process, on every start and
 * reconnect.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from "node:crypto";
import type { Authenticator } from "@nats-io/nats-core";
import type { KeyPair } from "@nats-io/nkeys";
import { base32Decode, encodeNkey, PREFIX_SEED, PREFIX_USER } from "../../shared/nkey-codec.js";

/** DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

/** The last 32 bytes of a DER-encoded Ed25519 key are the raw key. */
function rawKey(der: Buffer): Buffer {
  return der.subarray(der.length - 32);
}

function userPublicKey(key: KeyObject): string {
  const raw = rawKey(createPublicKey(key).export({ format: "der", type: "spki" }));
  return encodeNkey([PREFIX_USER], raw);
}

/** The public key ("U…") of a user seed, derived natively. */
export function publicKeyOfSeed(seed: string): string {
  return userPublicKey(privateKeyOfSeed(seed));
}

/** A new user nkey, made with Node's Ed25519 (the pure-JS one costs tens of ms at start-up). */
export function createUserNkey(): { seed: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const raw = rawKey(privateKey.export({ format: "der", type: "pkcs8" }));
  const head = [PREFIX_SEED | (PREFIX_USER >> 5), (PREFIX_USER & 31) << 3];
  return { seed: encodeNkey(head, raw), publicKey: userPublicKey(privateKey) };
}

/** The Ed25519 private key in an nkey seed ("S…"): 2 prefix bytes, 32 key bytes, 2 CRC bytes. */
export function privateKeyOfSeed(seed: string): KeyObject {
  const raw = base32Decode(seed.trim());
  if (raw.length !== 36 || raw[0]! >> 3 !== 18) throw new Error("not an nkey seed");
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, Buffer.from(raw.subarray(2, 34))]),
    format: "der",
    type: "pkcs8",
  });
}

/** An authenticator that answers the server's nonce with the nkey's signature, as nats.js's nkeyAuthenticator does. */
export function nativeNkeyAuthenticator(seed: string, publicKey: string): Authenticator {
  const key = privateKeyOfSeed(seed);
  return (nonce?: string) => ({
    nkey: publicKey,
    sig: nonce ? sign(null, Buffer.from(nonce), key).toString("base64") : "",
  });
}

/**
 * `kp` (an operator, account or user key) with its keys worked out once and its signatures
 * made natively. The pure-JS pair derives its key from the seed again on every call (about
 * 5 ms each), and minting one browser's user JWT (14 KB of permissions) made five of those
 * calls and a pure-JS signature: some 30 ms of the hub's event loop per page load. Ed25519
 * signatures are deterministic, so the bytes are the same.
 */
export function nativeKeyPair(kp: KeyPair): KeyPair {
  const publicKey = kp.getPublicKey();
  const key = privateKeyOfSeed(new TextDecoder().decode(kp.getSeed()));
  let privateKey: Uint8Array | undefined;
  return {
    getPublicKey: () => publicKey,
    getPrivateKey: () => {
      privateKey ??= kp.getPrivateKey();
      return privateKey;
    },
    getSeed: () => kp.getSeed(),
    sign: (input) => new Uint8Array(sign(null, input, key)),
    verify: (input, sig) => kp.verify(input, sig),
    clear: () => kp.clear(),
    seal: (input, recipient, nonce) => kp.seal(input, recipient, nonce),
    open: (message, sender) => kp.open(message, sender),
  };
}
