/**
 * This page's NATS login key, made once when the page loads (before anyone signs in, so that
 * signing in does no key work): WebCrypto's Ed25519 where the browser has it (its private
 * half cannot be exported), else an nkeys pair in this page's memory. The seed never leaves
 * the page either way. Signing out makes a new one: the hub revokes the keys of a browser
 * that signs out, and a revoked key is not minted for again.
 */
import { createUser } from "@nats-io/nkeys";
import { type NatsKey, NonceSigner, webCryptoNatsKey } from "../../../shared/nats-page-key.js";

async function makeSigner(): Promise<NonceSigner> {
  const key: NatsKey =
    (await webCryptoNatsKey()) ??
    (() => {
      const pair = createUser();
      return { publicKey: pair.getPublicKey(), sign: (d: Uint8Array) => pair.sign(d) };
    })();
  return new NonceSigner(key);
}

let current = makeSigner();

/** The page's signer of NATS logins (its key, and the nonces of the sockets it wraps). */
export function pageSigner(): Promise<NonceSigner> {
  return current;
}

/** A new key for the next login, made now (the old one is revoked by signing out). */
export function renewPageKey(): void {
  current = makeSigner();
}
