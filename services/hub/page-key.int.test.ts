/**
 * The page's NATS key (shared/nats-page-key.ts) against a real nats-server in operator mode:
 * a WebCrypto key's public nkey is the one nkeys reads, its signatures verify, and a page
 * logs in over the websocket listener with a minted JWT and its wrapped socket, again after
 * the server drops it (a new nonce each time); a JWT minted for another key is refused.
 */
import { jwtAuthenticator, wsconnect } from "@nats-io/nats-core";
import { createUser, fromPublic } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WS from "ws";
import { type NatsSocket, NonceSigner, webCryptoNatsKey } from "../../shared/nats-page-key.js";
import { HUB_DOMAIN, startTestHub, type TestHub } from "./test-kit.js";

describe("hub nats - the page's own key", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    await hub?.cleanup();
  });

  async function pageLogin(signer: NonceSigner, jwt: string, inboxPrefix: string) {
    return wsconnect({
      servers: hub.server.wsUrl,
      authenticator: (nonce) => ({ jwt, ...signer.auth(nonce) }),
      inboxPrefix,
      reconnect: false,
      wsFactory: async (u) => ({
        socket: signer.wrap(
          new WS(u, { origin: "http://hub.test" }) as unknown as NatsSocket,
        ) as unknown as WebSocket,
        encrypted: false,
      }),
    });
  }

  it("page key - a WebCrypto Ed25519 key is an nkey whose signatures nkeys verifies", async () => {
    const key = (await webCryptoNatsKey())!;
    expect(key).toBeDefined();
    expect(key.publicKey).toMatch(/^U[A-Z2-7]{55}$/);
    const data = new TextEncoder().encode("a nonce");
    const sig = await key.sign(data);
    expect(fromPublic(key.publicKey).verify(data, sig)).toBe(true);
    expect(fromPublic(key.publicKey).verify(new TextEncoder().encode("another"), sig)).toBe(false);
  });

  it("page key - logs in over the websocket with the wrapped socket, twice with one key", async () => {
    const signer = new NonceSigner((await webCryptoNatsKey())!);
    const m = await hub.auth.mintUserJwt({
      userNkeyPublic: signer.key.publicKey,
      accountId: "acctA",
      memberships: [{ wsid: "w1", role: "owner", jsDomain: HUB_DOMAIN, hostId: "h1" }],
    });
    // The hub's services answer w1's commands; the page asks (a request: its inbox too).
    const served = hub.services.subscribe("ws.w1.cmd.fs", {
      callback: (_err, msg) => {
        msg.respond("here");
      },
    });
    await hub.services.flush();
    for (let i = 0; i < 2; i++) {
      const nc = await pageLogin(signer, m.jwt, m.inboxPrefix);
      expect((await nc.request("ws.w1.cmd.fs", "", { timeout: 10_000 })).string()).toBe("here");
      await nc.close();
    }
    served.unsubscribe();
    // The pure-JS nkeys signs for the same wrapped socket too (the page's fallback).
    const pure = createUser();
    const fallback = new NonceSigner({ publicKey: pure.getPublicKey(), sign: (d) => pure.sign(d) });
    const p = await hub.auth.mintUserJwt({
      userNkeyPublic: pure.getPublicKey(),
      accountId: "acctA",
      memberships: [],
    });
    await (await pageLogin(fallback, p.jwt, p.inboxPrefix)).close();
  });

  it("page key - a JWT minted for another key is refused", async () => {
    const signer = new NonceSigner((await webCryptoNatsKey())!);
    const other = createUser();
    const m = await hub.auth.mintUserJwt({
      userNkeyPublic: other.getPublicKey(),
      accountId: "acctA",
      memberships: [],
    });
    const refused = await pageLogin(signer, m.jwt, m.inboxPrefix).catch((e) => e);
    expect(refused).toBeInstanceOf(Error);
    // With its own key's seed the same JWT logs in: the refusal was the signature's.
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    g.WebSocket = class extends WS {
      constructor(url: string) {
        super(url, { origin: "http://hub.test" });
      }
    };
    try {
      const nc = await wsconnect({
        servers: hub.server.wsUrl,
        authenticator: jwtAuthenticator(m.jwt, other.getSeed()),
        inboxPrefix: m.inboxPrefix,
        reconnect: false,
      });
      await nc.close();
    } finally {
      g.WebSocket = saved;
    }
  });
});
