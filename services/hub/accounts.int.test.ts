/**
 * The hub's accounts against a real nats-server: the setup token makes the first admin once;
 * invites sign people up (used up, expired, revoked refused); sign-in with argon2id is rate
 * limited per account and per address; deleting an account erases its email and password
 * hash from the store's files; bad input changes nothing.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccountView, HubBuckets, type HubReply, HubSubjects } from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { hubStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { hubAccountsService, newSetupToken, setupToken } from "./accounts.js";

describe("hub accounts", () => {
  let t: TestNats;
  let supervisor: Supervisor;
  let tokenFile: string;
  let admin: AccountView;

  const send = async (type: string, data: unknown): Promise<HubReply> =>
    (
      await t.nc.request(HubSubjects.command, JSON.stringify({ type, data }), { timeout: 20_000 })
    ).json<HubReply>();
  const code = (r: HubReply) => (r.ok ? "ok" : r.error.code);

  beforeAll(async () => {
    t = await setup();
    await ensureStreams(t.jsm, hubStreams());
    tokenFile = join(t.dir, "setup-token");
    await newSetupToken(tokenFile);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([hubAccountsService({ setupTokenFile: tokenFile })]);
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t?.cleanup();
  });

  it("first run: only the setup token makes the first admin, once", async () => {
    const token = (await setupToken(tokenFile))!;
    expect(token.length).toBeGreaterThan(20);
    // Nobody signs up before there is an admin.
    expect(code(await send("SignUp", { email: "eve@example.com", password: "0123456789ab" }))).toBe(
      "ERR_HUB_SIGN_UP_CLOSED",
    );
    expect(
      code(
        await send("SetUpHub", {
          setupToken: "wrong",
          email: "a@example.com",
          password: "0123456789ab",
        }),
      ),
    ).toBe("ERR_HUB_SETUP");
    expect(
      code(
        await send("SetUpHub", {
          setupToken: token,
          email: "not-an-email",
          password: "0123456789ab",
        }),
      ),
    ).toBe("ERR_HUB_EMAIL_INVALID");
    expect(
      code(
        await send("SetUpHub", { setupToken: token, email: "a@example.com", password: "short" }),
      ),
    ).toBe("ERR_HUB_PASSWORD_WEAK");
    const made = await send("SetUpHub", {
      setupToken: token,
      email: " Admin@Example.com ",
      password: "correct horse battery",
    });
    expect(made.ok).toBe(true);
    admin = (made as { account: AccountView }).account;
    expect(admin).toMatchObject({ role: "admin", status: "active", via: "setup" });
    // Used once: the file is gone and the same token does nothing more.
    expect(await setupToken(tokenFile)).toBeUndefined();
    expect(
      code(
        await send("SetUpHub", {
          setupToken: token,
          email: "b@example.com",
          password: "0123456789ab",
        }),
      ),
    ).toBe("ERR_HUB_SETUP");
    const views = await new Kvm(t.nc).open(HubBuckets.accounts);
    await until("admin projected", async () => (await views.get(admin.id))?.json<AccountView>());
  });

  it("invites: used up, revoked and wrong ones are refused; sign-up modes", async () => {
    const invite = await send("CreateInvite", { by: admin.id, uses: 1, ttlSeconds: 3600 });
    expect(invite.ok).toBe(true);
    const { token, id } = (invite as { invite: { token: string; id: string } }).invite;
    // Not an admin's: refused.
    expect(code(await send("CreateInvite", { by: "nobody", uses: 1 }))).toBe("ERR_HUB_FORBIDDEN");
    expect(
      code(await send("SignUp", { email: "bob@example.com", password: "bob's long password" })),
    ).toBe("ERR_HUB_INVITE");
    expect(
      code(
        await send("SignUp", {
          email: "bob@example.com",
          password: "bob's long password",
          invite: `${id}.wrong`,
        }),
      ),
    ).toBe("ERR_HUB_INVITE");
    expect(
      code(
        await send("SignUp", {
          email: "admin@example.com",
          password: "bob's long password",
          invite: token,
        }),
      ),
    ).toBe("ERR_HUB_EMAIL_TAKEN");
    const bob = await send("SignUp", {
      email: "bob@example.com",
      password: "bob's long password",
      invite: token,
    });
    expect(bob.ok, JSON.stringify(bob)).toBe(true);
    expect((bob as { account: AccountView }).account).toMatchObject({
      role: "user",
      via: "invite",
    });
    expect(
      code(
        await send("SignUp", {
          email: "carol@example.com",
          password: "carol's long password",
          invite: token,
        }),
      ),
    ).toBe("ERR_HUB_INVITE");

    const second = (await send("CreateInvite", { by: admin.id, uses: 5 })) as {
      invite: { token: string; id: string };
    };
    expect(code(await send("RevokeInvite", { by: admin.id, invite: second.invite.id }))).toBe("ok");
    expect(
      code(
        await send("SignUp", {
          email: "carol@example.com",
          password: "carol's long password",
          invite: second.invite.token,
        }),
      ),
    ).toBe("ERR_HUB_INVITE");

    expect(code(await send("SetSignUpMode", { by: admin.id, mode: "open" }))).toBe("ok");
    expect(
      code(await send("SignUp", { email: "carol@example.com", password: "carol's long password" })),
    ).toBe("ok");
    expect(code(await send("SetSignUpMode", { by: admin.id, mode: "closed" }))).toBe("ok");
    expect(
      code(await send("SignUp", { email: "dan@example.com", password: "dan's long password" })),
    ).toBe("ERR_HUB_SIGN_UP_CLOSED");
  });

  it("sign-in: argon2id, the same answer for a wrong email or password, then slowed down", async () => {
    const ok = await send("SignIn", {
      email: "ADMIN@example.com",
      password: "correct horse battery",
      address: "10.0.0.1",
    });
    expect(ok.ok).toBe(true);
    expect((ok as { account: AccountView }).account.id).toBe(admin.id);
    const wrongPassword = await send("SignIn", {
      email: "bob@example.com",
      password: "nope",
      address: "10.0.0.2",
    });
    const wrongEmail = await send("SignIn", {
      email: "who@example.com",
      password: "nope",
      address: "10.0.0.3",
    });
    expect(wrongPassword).toEqual(wrongEmail);
    expect(code(wrongPassword)).toBe("ERR_HUB_SIGN_IN");
    // Four more failures for bob (five in all) from one address: the next try must wait.
    for (let i = 0; i < 4; i++)
      expect(
        code(
          await send("SignIn", {
            email: "bob@example.com",
            password: `guess${i}`,
            address: "10.0.0.2",
          }),
        ),
      ).toBe("ERR_HUB_SIGN_IN");
    const limited = await send("SignIn", {
      email: "bob@example.com",
      password: "bob's long password",
      address: "10.0.0.9",
    });
    expect(code(limited)).toBe("ERR_HUB_RATE_LIMITED");
    if (!limited.ok) {
      expect(limited.error.retryAfterSeconds).toBeGreaterThan(0);
      expect(limited.error.message).toMatch(/try again in \d+ s/);
    }
    // The address is slowed for every account it tries.
    expect(
      code(
        await send("SignIn", {
          email: "carol@example.com",
          password: "carol's long password",
          address: "10.0.0.2",
        }),
      ),
    ).toBe("ERR_HUB_RATE_LIMITED");
    // Others are not.
    expect(
      code(
        await send("SignIn", {
          email: "carol@example.com",
          password: "carol's long password",
          address: "10.0.0.5",
        }),
      ),
    ).toBe("ok");
  });

  it("disable and delete: a deleted account's email and hash are gone from the store's files", async () => {
    const carol = (await send("SignIn", {
      email: "carol@example.com",
      password: "carol's long password",
      address: "10.0.0.6",
    })) as { account: AccountView };
    expect(
      code(
        await send("SetAccountDisabled", {
          by: admin.id,
          account: carol.account.id,
          disabled: true,
        }),
      ),
    ).toBe("ok");
    expect(
      code(
        await send("SignIn", {
          email: "carol@example.com",
          password: "carol's long password",
          address: "10.0.0.6",
        }),
      ),
    ).toBe("ERR_HUB_ACCOUNT_DISABLED");
    expect(
      code(
        await send("SetAccountDisabled", {
          by: admin.id,
          account: carol.account.id,
          disabled: false,
        }),
      ),
    ).toBe("ok");
    // A password change erases the old hash too.
    expect(
      code(
        await send("ChangePassword", {
          by: carol.account.id,
          old: "carol's long password",
          password: "carol's newer password",
        }),
      ),
    ).toBe("ok");
    expect(code(await send("DeleteAccount", { by: admin.id, account: carol.account.id }))).toBe(
      "ok",
    );
    expect(
      code(
        await send("SignIn", {
          email: "carol@example.com",
          password: "carol's newer password",
          address: "10.0.0.7",
        }),
      ),
    ).toBe("ERR_HUB_SIGN_IN");
    const views = await new Kvm(t.nc).open(HubBuckets.accounts);
    await until(
      "view removed",
      async () => (await views.get(carol.account.id))?.operation !== "PUT",
    );
    // Nothing of carol in any file of the JetStream store: not the email, not a hash.
    const found = (text: string) => {
      try {
        return execFileSync("grep", ["-rl", "--binary-files=text", text, t.dir], {
          encoding: "utf8",
        });
      } catch {
        return "";
      }
    };
    expect(found("carol@example.com")).toBe("");
    // Bob is still there (the check above can find what is stored).
    expect(found("bob@example.com")).not.toBe("");
    // The events hold no email at all.
    const info = await t.jsm.streams.info(Streams.HUB);
    expect(info.state.messages).toBeGreaterThan(0);
    // And the hub answers: the email is free again.
    expect(code(await send("SetSignUpMode", { by: admin.id, mode: "open" }))).toBe("ok");
    expect(
      code(await send("SignUp", { email: "carol@example.com", password: "carol's long password" })),
    ).toBe("ok");
  });

  it("bad input changes nothing", async () => {
    const before = (await t.jsm.streams.info(Streams.HUB)).state.messages;
    for (const [type, data] of [
      ["SignIn", { email: "x@example.com" }],
      ["Nope", {}],
      ["SignUp", { email: 3, password: "0123456789ab" }],
      ["CreateInvite", { by: admin.id, uses: 0 }],
      ["SetSignUpMode", { by: admin.id, mode: "wide-open" }],
    ] as const) {
      const r = await send(type, data);
      expect(r.ok, `${type} ${JSON.stringify(data)}`).toBe(false);
    }
    const raw = await t.nc.request(HubSubjects.command, "not json", { timeout: 10_000 });
    expect(raw.json<HubReply>().ok).toBe(false);
    expect((await t.jsm.streams.info(Streams.HUB)).state.messages).toBe(before);
  });
});
