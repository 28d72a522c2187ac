/**
 * The admin's Accounts over HTTP, against the real accounts service and nats-server: a page
 * of accounts searched by email; make admin and make user (taking effect on the next request,
 * recorded with the admin as actor); an admin can neither demote nor disable themselves; a
 * user is refused every action and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_ADMIN_PATH } from "../../services/gateway/hub-admin.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { type AccountView, HubSubjects } from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { startHubGateway, type TestHubGateway } from "../helpers/hub-gateway.js";

type Page = { total: number; accounts: (AccountView & { email?: string })[] };

describe("hub admin accounts - over HTTP", () => {
  let g: TestHubGateway;
  let admin: { credential: string; id: string };
  let bob: { credential: string; id: string };
  const as = (credential: string) => ({ authorization: `Bearer ${credential}` });
  const accounts = async (credential: string, query = "") => {
    const res = await fetch(`${g.base}${HUB_ADMIN_PATH}/accounts${query}`, {
      headers: as(credential),
    });
    return { status: res.status, body: (await res.json()) as Page };
  };
  const act = (credential: string, id: string, action: string) =>
    g.post(`${HUB_ADMIN_PATH}/accounts/${id}/${action}`, {}, as(credential));
  const roleOf = async (id: string) =>
    (await accounts(admin.credential)).body.accounts.find((a) => a.id === id)?.role;

  beforeAll(async () => {
    g = await startHubGateway();
    admin = await g.admin();
    await g.post(HUB_PATHS.signUpMode, { mode: "open" }, as(admin.credential));
    for (const name of ["bob", "carl", "dora"]) {
      const res = await g.post(HUB_PATHS.signUp, {
        email: `${name}@example.com`,
        password: `${name}'s long password`,
      });
      expect(res.status).toBe(200);
      const r = (await res.json()) as { credential: string; account: { id: string } };
      if (name === "bob") bob = { credential: r.credential, id: r.account.id };
    }
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  it("admin accounts - a page searched by email, with its count", async () => {
    const all = await accounts(admin.credential);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    const found = await accounts(admin.credential, "?q=BOB@");
    expect(found.body.total).toBe(1);
    expect(found.body.accounts[0]).toMatchObject({ id: bob.id, email: "bob@example.com" });
    const second = await accounts(admin.credential, "?offset=1&limit=2");
    expect(second.body.total).toBe(4);
    expect(second.body.accounts.map((a) => a.id)).toEqual(
      all.body.accounts.slice(1, 3).map((a) => a.id),
    );
    expect(JSON.stringify(all.body)).not.toMatch(/argon2|passwordHash/);
  });

  it("admin accounts - a user is refused every action, and nothing changes", async () => {
    expect((await accounts(bob.credential)).status).toBe(403);
    expect((await act(bob.credential, bob.id, "admin")).status).toBe(403);
    expect((await act(bob.credential, admin.id, "disable")).status).toBe(403);
    expect((await act(admin.credential, bob.id, "root")).status).toBe(400);
    expect(await roleOf(bob.id)).toBe("user");
  });

  it("admin accounts - made an admin, bob reaches the admin pages at once; made a user, no more", async () => {
    const made = await act(admin.credential, bob.id, "admin");
    expect(made.status).toBe(200);
    expect(((await made.json()) as { account: AccountView }).account.role).toBe("admin");
    expect((await accounts(bob.credential)).status).toBe(200);
    const last = await g.t.jsm.streams.getMessage(Streams.HUB, {
      last_by_subj: HubSubjects.account(bob.id),
    });
    expect(last?.json<{ type: string; actor: string }>()).toMatchObject({
      type: "AccountRoleChanged",
      actor: expect.stringContaining(admin.id),
    });
    expect((await act(admin.credential, bob.id, "user")).status).toBe(200);
    expect((await accounts(bob.credential)).status).toBe(403);
    expect(await roleOf(bob.id)).toBe("user");
  });

  it("admin accounts - an admin can neither demote nor disable themselves", async () => {
    for (const action of ["user", "disable"]) {
      const res = await act(admin.credential, admin.id, action);
      expect(res.status).toBe(409);
      expect(((await res.json()) as { message: string }).message).toMatch(/themselves/);
    }
    expect(await roleOf(admin.id)).toBe("admin");
    expect((await g.me(admin.credential)).status).toBe(200);
  });
});
