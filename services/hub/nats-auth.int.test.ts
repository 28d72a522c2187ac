import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { decode } from "@nats-io/jwt";
import { Kvm } from "@nats-io/kv";
import {
  createInbox,
  jwtAuthenticator,
  type NatsConnection,
  PermissionViolationError,
  wsconnect,
} from "@nats-io/nats-core";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WS from "ws";
import type { CocalcError } from "../../shared/errors.js";
import {
  MAX_HOSTED_MEMBERSHIPS,
  MAX_MEMBERSHIPS,
  type Membership,
  readerNames,
} from "../../shared/hub-permissions.js";
import { hubStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import {
  type Outcome,
  publishOutcome,
  watchViolations,
} from "../../test/helpers/nats-permissions.js";
import { HubNatsAuth } from "./nats-auth.js";
import { KEYS_FILE } from "./nats-keys.js";
import { HUB_DOMAIN, startTestHub, type TestHub } from "./test-kit.js";

const D = HUB_DOMAIN;
const testLog = pino({ level: "silent" });
const API = `$JS.${D}.API`;
const DURABLE = "svc-durable";
/** Workspace w1 of account A, w2 of account C (A is no member), w3 where A is a viewer. */
const W1: Membership = { wsid: "w1", role: "owner", jsDomain: D, hostId: "h1" };
const W3: Membership = { wsid: "w3", role: "viewer", jsDomain: D };
/** Browser A's key, and the consumer names it may use. */
const aKey = createUser();
const RA = readerNames(aKey.getPublicKey());
const OTHER_READER = readerNames(createUser().getPublicKey())[0]!;

let hub: TestHub;

/** A browser: its own nkey pair, a minted JWT, a connection with its inbox prefix. */
async function browser(
  memberships: Membership[],
  o: { ttlSeconds?: number; key?: KeyPair; accountId?: string } = {},
) {
  const key = o.key ?? createUser();
  const minted = await hub.auth.mintUserJwt({
    userNkeyPublic: key.getPublicKey(),
    accountId: o.accountId ?? "acctA",
    memberships,
    ttlSeconds: o.ttlSeconds,
    connectionTypes: ["STANDARD"],
  });
  const nc = await hub.connectUser(minted.jwt, key.getSeed(), minted.inboxPrefix);
  watchViolations(nc);
  return { key, minted, nc };
}

/** The subject nats-server checks: its own domain's API is mapped to the local form first. */
function checkedSubject(subject: string): string {
  return subject.startsWith(`$JS.${D}.API.`) ? `$JS.API.${subject.slice(API.length + 1)}` : subject;
}

const request = (nc: NatsConnection, subject: string, body = "") =>
  publishOutcome(nc, subject, body, checkedSubject(subject));

/** Whether a subscription stands: allowed when a message published by the services arrives. */
async function subscribe(nc: NatsConnection, subject: string, probe: string): Promise<Outcome> {
  const sub = nc.subscribe(subject, { max: 1 });
  const got = (async (): Promise<Outcome> => {
    try {
      for await (const _ of sub) return "allowed";
      return "denied";
    } catch (err) {
      if (err instanceof PermissionViolationError) return "denied";
      throw err;
    }
  })();
  await nc.flush();
  // Publish until the message arrives or the server refuses the subscription.
  const pump = setInterval(() => hub.services.publish(probe, "x"), 20);
  try {
    return await got;
  } finally {
    clearInterval(pump);
    sub.unsubscribe();
  }
}

function consumerCreate(stream: string, name: string, filter: string) {
  return {
    subject: `${API}.CONSUMER.CREATE.${stream}.${name}.${filter}`,
    body: JSON.stringify({
      stream_name: stream,
      config: { name, filter_subject: filter, ack_policy: "none", inactive_threshold: 5e9 },
    }),
  };
}

/** The JetStream reply of an allowed call: a created consumer, a message, or an API error. */
async function jsReply(nc: NatsConnection, subject: string, body: string) {
  const m = await nc.request(subject, body, { timeout: 5000 });
  return m;
}

describe("hub NATS authorization", () => {
  let a: Awaited<ReturnType<typeof browser>>;
  let viewer: Awaited<ReturnType<typeof browser>>;

  beforeAll(async () => {
    hub = await startTestHub({ durables: [DURABLE] });
    const jsm = await jetstreamManager(hub.services);
    await ensureStreams(jsm);
    await ensureStreams(jsm, hubStreams());
    const js = jetstream(hub.services);
    for (const ws of ["w1", "w2", "w3"]) {
      await js.publish(`ws.${ws}.fs.created`, JSON.stringify({ ws }));
      await js.publish(`ws.${ws}.term.t1.out`, "out");
      const kvm = new Kvm(hub.services);
      await (await kvm.open("terms")).put(`${ws}.t1`, JSON.stringify({ ws }));
      await (await kvm.open("settings")).put(ws, JSON.stringify({ ws }));
    }
    await (await new Kvm(hub.services).open("accounts")).put("acctA", "{}");
    await (await new Kvm(hub.services).open("accounts")).put("acctC", "{}");
    // A service's durable on a workspace stream, which no browser may touch.
    await jsm.consumers.add("WS_FS", { durable_name: DURABLE, ack_policy: "explicit" as never });
    a = await browser([W1, W3], { key: aKey });
    viewer = a;
  });
  afterAll(async () => {
    await hub?.cleanup();
  });

  it("hub nats - the key file is 0600 and the hub made it once", async () => {
    expect((await stat(join(hub.dir, KEYS_FILE))).mode & 0o777).toBe(0o600);
  });

  // Core NATS subjects: w1 is A's (owner), w2 is another account's, w3 A only views.
  it.each([
    ["ws.w1.cmd.fs", "allowed"],
    // The host's commands (create, quotas, exec as root, delete) are the hub's alone.
    ["ws.w1.cmd.host", "denied"],
    ["ws.w3.cmd.host", "denied"],
    ["hubcmd.workspaces", "denied"],
    ["hubcmd.accounts", "denied"],
    // The hub's records: of its own workspaces and its list only.
    ["$JS.API.DIRECT.GET.KV_hub-workspaces.$KV.hub-workspaces.w1", "allowed"],
    ["$JS.API.DIRECT.GET.KV_hub-workspaces.$KV.hub-workspaces.w2", "denied"],
    ["$JS.API.DIRECT.GET.KV_workspaces.$KV.workspaces.w1", "allowed"],
    ["$JS.API.DIRECT.GET.KV_workspaces.$KV.workspaces.w2", "denied"],
    ["$JS.API.DIRECT.GET.KV_hub-memberships.$KV.hub-memberships.acctA.w1", "allowed"],
    ["$JS.API.DIRECT.GET.KV_hub-memberships.$KV.hub-memberships.acctC.w2", "denied"],
    // Its own signed-in browsers, no one else's.
    ["$JS.API.DIRECT.GET.KV_hub-sessions.$KV.hub-sessions.acctA", "allowed"],
    ["$JS.API.DIRECT.GET.KV_hub-sessions.$KV.hub-sessions.acctC", "denied"],
    ["$JS.API.STREAM.INFO.KV_hub-sessions", "denied"],
    ["$JS.API.DIRECT.GET.KV_hosts.$KV.hosts.h1", "allowed"],
    ["$JS.API.DIRECT.GET.KV_hosts.$KV.hosts.h2", "denied"],
    ["$JS.API.STREAM.INFO.KV_hub-memberships", "denied"],
    ["ws.w1.req.fs", "allowed"],
    ["ws.w1.term.t1.input", "allowed"],
    ["ws.w1.term.t1.resize", "allowed"],
    ["ws.w1.presence.doc.d1", "allowed"],
    ["ws.w2.cmd.fs", "denied"],
    ["ws.w2.req.fs", "denied"],
    ["ws.w2.term.t1.input", "denied"],
    ["ws.w2.term.t1.resize", "denied"],
    ["ws.w2.presence.doc.d1", "denied"],
    // Workspace presence: its own account's subject, a viewer's too; never another's.
    ["ws.w1.presence.page.acctA", "allowed"],
    ["ws.w3.presence.page.acctA", "allowed"],
    ["ws.w1.presence.page.acctC", "denied"],
    ["ws.w2.presence.page.acctA", "denied"],
    ["ws.w2.feed.fs", "denied"],
    ["ws.w3.cmd.fs", "denied"],
    ["ws.w3.req.fs", "denied"],
    ["ws.w3.term.t1.input", "denied"],
    ["ws.w3.term.t1.resize", "denied"],
    ["ws.w3.term.t1.viewer", "allowed"],
    // What only reads has subjects of its own, which a viewer may use.
    ["ws.w3.read.fs", "allowed"],
    ["ws.w3.read.docs", "allowed"],
    ["ws.w2.read.fs", "denied"],
    ["ws.w1.fs.created", "denied"],
    ["ws.w1.life.settings", "denied"],
    ["$KV.terms.w1.t1", "denied"],
    ["accountcmd.acctA", "denied"],
    ["_INBOX.x", "denied"],
  ] as const)("hub nats - publish %s → %s", async (subject, want) => {
    expect(await request(a.nc, subject)).toBe(want);
  });

  it.each([
    ["ws.w1.feed.>", "ws.w1.feed.fs", "allowed"],
    ["ws.w1.presence.doc.*", "ws.w1.presence.doc.d1", "allowed"],
    ["ws.w3.feed.>", "ws.w3.feed.fs", "allowed"],
    ["ws.w2.feed.>", "ws.w2.feed.fs", "denied"],
    ["ws.w2.presence.doc.*", "ws.w2.presence.doc.d1", "denied"],
    ["ws.w1.presence.page.*", "ws.w1.presence.page.acctC", "allowed"],
    ["ws.w3.presence.page.*", "ws.w3.presence.page.acctC", "allowed"],
    ["ws.w2.presence.page.*", "ws.w2.presence.page.acctC", "denied"],
    ["ws.*.feed.>", "ws.w2.feed.fs", "denied"],
    ["ws.w1.cmd.fs", "ws.w1.cmd.fs", "denied"],
    ["_INBOX.>", "_INBOX.x", "denied"],
    [">", "anything", "denied"],
  ] as const)("hub nats - subscribe %s → %s", async (subject, probe, want) => {
    expect(await subscribe(a.nc, subject, probe)).toBe(want);
  });

  it("hub nats - its own inbox prefix works (requests get their replies)", async () => {
    const sub = hub.services.subscribe("ws.w1.cmd.fs", {
      callback: (_e, m) => {
        m.respond("pong");
      },
    });
    await hub.services.flush();
    const reply = await a.nc.request("ws.w1.cmd.fs", "ping", { timeout: 5000 });
    expect(reply.string()).toBe("pong");
    expect(reply.subject.startsWith(`${a.minted.inboxPrefix}.`)).toBe(true);
    sub.unsubscribe();
  });

  // Every JetStream API form: its own workspace in the subject form → allowed, anything else denied.
  const ownConsumer = consumerCreate("WS_FS", RA[0]!, "ws.w1.fs.>");
  const otherConsumer = consumerCreate("WS_FS", RA[1]!, "ws.w2.fs.>");
  it.each([
    // The hub's reader service makes a browser's consumers: the browser makes none itself.
    [
      "consumer create, own workspace, own name, subject form",
      ownConsumer.subject,
      ownConsumer.body,
      "denied",
    ],
    [
      "consumer create, own KV key",
      consumerCreate("KV_terms", RA[2]!, "$KV.terms.w1.*").subject,
      consumerCreate("KV_terms", RA[2]!, "$KV.terms.w1.*").body,
      "denied",
    ],
    ["ask the reader service, own subject", `hubread.${aKey.getPublicKey()}`, "{}", "allowed"],
    [
      "ask the reader service as another key",
      `hubread.${createUser().getPublicKey()}`,
      "{}",
      "denied",
    ],
    ["direct get, own KV key", `${API}.DIRECT.GET.KV_terms.$KV.terms.w1.t1`, "", "allowed"],
    [
      "direct get, own account's view",
      `${API}.DIRECT.GET.KV_accounts.$KV.accounts.acctA`,
      "",
      "allowed",
    ],
    ["consumer create, other workspace", otherConsumer.subject, otherConsumer.body, "denied"],
    [
      "consumer create, wildcard workspace",
      consumerCreate("WS_FS", RA[3]!, "ws.*.>").subject,
      consumerCreate("WS_FS", RA[3]!, "ws.*.>").body,
      "denied",
    ],
    [
      "consumer create, other KV key",
      consumerCreate("KV_terms", RA[4]!, "$KV.terms.w2.*").subject,
      consumerCreate("KV_terms", RA[4]!, "$KV.terms.w2.*").body,
      "denied",
    ],
    [
      "consumer create, a service's durable name",
      consumerCreate("WS_FS", DURABLE, "ws.w1.>").subject,
      consumerCreate("WS_FS", DURABLE, "ws.w1.>").body,
      "denied",
    ],
    ["direct get, other KV key", `${API}.DIRECT.GET.KV_terms.$KV.terms.w2.t1`, "", "denied"],
    [
      "direct get, other account's view",
      `${API}.DIRECT.GET.KV_accounts.$KV.accounts.acctC`,
      "",
      "denied",
    ],
    [
      "direct get, other workspace's stream",
      `${API}.DIRECT.GET.WS_TERM.ws.w2.term.t1.out`,
      "",
      "denied",
    ],
    [
      "legacy consumer create (filter in the body)",
      `${API}.CONSUMER.CREATE.WS_FS`,
      JSON.stringify({ stream_name: "WS_FS", config: { filter_subject: "ws.w1.>" } }),
      "denied",
    ],
    [
      "legacy consumer create (name, no filter in the subject)",
      `${API}.CONSUMER.CREATE.WS_FS.${RA[5]}`,
      JSON.stringify({ stream_name: "WS_FS", config: { name: RA[5], filter_subject: "ws.w1.>" } }),
      "denied",
    ],
    [
      "legacy durable create",
      `${API}.CONSUMER.DURABLE.CREATE.WS_FS.d1`,
      JSON.stringify({ stream_name: "WS_FS", config: { durable_name: "d1" } }),
      "denied",
    ],
    ["legacy stream msg get", `${API}.STREAM.MSG.GET.WS_FS`, JSON.stringify({ seq: 1 }), "denied"],
    [
      "legacy direct get (subject in the payload)",
      `${API}.DIRECT.GET.KV_terms`,
      JSON.stringify({ last_by_subj: "$KV.terms.w1.t1" }),
      "denied",
    ],
    ["stream info", `${API}.STREAM.INFO.WS_FS`, "", "denied"],
    ["stream create", `${API}.STREAM.CREATE.X`, JSON.stringify({ name: "X" }), "denied"],
    ["stream delete", `${API}.STREAM.DELETE.WS_FS`, "", "denied"],
    ["stream purge", `${API}.STREAM.PURGE.WS_FS`, "", "denied"],
    ["stream names", `${API}.STREAM.NAMES`, "", "denied"],
    ["stream list", `${API}.STREAM.LIST`, "", "denied"],
    ["consumer names", `${API}.CONSUMER.NAMES.WS_FS`, "", "denied"],
    ["consumer list", `${API}.CONSUMER.LIST.WS_FS`, "", "denied"],
    ["account info", `${API}.INFO`, "", "denied"],
    ["durable info", `${API}.CONSUMER.INFO.WS_FS.${DURABLE}`, "", "denied"],
    ["durable next", `${API}.CONSUMER.MSG.NEXT.WS_FS.${DURABLE}`, "", "denied"],
    ["durable delete", `${API}.CONSUMER.DELETE.WS_FS.${DURABLE}`, "", "denied"],
    [
      "the local form of the hub's domain, other workspace",
      `$JS.API.CONSUMER.CREATE.WS_FS.${RA[6]}.ws.w2.>`,
      JSON.stringify({ stream_name: "WS_FS", config: { name: RA[6], filter_subject: "ws.w2.>" } }),
      "denied",
    ],
    ["the local form, legacy consumer create", "$JS.API.CONSUMER.CREATE.WS_FS", "{}", "denied"],
    ["the local form, stream names", "$JS.API.STREAM.NAMES", "", "denied"],
    ["another domain", `$JS.other.API.CONSUMER.CREATE.WS_FS.${RA[7]}.ws.w1.>`, "", "denied"],
    [
      "consumer create, own workspace, a name not its own",
      consumerCreate("WS_FS", "oc_any", "ws.w1.fs.>").subject,
      consumerCreate("WS_FS", "oc_any", "ws.w1.fs.>").body,
      "denied",
    ],
    [
      "consumer create, own workspace, another browser's name",
      consumerCreate("WS_FS", OTHER_READER, "ws.w1.fs.>").subject,
      consumerCreate("WS_FS", OTHER_READER, "ws.w1.fs.>").body,
      "denied",
    ],
    [
      "pull from another browser's reader",
      `${API}.CONSUMER.MSG.NEXT.WS_FS.${OTHER_READER}`,
      "",
      "denied",
    ],
    [
      "delete another browser's reader",
      `${API}.CONSUMER.DELETE.WS_FS.${OTHER_READER}`,
      "",
      "denied",
    ],
  ] as const)("hub nats - JS API: %s → %s", async (_what, subject, body, want) => {
    expect(await request(a.nc, subject, body)).toBe(want);
  });

  /** A consumer the hub makes for browser A (as its reader service does), by name. */
  async function readerFor(stream: string, name: string, filter: string) {
    const jsm = await jetstreamManager(hub.services);
    await jsm.consumers.add(stream, {
      name,
      filter_subject: filter,
      ack_policy: "none" as never,
      inactive_threshold: 60e9,
    });
  }

  /** One message pulled from consumer `name` on `nc`'s inbox, as nats.js's pull does it. */
  async function pullOne(nc: NatsConnection, prefix: string, stream: string, name: string) {
    const inbox = createInbox(prefix);
    const sub = nc.subscribe(inbox, { max: 1 });
    nc.publish(`${API}.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify({ batch: 1 }), {
      reply: inbox,
    });
    for await (const m of sub) return m.subject;
    return undefined;
  }

  it("hub nats - a reader made for it delivers only its workspace's messages; it looks and deletes by name", async () => {
    await readerFor("WS_FS", RA[8]!, "ws.w1.fs.>");
    expect(await pullOne(a.nc, a.minted.inboxPrefix, "WS_FS", RA[8]!)).toBe("ws.w1.fs.created");
    const info = (await jsReply(a.nc, `${API}.CONSUMER.INFO.WS_FS.${RA[8]}`, "")).json<{
      name: string;
    }>();
    expect(info.name).toBe(RA[8]);
    await jsReply(a.nc, `${API}.CONSUMER.DELETE.WS_FS.${RA[8]}`, "");
  });

  it("hub nats - a push consumer delivering elsewhere cannot be made (the body's deliver subject is not checked by nats-server)", async () => {
    const subject = `${API}.CONSUMER.CREATE.WS_FS.${RA[9]}.ws.w1.fs.>`;
    const body = JSON.stringify({
      stream_name: "WS_FS",
      config: {
        name: RA[9],
        filter_subject: "ws.w1.fs.>",
        deliver_subject: "ws.w2.cmd.fs",
        ack_policy: "none",
      },
    });
    expect(await request(a.nc, subject, body)).toBe("denied");
  });

  it("hub nats - nats.js kv (allow_direct) gets its own keys; a view is watched with its own reader", async () => {
    const js = jetstream(a.nc, { domain: D });
    const terms = await new Kvm(js).open("terms", { allow_direct: true });
    expect((await terms.get("w1.t1"))?.json()).toEqual({ ws: "w1" });
    // A watch as the page has one: a reader of the view's keys of its workspace, by name.
    await readerFor("KV_terms", RA[11]!, "$KV.terms.w1.*");
    expect(await pullOne(a.nc, a.minted.inboxPrefix, "KV_terms", RA[11]!)).toBe("$KV.terms.w1.t1");
    await jsReply(a.nc, `${API}.CONSUMER.DELETE.KV_terms.${RA[11]}`, "");
  });

  it("hub nats - a viewer reads its workspace's stream and views", async () => {
    await readerFor("WS_TERM", RA[10]!, "ws.w3.term.*.out");
    expect(await pullOne(viewer.nc, viewer.minted.inboxPrefix, "WS_TERM", RA[10]!)).toBe(
      "ws.w3.term.t1.out",
    );
    const js = jetstream(viewer.nc, { domain: D });
    const settings = await new Kvm(js).open("settings", { allow_direct: true });
    expect((await settings.get("w3"))?.json()).toEqual({ ws: "w3" });
  });

  it("hub nats - bad mint input is ERR_HUB_NATS_INPUT", async () => {
    const err = await hub.auth
      .mintUserJwt({ userNkeyPublic: "nope", accountId: "acctA", memberships: [] })
      .catch((e: unknown) => e);
    expect((err as CocalcError).code).toBe("ERR_HUB_NATS_INPUT");
    const ttl = await hub.auth
      .mintUserJwt({
        userNkeyPublic: createUser().getPublicKey(),
        accountId: "acctA",
        memberships: [],
        ttlSeconds: 0,
      })
      .catch((e: unknown) => e);
    expect((ttl as CocalcError).code).toBe("ERR_HUB_NATS_INPUT");
  });

  /** Tries a fresh login with `jwt`; resolves with the server's refusal, or undefined if it let us in. */
  async function loginRefusal(jwt: string, key: KeyPair, inboxPrefix: string) {
    try {
      const nc = await hub.connectUser(jwt, key.getSeed(), inboxPrefix);
      await nc.close();
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  it("hub nats - an expired JWT is refused, and its open connection is closed", async () => {
    const b = await browser([W1], { ttlSeconds: 2 });
    expect(await request(b.nc, "ws.w1.cmd.fs")).toBe("allowed");
    // The server ends the open connection when the JWT expires…
    const closed = await b.nc.closed();
    expect(String(closed)).toMatch(/expired/i);
    // …and refuses a new login with it (the server counts whole seconds: poll until it does).
    let refusal: Error | undefined;
    for (let i = 0; i < 200 && !refusal; i++) {
      refusal = await loginRefusal(b.minted.jwt, b.key, b.minted.inboxPrefix);
      if (!refusal) await new Promise((r) => setTimeout(r, 50));
    }
    expect(String(refusal)).toMatch(/expired|authorization/i);
  });

  it("hub nats - a revoked user's open connection is closed and it cannot log in again", async () => {
    const b = await browser([W1]);
    expect(await request(b.nc, "ws.w1.cmd.fs")).toBe("allowed");
    await hub.auth.revokeUser(b.key.getPublicKey());
    expect(String(await b.nc.closed())).toMatch(/revoked/i);
    const refusal = await loginRefusal(b.minted.jwt, b.key, b.minted.inboxPrefix);
    expect(String(refusal)).toMatch(/authorization|revoked/i);
    const again = await hub.auth
      .mintUserJwt({
        userNkeyPublic: b.key.getPublicKey(),
        accountId: "acctA",
        memberships: [W1],
      })
      .catch((e: unknown) => e);
    expect((again as CocalcError).code).toBe("ERR_HUB_NATS_REVOKED");
    // The revocation is in the account JWT a restarted nats-server would preload.
    const preload = await hub.auth.preload();
    const claims = decode<{ revocations?: Record<string, number> }>(
      preload[hub.auth.accountPublicKey]!,
    );
    expect(claims.nats.revocations?.[b.key.getPublicKey()]).toBeGreaterThan(0);
  });

  it("hub nats - revoking an account closes every browser of it, and only those", async () => {
    const one = await browser([W1], { accountId: "acctR" });
    const two = await browser([W3], { accountId: "acctR" });
    const other = await browser([W1], { accountId: "acctS" });
    expect(await hub.auth.revokeAccount("acctR")).toBe(2);
    for (const b of [one, two]) expect(String(await b.nc.closed())).toMatch(/revoked/i);
    // The push was answered, so the server has applied it: the other account's browser works.
    expect(await request(other.nc, "ws.w1.cmd.fs")).toBe("allowed");
    expect(other.nc.isClosed()).toBe(false);
  });

  it("hub nats - a removed member loses access (new JWT without the workspace, old key revoked)", async () => {
    const before = await browser([W1, W3]);
    expect(await request(before.nc, "ws.w1.cmd.fs")).toBe("allowed");
    await hub.auth.revokeUser(before.key.getPublicKey());
    await before.nc.closed();
    const after = await browser([W3]);
    expect(await request(after.nc, "ws.w1.cmd.fs")).toBe("denied");
    const c = consumerCreate("WS_FS", readerNames(after.key.getPublicKey())[0]!, "ws.w1.fs.>");
    expect(await request(after.nc, c.subject, c.body)).toBe("denied");
    expect(await request(after.nc, `${API}.DIRECT.GET.KV_terms.$KV.terms.w1.t1`)).toBe("denied");
    expect(await subscribe(after.nc, "ws.w1.feed.>", "ws.w1.feed.fs")).toBe("denied");
    expect(await subscribe(after.nc, "ws.w3.feed.>", "ws.w3.feed.fs")).toBe("allowed");
  });

  /** A login over the websocket listener, as a page would (Node 20 has no WebSocket of its own). */
  async function wsLogin(jwt: string, key: KeyPair, inboxPrefix: string, origin: string) {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    g.WebSocket = class extends WS {
      constructor(url: string) {
        super(url, { origin });
      }
    };
    try {
      return await wsconnect({
        servers: hub.server.wsUrl,
        authenticator: jwtAuthenticator(jwt, key.getSeed()),
        inboxPrefix,
        reconnect: false,
      });
    } finally {
      g.WebSocket = saved;
    }
  }

  it("hub nats - a browser JWT logs in over the websocket from the gateway's origin only", async () => {
    const key = createUser();
    const m = await hub.auth.mintUserJwt({
      userNkeyPublic: key.getPublicKey(),
      accountId: "acctA",
      memberships: [W1],
    });
    const nc = await wsLogin(m.jwt, key, m.inboxPrefix, "http://hub.test");
    watchViolations(nc);
    expect(await request(nc, "ws.w1.cmd.fs")).toBe("allowed");
    expect(await request(nc, "ws.w2.cmd.fs")).toBe("denied");
    await nc.close();
    // The default JWT is for websockets: the client listener refuses it…
    expect(String(await loginRefusal(m.jwt, key, m.inboxPrefix))).toMatch(/authorization/i);
    // …and the websocket listener refuses pages of other origins.
    const foreign = await wsLogin(m.jwt, key, m.inboxPrefix, "http://evil.test").catch((e) => e);
    expect(foreign).toBeInstanceOf(Error);
  });

  it("hub nats - a JWT with the most memberships still fits in a CONNECT", async () => {
    const many = Array.from({ length: MAX_MEMBERSHIPS }, (_, i) => ({
      wsid: i === 0 ? "w1" : `many${i}`,
      role: "owner" as const,
      ...(i < MAX_HOSTED_MEMBERSHIPS && { jsDomain: `host-${i % 7}` }),
    }));
    const b = await browser(many);
    expect(await request(b.nc, "ws.w1.cmd.fs")).toBe("allowed");
    expect(await request(b.nc, "ws.w2.cmd.fs")).toBe("denied");
  });

  it("hub nats - keys are kept: reopening reads the same ones; a key file others may read is refused", async () => {
    const again = await HubNatsAuth.open({ dir: hub.dir, hubDomain: D, log: testLog });
    expect(again.accountPublicKey).toBe(hub.auth.accountPublicKey);
    const dir = await mkdtemp(join(tmpdir(), "cocalc-test-hub-keys-"));
    try {
      const fresh = await HubNatsAuth.open({ dir, hubDomain: D, log: testLog });
      expect(fresh.accountPublicKey).not.toBe(hub.auth.accountPublicKey);
      await chmod(join(dir, KEYS_FILE), 0o644);
      const err = await HubNatsAuth.open({ dir, hubDomain: D, log: testLog }).catch((e) => e);
      expect((err as CocalcError).code).toBe("ERR_HUB_NATS_KEYS");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
