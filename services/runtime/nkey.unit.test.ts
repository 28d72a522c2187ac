import { type NKeyAuth, nkeyAuthenticator } from "@nats-io/nats-core";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import {
  createUserNkey,
  nativeNkeyAuthenticator,
  privateKeyOfSeed,
  publicKeyOfSeed,
} from "./nkey.js";

describe("nkey signing", () => {
  it("signs the server's nonce exactly as nats.js does", () => {
    for (let i = 0; i < 5; i++) {
      const user = createUser();
      const seed = new TextDecoder().decode(user.getSeed());
      const nonce = `nonce-${i}-${Math.random()}`;
      const theirs = nkeyAuthenticator(user.getSeed())(nonce) as NKeyAuth;
      const ours = nativeNkeyAuthenticator(seed, user.getPublicKey())(nonce) as NKeyAuth;
      expect(ours).toEqual(theirs);
    }
  });

  it("makes user seeds that nats.js reads back, and derives their public keys as it does", () => {
    for (let i = 0; i < 20; i++) {
      const ours = createUserNkey();
      expect(ours.seed).toMatch(/^SU[A-Z2-7]{56}$/);
      const theirs = fromSeed(new TextEncoder().encode(ours.seed));
      expect(theirs.getPublicKey()).toBe(ours.publicKey);
      const user = createUser();
      expect(publicKeyOfSeed(new TextDecoder().decode(user.getSeed()))).toBe(user.getPublicKey());
      const nonce = `n${i}`;
      expect((nativeNkeyAuthenticator(ours.seed, ours.publicKey)(nonce) as NKeyAuth).sig).toBe(
        (nkeyAuthenticator(theirs.getSeed())(nonce) as NKeyAuth).sig,
      );
    }
  });

  it("refuses what is not a user seed", () => {
    expect(() => privateKeyOfSeed("SU1!")).toThrow(/A-Z and 2-7/);
    expect(() => privateKeyOfSeed("ABCDEFGH")).toThrow(/not an nkey seed/);
  });
});
