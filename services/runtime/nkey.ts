/**
 * NATS nkey challenge signing with Node's native Ed25519. The pure-JS signer in nats.js costs
 * tens of milliseconds on a cold process, on every start and reconnect.
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import type { Authenticator } from "@nats-io/nats-core";

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

/** The Ed25519 private key in an nkey seed ("SU…"): 2 prefix bytes, 32 key bytes, 2 CRC bytes. */
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
