/**
 * Password reset links against the real accounts service, nats-server and gateway: an admin
 * makes one; the page sets a new password with it, which signs out the account's other
 * browsers; a second use, an expired, a replaced and a forged link are ERR_HUB_RESET and
 * change nothing; the secret is in no event; each action is an event with its actor. Also
 * a signed-in browser's idle and absolute expiry over HTTP, with a moved clock.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_ADMIN_PATH } from "../../services/gateway/hub-admin.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { controlPlaneStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { startHubGateway, type TestHubGateway } from "../helpers/hub-gateway.js";

const DAY = 86_400_000;
const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

describe("hub - password reset links", () => {
  let g: TestHubGateway;
  let now = Date.parse("2026-06-01T00:00:00Z");
  let admin: { credential: string; id: string };
  let bea: { credential: string; id: string };

  const signIn = (email: string, password: string) => g.post(HUB_PATHS.signIn, { email, password });
  const resetLink = async (account: string, ttlSeconds?: number) => {
    const res = await g.post(
      `${HUB_ADMIN_PATH}/accounts/${account}/reset-link`,
      ttlSeconds === undefined ? {} : { ttlSeconds },
      bearer(admin.credential),
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { reset: { token: string; expires: string } }).reset;
  };
  const reset = (token: string, password: string) => g.post(HUB_PATHS.reset, { token, password });
  const refusal = async (res: Response) => {
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("ERR_HUB_RESET");
    return body.message;
  };

  beforeAll(async () => {
    g = await startHubGateway({
      sessions: { idleMs: 30 * DAY, lifetimeMs: 90 * DAY },
      now: () => now,
    });
    // The activity page reads the registry's stream too.
    await ensureStreams(g.t.jsm, controlPlaneStreams());
    admin = await g.admin();
    const made = await g.t.nc.request(
      HubSubjects.command,
      JSON.stringify({
        type: "CreateAccount",
        data: {
          by: CONSOLE_ACTOR,
          email: "bea@example.com",
          password: "bea's old password",
          role: "user",
        },
      }),
      { timeout: 20_000 },
    );
    const id = made.json<HubReply & { ok: true }>().account!.id;
    const res = await signIn("bea@example.com", "bea's old password");
    bea = { credential: ((await res.json()) as { credential: string }).credential, id };
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  it("reset - a link sets a new password once, signs out the other browsers, signs this one in", async () => {
    const second = (await (await signIn("bea@example.com", "bea's old password")).json()) as {
      credential: string;
    };
    const link = await resetLink(bea.id);
    expect(link.token.startsWith(`${bea.id}.1.`)).toBe(true);
    expect(Date.parse(link.expires) - now).toBe(DAY);
    // Only an admin makes links; a user asking is refused and nothing is made.
    const byBea = await g.post(
      `${HUB_ADMIN_PATH}/accounts/${admin.id}/reset-link`,
      {},
      bearer(bea.credential),
    );
    expect(byBea.status).toBe(403);

    // A weak password is refused and leaves the link usable.
    const weak = await reset(link.token, "short");
    expect(weak.status).toBe(400);
    expect(((await weak.json()) as { code: string }).code).toBe("ERR_HUB_PASSWORD_WEAK");

    const used = await reset(link.token, "bea's new password");
    expect(used.status).toBe(200);
    const signedIn = (await used.json()) as { credential: string; account: { id: string } };
    expect(signedIn.account.id).toBe(bea.id);
    expect((await g.me(signedIn.credential)).status).toBe(200);
    // Her browsers from before are signed out; the admin's is not.
    expect((await g.me(bea.credential)).status).toBe(401);
    expect((await g.me(second.credential)).status).toBe(401);
    expect((await g.me(admin.credential)).status).toBe(200);
    expect((await signIn("bea@example.com", "bea's old password")).status).toBe(401);
    expect((await signIn("bea@example.com", "bea's new password")).status).toBe(200);
    bea.credential = signedIn.credential;

    // Once: the second use is refused in words and changes nothing.
    expect(await refusal(await reset(link.token, "someone else's password"))).toMatch(
      /used already/,
    );
    expect((await signIn("bea@example.com", "someone else's password")).status).toBe(401);
    expect((await g.me(bea.credential)).status).toBe(200);
  });

  it("reset - expired, replaced and forged links are refused and change nothing", async () => {
    const expiring = await resetLink(bea.id, 3600);
    now += 3601_000;
    expect(await refusal(await reset(expiring.token, "an expired one's password"))).toMatch(
      /expired/,
    );

    const older = await resetLink(bea.id);
    const newer = await resetLink(bea.id);
    expect(await refusal(await reset(older.token, "an older one's password"))).toMatch(/newer/);

    const [account, n, secret] = newer.token.split(".") as [string, string, string];
    const forged = [
      `${account}.${n}.${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`,
      `${admin.id}.${n}.${secret}`,
      `${account}.${Number(n) + 1}.${secret}`,
      `${account}.${n}`,
      "../../etc/passwd",
    ];
    for (const token of forged)
      expect(await refusal(await reset(token, "a forger's password!"))).toMatch(/not valid/);
    for (const password of [
      "an expired one's password",
      "an older one's password",
      "a forger's password!",
    ])
      expect((await signIn("bea@example.com", password)).status).toBe(401);
    expect((await g.me(bea.credential)).status).toBe(200);
    // The newest still works after all that.
    expect((await reset(newer.token, "bea's newest password")).status).toBe(200);
  });

  it("reset - every action is an event with its actor; no secret in any event", async () => {
    const link = await resetLink(admin.id);
    const secret = link.token.split(".")[2]!;
    const jsm = await jetstreamManager(g.t.nc);
    const last = (await jsm.streams.info(Streams.HUB)).state.last_seq;
    const events: { type: string; actor: string; subject: string }[] = [];
    for (let seq = 1; seq <= last; seq++) {
      const m = await jsm.streams.getMessage(Streams.HUB, { seq });
      if (!m) throw new Error(`HUB has no message ${seq}`);
      expect(m.string()).not.toContain(secret);
      events.push({ ...m.json<{ type: string; actor: string }>(), subject: m.subject });
    }
    const made = events.filter((e) => e.type === "ResetLinkCreated");
    expect(made.length).toBeGreaterThanOrEqual(5);
    expect(made.every((e) => e.actor === admin.id)).toBe(true);
    const resets = events.filter((e) => e.type === "PasswordReset");
    expect(resets.map((e) => [e.actor, e.subject])).toEqual([
      [bea.id, HubSubjects.account(bea.id)],
      [bea.id, HubSubjects.account(bea.id)],
    ]);
    // The activity page lists them.
    const res = await fetch(`${g.base}${HUB_ADMIN_PATH}/activity?limit=200`, {
      headers: bearer(admin.credential),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const { items } = (await res.json()) as { items: { type: string; actor: string }[] };
    expect(items.some((i) => i.type === "ResetLinkCreated" && i.actor === admin.id)).toBe(true);
    expect(items.some((i) => i.type === "PasswordReset" && i.actor === bea.id)).toBe(true);
  });

  it("sessions - over HTTP: idle 30 days signs out; used, 90 days after sign-in is the end", async () => {
    const res = await signIn("admin@example.com", "an admin's password");
    const { credential } = (await res.json()) as { credential: string };
    expect(res.status).toBe(200);
    const idle = (
      (await (await signIn("admin@example.com", "an admin's password")).json()) as {
        credential: string;
      }
    ).credential;
    for (let i = 0; i < 3; i++) {
      expect((await g.me(credential)).status).toBe(200);
      now += 29 * DAY;
    }
    // 87 days after sign-in, used every 29: still in; the unused one is gone long since.
    expect((await g.me(credential)).status).toBe(200);
    expect((await g.me(idle)).status).toBe(401);
    now += 3 * DAY;
    expect((await g.me(credential)).status).toBe(401);
  });
});
