/**
 * The hub's sign-in over HTTP against the real accounts service and nats-server: setup link,
 * sign-up with an invite, sign-in (429 with Retry-After when guessing), who am I, and sign
 * out everywhere, which ends that account's browsers only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { HubSubjects } from "../../shared/hub.js";
import { startHubGateway, type TestHubGateway } from "../helpers/hub-gateway.js";

describe("gateway - hub sign-in", () => {
  let g: TestHubGateway;
  let t: TestHubGateway["t"];
  let setupToken: string;
  let post: TestHubGateway["post"];
  let me: TestHubGateway["me"];
  let base: string;

  beforeAll(async () => {
    g = await startHubGateway();
    ({ t, setupToken, post, me, base } = g);
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  it("setup link → admin signed in; invite → a second account; sign out everywhere is per account", async () => {
    const state = await (await fetch(`${base}${HUB_PATHS.state}`)).json();
    expect(state).toEqual({ setUp: false, signUpMode: "invite" });
    // Only from this server's own pages.
    expect(
      (
        await post(
          HUB_PATHS.setup,
          { setupToken, email: "a@example.com", password: "0123456789ab" },
          { origin: "http://evil.example" },
        )
      ).status,
    ).toBe(403);
    const made = await post(HUB_PATHS.setup, {
      setupToken,
      email: "admin@example.com",
      password: "an admin's password",
    });
    expect(made.status).toBe(200);
    expect(made.headers.get("set-cookie")).toBeNull();
    const admin = (await made.json()) as {
      credential: string;
      account: { id: string; role: string };
    };
    expect(admin.account.role).toBe("admin");
    expect(await (await me(admin.credential)).json()).toMatchObject({
      account: { id: admin.account.id, role: "admin" },
      email: "admin@example.com",
    });
    expect((await fetch(`${base}${HUB_PATHS.state}`).then((r) => r.json())).setUp).toBe(true);

    const invite = await t.nc.request(
      HubSubjects.command,
      JSON.stringify({ type: "CreateInvite", data: { by: admin.account.id, uses: 1 } }),
      { timeout: 20_000 },
    );
    const { token } = invite.json<{ invite: { token: string } }>().invite;
    const signUp = await post(HUB_PATHS.signUp, {
      email: "bea@example.com",
      password: "bea's own password",
      invite: token,
    });
    expect(signUp.status).toBe(200);
    const bea = (await signUp.json()) as { credential: string; account: { id: string } };

    const again = await post(HUB_PATHS.signIn, {
      email: "bea@example.com",
      password: "bea's own password",
    });
    expect(again.status).toBe(200);
    const bea2 = (await again.json()) as { credential: string };

    // Bea signs out everywhere: both of her browsers, and not the admin's.
    const out = await post(
      "/api/auth/sign-out",
      { everywhere: true },
      { authorization: `Bearer ${bea.credential}` },
    );
    expect(out.status).toBe(200);
    expect((await me(bea.credential)).status).toBe(401);
    expect((await me(bea2.credential)).status).toBe(401);
    expect((await me(admin.credential)).status).toBe(200);
  });

  it("wrong passwords: 401 in words, then 429 with Retry-After", async () => {
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post(HUB_PATHS.signIn, { email: "admin@example.com", password: `guess ${i}` });
      expect(last.status).toBe(401);
    }
    expect(((await last!.json()) as { message: string }).message).toBe("wrong email or password");
    const limited = await post(HUB_PATHS.signIn, {
      email: "admin@example.com",
      password: "an admin's password",
    });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { message: string }).message).toMatch(/try again in \d+ s/);
    // Bad input is refused before the service sees it.
    expect((await post(HUB_PATHS.signIn, { email: "x" })).status).toBe(400);
  });
});

describe("gateway - hub guessing and flooding, the clock moved past the waits", () => {
  let g: TestHubGateway;
  let now = Date.now();
  let admin: { credential: string; id: string };

  beforeAll(async () => {
    g = await startHubGateway({ now: () => now });
    admin = await g.admin("owner@example.com", "the owner's password");
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  it("a signed-in browser guessing the current password is slowed, on the account's sign-in count", async () => {
    const as = { authorization: `Bearer ${admin.credential}` };
    const change = (old: string) =>
      g.post(HUB_PATHS.password, { old, password: "a brand new password" }, as);
    for (let i = 0; i < 5; i++) {
      const wrong = await change(`guess number ${i}`);
      expect(wrong.status).toBe(403);
      expect(((await wrong.json()) as { code: string }).code).toBe("ERR_HUB_PASSWORD_WRONG");
    }
    // Now even the right one waits, in words, and so does signing in to the account.
    const limited = await change("the owner's password");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { message: string }).message).toMatch(/try again in \d+ s/);
    const signIn = await g.post(HUB_PATHS.signIn, {
      email: "owner@example.com",
      password: "the owner's password",
    });
    expect(signIn.status).toBe(429);
    // Nothing changed: once the wait is over, the old password signs in, the new one not.
    now += 16 * 60_000;
    const signInWith = (password: string) =>
      g.post(HUB_PATHS.signIn, { email: "owner@example.com", password });
    expect((await signInWith("a brand new password")).status).toBe(401);
    expect((await signInWith("the owner's password")).status).toBe(200);
    expect((await g.me(admin.credential)).status).toBe(200);
  });

  it("one address makes 20 accounts at once, then waits; invited ones are the invite's", async () => {
    const as = { authorization: `Bearer ${admin.credential}` };
    expect((await g.post(HUB_PATHS.signUpMode, { mode: "open" }, as)).status).toBe(200);
    const signUp = (n: number, invite?: string) =>
      g.post(HUB_PATHS.signUp, {
        email: `person${n}@example.com`,
        password: "a long enough password",
        ...(invite && { invite }),
        // The address is the gateway's to say, not the body's.
        address: `10.9.9.${n}`,
      });
    for (let n = 0; n < 20; n++) expect((await signUp(n)).status).toBe(200);
    const limited = await signUp(20);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { message: string }).message).toMatch(
      /too many accounts made from this address: try again in \d+ s/,
    );
    expect(
      (
        await g.post(HUB_PATHS.signIn, {
          email: "person20@example.com",
          password: "a long enough password",
        })
      ).status,
    ).toBe(401);
    // An invite the admin made still works from there.
    const inv = await g.post(HUB_PATHS.invites, { uses: 1 }, as);
    const { token } = ((await inv.json()) as { invite: { token: string } }).invite;
    expect((await signUp(21, token)).status).toBe(200);
    // Later, open sign-up from there works again.
    now += 16 * 60_000;
    expect((await signUp(20)).status).toBe(200);
  });
});
