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

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const c of text) {
    const v = BASE32.indexOf(c);
    if (v === -1) throw new Error("an nkey seed holds only A-Z and 2-7");
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** nkey prefix bytes: a seed, and the user role (its public keys start with "U"). */
const PREFIX_SEED = 18 << 3;
const PREFIX_USER = 20 << 3;

function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** CRC-16/XMODEM, the checksum nkeys append (little-endian). */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function withChecksum(payload: Buffer): string {
  const crc = crc16(payload);
  return base32Encode(Buffer.concat([payload, Buffer.from([crc & 0xff, crc >> 8])]));
}

/** The last 32 bytes of a DER-encoded Ed25519 key are the raw key. */
function rawKey(der: Buffer): Buffer {
  return der.subarray(der.length - 32);
}

function userPublicKey(key: KeyObject): string {
  const raw = rawKey(createPublicKey(key).export({ format: "der", type: "spki" }));
  return withChecksum(Buffer.concat([Buffer.from([PREFIX_USER]), raw]));
}

/** The public key ("U…") of a user seed, derived natively. */
export function publicKeyOfSeed(seed: string): string {
  return userPublicKey(privateKeyOfSeed(seed));
}

/** A new user nkey, made with Node's Ed25519 (the pure-JS one costs tens of ms at start-up). */
export function createUserNkey(): { seed: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const raw = rawKey(privateKey.export({ format: "der", type: "pkcs8" }));
  const head = Buffer.from([PREFIX_SEED | (PREFIX_USER >> 5), (PREFIX_USER & 31) << 3]);
  return { seed: withChecksum(Buffer.concat([head, raw])), publicKey: userPublicKey(privateKey) };
}

/** The Ed25519 private key in an nkey seed ("S…"): 2 prefix bytes, 32 key bytes, 2 CRC bytes. */
export function privateKeyOfSeed(seed: string): KeyObject {
  const raw = base32Decode(seed.trim());
  if (raw.length !== 36 || raw[0]! >> 3 !== 18) throw new Error("not an nkey seed");
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, raw.subarray(2, 34)]),
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
