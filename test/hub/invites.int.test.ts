/**
 * Sign-up invites in the admin's hands over HTTP, against the real accounts service and
 * nats-server: a page of them (newest first, no secret in it), revoking one (its link signs
 * nobody up after), an expired one saying so, and only an admin doing any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_ADMIN_PATH } from "../../services/gateway/hub-admin.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { HubSubjects, type InviteItem } from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { startHubGateway, type TestHubGateway } from "../helpers/hub-gateway.js";

describe("hub invites - the admin's list and revoke", () => {
  let g: TestHubGateway;
  let now = Date.now();
  let admin: { credential: string; id: string };
  const as = (credential: string) => ({ authorization: `Bearer ${credential}` });
  const list = async (credential: string, query = "") => {
    const res = await fetch(`${g.base}${HUB_ADMIN_PATH}/invites${query}`, {
      headers: as(credential),
    });
    return {
      status: res.status,
      body: (await res.json()) as { total: number; invites: InviteItem[] },
    };
  };
  const invite = async (uses: number, ttlSeconds: number) => {
    const res = await g.post(HUB_PATHS.invites, { uses, ttlSeconds }, as(admin.credential));
    expect(res.status).toBe(200);
    return ((await res.json()) as { invite: { id: string; token: string } }).invite;
  };
  const signUp = (email: string, token: string) =>
    g.post(HUB_PATHS.signUp, { email, password: `${email}'s password`, invite: token });
  const revoke = (credential: string, id: string) =>
    g.post(`${HUB_ADMIN_PATH}/invites/${id}/revoke`, {}, as(credential));

  beforeAll(async () => {
    g = await startHubGateway({ now: () => now });
    admin = await g.admin();
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  it("invites - listed newest first with uses and expiry, never their secret; paged", async () => {
    const a = await invite(2, 86_400);
    now += 1000;
    const b = await invite(1, 3600);
    const { status, body } = await list(admin.credential);
    expect(status).toBe(200);
    expect(body.total).toBe(2);
    expect(body.invites.map((i) => i.id)).toEqual([b.id, a.id]);
    expect(body.invites[1]).toMatchObject({ id: a.id, uses: 2, used: 0, status: "open" });
    expect(Date.parse(body.invites[1]!.expires!)).toBeGreaterThan(now);
    const text = JSON.stringify(body);
    for (const t of [a, b]) expect(text).not.toContain(t.token.split(".")[1]);
    const second = await list(admin.credential, "?offset=1&limit=1");
    expect(second.body).toMatchObject({ total: 2, invites: [{ id: a.id }] });
    // A bad page is refused before anything is read.
    expect((await list(admin.credential, "?limit=100000")).status).toBe(400);
  });

  it("invites - revoked, its link signs nobody up; only an admin may list or revoke", async () => {
    const c = await invite(3, 86_400);
    expect((await signUp("cleo@example.com", c.token)).status).toBe(200);
    const cleo = await g.post(HUB_PATHS.signIn, {
      email: "cleo@example.com",
      password: "cleo@example.com's password",
    });
    const cleoCredential = ((await cleo.json()) as { credential: string }).credential;
    // Cleo is no admin: refused, and the invite stays open.
    expect((await list(cleoCredential)).status).toBe(403);
    expect((await revoke(cleoCredential, c.id)).status).toBe(403);
    // Signed out: refused too.
    expect((await g.post(`${HUB_ADMIN_PATH}/invites/${c.id}/revoke`, {})).status).toBe(401);
    let row = (await list(admin.credential)).body.invites.find((i) => i.id === c.id);
    expect(row).toMatchObject({ status: "open", used: 1, uses: 3 });

    expect((await revoke(admin.credential, c.id)).status).toBe(200);
    row = (await list(admin.credential)).body.invites.find((i) => i.id === c.id);
    expect(row).toMatchObject({ status: "revoked", used: 1 });
    const refused = await signUp("dan@example.com", c.token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe("ERR_HUB_INVITE");
    expect(
      (await g.post(HUB_PATHS.signIn, { email: "dan@example.com", password: "x".repeat(12) }))
        .status,
    ).toBe(401);
    // Again: nothing more happens; an id that is no invite says so.
    expect((await revoke(admin.credential, c.id)).status).toBe(200);
    const none = await revoke(admin.credential, "no-such-invite");
    expect(none.status).toBe(403);
    expect(((await none.json()) as { message: string }).message).toMatch(/no such invite/);
    expect((await revoke(admin.credential, "bad id!")).status).toBe(400);

    // The revocation is an event with the admin as its actor (the activity page's source).
    const last = await g.t.jsm.streams.getMessage(Streams.HUB, {
      last_by_subj: HubSubjects.invite(c.id),
    });
    expect(last?.json<{ type: string; actor: string }>()).toMatchObject({
      type: "InviteRevoked",
      actor: expect.stringContaining(admin.id),
    });
  });

  it("invites - past its expiry an open invite is listed as expired and signs nobody up", async () => {
    const d = await invite(1, 3600);
    now += 2 * 3600_000;
    const row = (await list(admin.credential)).body.invites.find((i) => i.id === d.id);
    expect(row?.status).toBe("expired");
    const refused = await signUp("eve@example.com", d.token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toMatch(/expired/);
  });
});
