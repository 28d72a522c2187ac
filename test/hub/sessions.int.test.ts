/**
 * An account's signed-in browsers are events (BrowserSignedIn / BrowserSignedOut on the
 * account's subject) with a KV view, against the real accounts service and nats-server: the
 * account's page lists them (device, since, last use, this one), signs one out, and a new
 * password, a deletion or a gateway that restarted with fewer sessions than the view lists
 * bring the view in line. No secret and no whole user agent is in history.
 */
import { Kvm } from "@nats-io/kv";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authPlugin } from "../../services/gateway/auth.js";
import { BrowserSessions } from "../../services/gateway/browser-sessions.js";
import { HUB_PATHS, HUB_PUBLIC_PATHS, hubAuthPlugin } from "../../services/gateway/hub-auth.js";
import { securityPlugin } from "../../services/gateway/security.js";
import { readSubjectMessages } from "../../services/runtime/stream-read.js";
import {
  HubBuckets,
  HubSubjects,
  type SessionListItem,
  type SessionsView,
} from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { startHubGateway, type TestHubGateway } from "../helpers/hub-gateway.js";
import { testLog, until } from "../helpers/nats.js";

const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const SAFARI =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";

describe("hub - signed-in browsers as events and a view", () => {
  let g: TestHubGateway;
  let admin: { credential: string; id: string };

  beforeAll(async () => {
    g = await startHubGateway();
    admin = await g.admin("owner@example.com", "the owner's password");
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  const as = (credential: string) => ({ authorization: `Bearer ${credential}` });
  const list = async (credential: string) => {
    const res = await fetch(`${g.base}${HUB_PATHS.sessions}`, { headers: as(credential) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { sessions: SessionListItem[] }).sessions;
  };
  const signIn = async (userAgent: string, password = "the owner's password") => {
    const res = await g.post(
      HUB_PATHS.signIn,
      { email: "owner@example.com", password },
      { "user-agent": userAgent },
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { credential: string }).credential;
  };
  const events = async (account: string) => {
    const last = (await g.t.jsm.streams.info(Streams.HUB)).state.last_seq;
    const ms = await readSubjectMessages(
      g.t.js,
      Streams.HUB,
      HubSubjects.account(account),
      0,
      last,
    );
    return ms.map(
      (m) => JSON.parse(new TextDecoder().decode(m.data)) as { type: string; data: unknown },
    );
  };
  const view = async (account: string) => {
    const kv = await new Kvm(g.t.nc).open(HubBuckets.sessions);
    const e = await kv.get(account);
    return e && e.operation === "PUT" && e.length > 0 ? e.json<SessionsView>() : null;
  };

  it("lists each browser with its device, newest first, and says which one is this", async () => {
    const firefox = await signIn(FIREFOX);
    const safari = await signIn(SAFARI);
    const seen = await until("three browsers listed", async () => {
      const l = await list(safari);
      return l.length === 3 ? l : undefined;
    });
    expect(seen.map((s) => s.device)).toEqual([
      "Safari on macOS",
      "Firefox on Linux",
      expect.any(String),
    ]);
    expect(seen.map((s) => s.current)).toEqual([true, false, false]);
    for (const s of seen) {
      expect(Date.parse(s.signedIn)).toBeGreaterThan(0);
      expect(Date.parse(s.lastUsed!)).toBeGreaterThan(0);
    }
    expect((await list(firefox)).map((s) => s.current)).toEqual([false, true, false]);

    // History says who signed in, never with what, nor the whole user agent.
    const es = await events(admin.id);
    const signedIn = es.filter((e) => e.type === "BrowserSignedIn");
    expect(signedIn).toHaveLength(3);
    // Recorded under the id the browser's credential carries.
    const ids = signedIn.map((e) => (e.data as { session: string }).session);
    for (const c of [firefox, safari]) expect(ids).toContain(c.split(".")[0]);
    // A wrong password records nothing.
    const wrong = await g.post(
      HUB_PATHS.signIn,
      { email: "owner@example.com", password: "not the password" },
      { "user-agent": FIREFOX },
    );
    expect(wrong.status).toBe(401);
    expect((await events(admin.id)).filter((e) => e.type === "BrowserSignedIn")).toHaveLength(3);
    const text = JSON.stringify(es);
    for (const secret of [firefox, safari, admin.credential])
      expect(text).not.toContain(secret.split(".")[1]);
    expect(text).not.toContain("Gecko/20100101");
  });

  it("signs one browser out from another; another account's browser is not found", async () => {
    const l = await list(admin.credential);
    const other = l.find((s) => s.device === "Firefox on Linux")!;
    const del = await fetch(`${g.base}${HUB_PATHS.sessions}/${other.id}`, {
      method: "DELETE",
      headers: as(admin.credential),
    });
    expect(del.status).toBe(200);
    await until("the view drops it", async () =>
      (await view(admin.id))?.sessions.every((s) => s.id !== other.id),
    );
    expect((await list(admin.credential)).map((s) => s.id)).not.toContain(other.id);
    const out = (await events(admin.id)).filter((e) => e.type === "BrowserSignedOut");
    expect(out.at(-1)?.data).toEqual({ sessions: [other.id], why: "signed-out" });

    // A second account cannot sign the owner's browsers out, nor learn of them.
    const inv = await g.post(HUB_PATHS.invites, { uses: 1 }, as(admin.credential));
    const { token } = ((await inv.json()) as { invite: { token: string } }).invite;
    const bea = (await (
      await g.post(HUB_PATHS.signUp, {
        email: "bea@example.com",
        password: "bea's own password",
        invite: token,
      })
    ).json()) as { credential: string; account: { id: string } };
    const target = (await list(admin.credential))[0]!;
    const refused = await fetch(`${g.base}${HUB_PATHS.sessions}/${target.id}`, {
      method: "DELETE",
      headers: as(bea.credential),
    });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { code: string }).code).toBe("ERR_HUB_SESSION_NOT_FOUND");
    expect((await g.me(admin.credential)).status).toBe(200);
    const beas = await until("bea's one browser", async () => {
      const x = await list(bea.credential);
      return x.length === 1 ? x : undefined;
    });
    expect(beas.map((s) => s.id)).not.toContain(target.id);
    // Bad ids change nothing.
    const bad = await fetch(`${g.base}${HUB_PATHS.sessions}/${encodeURIComponent("../x y")}`, {
      method: "DELETE",
      headers: as(bea.credential),
    });
    expect(bad.status).toBe(404);
    // And no one signed out can list.
    const anon = await fetch(`${g.base}${HUB_PATHS.sessions}`);
    expect(anon.status).toBe(401);
  });

  it("a new password signs the others out, recorded as such; deletion drops the view", async () => {
    const before = await list(admin.credential);
    expect(before.length).toBeGreaterThan(1);
    const res = await g.post(
      HUB_PATHS.password,
      { old: "the owner's password", password: "the owner's new password" },
      as(admin.credential),
    );
    expect(res.status).toBe(200);
    const after = await until("only this browser", async () => {
      const l = await list(admin.credential);
      return l.length === 1 ? l : undefined;
    });
    expect(after[0]!.current).toBe(true);
    await until("the view too", async () => (await view(admin.id))?.sessions.length === 1);
    const out = (await events(admin.id)).filter((e) => e.type === "BrowserSignedOut");
    expect(out.at(-1)?.data).toMatchObject({ why: "password" });

    // Bea deletes her account: its view is gone with it.
    const bea = await signInAs("bea@example.com", "bea's own password");
    await until("bea's view", async () => (await view(bea.id)) !== null);
    const gone = await g.t.nc.request(
      HubSubjects.command,
      JSON.stringify({ type: "DeleteAccount", data: { by: bea.id, account: bea.id } }),
      { timeout: 20_000 },
    );
    expect(gone.json<{ ok: boolean }>().ok).toBe(true);
    await until("bea's view erased", async () => (await view(bea.id)) === null);
  });

  async function signInAs(email: string, password: string) {
    const res = await g.post(HUB_PATHS.signIn, { email, password });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { credential: string; account: { id: string } };
    return { credential: r.credential, id: r.account.id };
  }

  it("a gateway that starts with other sessions than the view lists brings the view in line", async () => {
    const listed = (await view(admin.id))!.sessions;
    expect(listed).toHaveLength(1);
    // As after a restart: this gateway's store lost the listed browser and has one the view
    // never heard of (signed in before sign-ins were recorded).
    const sessions = await BrowserSessions.open();
    const kept = (await sessions.create(FIREFOX, admin.id)).split(".")[0]!;
    const app = Fastify({ loggerInstance: testLog as FastifyBaseLogger });
    await app.register(securityPlugin, { allowedHosts: new Set(["127.0.0.1"]) });
    await app.register(authPlugin, { sessions, publicPaths: HUB_PUBLIC_PATHS, linkable: [] });
    await app.register(hubAuthPlugin, { nc: g.t.nc, sessions });
    await app.ready();
    try {
      const v = await until("the view follows the store", async () => {
        const x = await view(admin.id);
        return x?.sessions.length === 1 && x.sessions[0]!.id === kept ? x : undefined;
      });
      expect(v.sessions[0]!.device).toBe("Firefox on Linux");
      const out = (await events(admin.id)).filter((e) => e.type === "BrowserSignedOut");
      expect(out.at(-1)?.data).toEqual({ sessions: [listed[0]!.id], why: "expired" });
    } finally {
      await app.close();
      await sessions.close();
    }
  });
});
