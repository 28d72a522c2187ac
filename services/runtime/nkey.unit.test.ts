import { type NKeyAuth, nkeyAuthenticator } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import { nativeNkeyAuthenticator, privateKeyOfSeed } from "./nkey.js";

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

  it("refuses what is not a user seed", () => {
    expect(() => privateKeyOfSeed("SU1!")).toThrow(/A-Z and 2-7/);
    expect(() => privateKeyOfSeed("ABCDEFGH")).toThrow(/not an nkey seed/);
  });
});
