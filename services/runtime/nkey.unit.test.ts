import { decode, encodeUser } from "@nats-io/jwt";
import { type NKeyAuth, nkeyAuthenticator } from "@nats-io/nats-core";
import { createAccount, createOperator, createUser, fromSeed } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import {
  createUserNkey,
  nativeKeyPair,
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

  it("a native key pair has the same keys and signs the same bytes as the pure-JS one", () => {
    const data = new TextEncoder().encode("x".repeat(20_000));
    for (const make of [createOperator, createAccount, createUser]) {
      const kp = make();
      const native = nativeKeyPair(kp);
      expect(native.getPublicKey()).toBe(kp.getPublicKey());
      expect(native.getSeed()).toEqual(kp.getSeed());
      expect(native.getPrivateKey()).toEqual(kp.getPrivateKey());
      const sig = native.sign(data);
      expect(sig).toEqual(kp.sign(data));
      expect(kp.verify(data, sig)).toBe(true);
    }
  });

  it("a user JWT signed by a native account key decodes and verifies", async () => {
    const account = nativeKeyPair(createAccount());
    const signing = nativeKeyPair(createAccount());
    const user = createUser().getPublicKey();
    const jwt = await encodeUser(
      "u",
      user,
      account.getPublicKey(),
      { pub: { allow: ["a.>"] } },
      {
        signer: signing,
      },
    );
    const claims = decode<{ issuer_account?: string; pub?: { allow?: string[] } }>(jwt);
    expect(claims.iss).toBe(signing.getPublicKey());
    expect(claims.sub).toBe(user);
    expect(claims.nats.issuer_account).toBe(account.getPublicKey());
    expect(claims.nats.pub?.allow).toEqual(["a.>"]);
  });

  it("refuses what is not a user seed", () => {
    expect(() => privateKeyOfSeed("SU1!")).toThrow(/A-Z and 2-7/);
    expect(() => privateKeyOfSeed("ABCDEFGH")).toThrow(/not an nkey seed/);
  });
});
