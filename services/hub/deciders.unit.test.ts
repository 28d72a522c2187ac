import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import {
  type AccountCommand,
  type AccountDecided,
  accountDecider,
  type InviteCommand,
  type InviteDecided,
  inviteDecider,
} from "./deciders.js";

const at = (iso: string) => ({ actor: "a", at: iso });
const created: InviteDecided = {
  type: "InviteCreated",
  data: { uses: 2, expires: "2026-12-08T00:00:00.000Z" },
};
const use = (iso: string) =>
  ({ type: "UseInvite", data: { account: "x" }, ...at(iso) }) as InviteCommand;

describe("invite decider", () => {
  it("is used up after its uses, and not after it expires", () => {
    expect(given(inviteDecider, [created]).when(use("2026-12-01T00:00:00.000Z")).events).toEqual([
      { type: "InviteUsed", data: { account: "x" } },
    ]);
    const used: InviteDecided = { type: "InviteUsed", data: { account: "x" } };
    expect(
      (
        given(inviteDecider, [created, used, used]).when(use("2026-12-01T00:00:00.000Z")).error as
          | CocalcError
          | undefined
      )?.code,
    ).toBe("ERR_HUB_INVITE");
    const late = given(inviteDecider, [created]).when(use("2026-12-08T00:00:00.000Z"));
    expect((late.error as CocalcError).code).toBe("ERR_HUB_INVITE");
    expect((late.error as CocalcError).message).toMatch(/expired/);
    const revoked = given(inviteDecider, [created, { type: "InviteRevoked", data: {} }]).when(
      use("2026-12-01T00:00:00.000Z"),
    );
    expect((revoked.error as CocalcError).code).toBe("ERR_HUB_INVITE");
  });
});

describe("account decider - reset links", () => {
  const made: AccountDecided = { type: "AccountCreated", data: { role: "user", via: "console" } };
  const link = (n: number): AccountDecided => ({
    type: "ResetLinkCreated",
    data: { n, expires: "2026-12-08T00:00:00.000Z" },
  });
  const useLink = (n: number, iso = "2026-12-01T00:00:00.000Z") =>
    ({ type: "UseResetLink", data: { n }, ...at(iso) }) as AccountCommand;
  const refusal = (events: AccountDecided[], c: AccountCommand) => {
    const e = given(accountDecider, events).when(c).error as CocalcError;
    expect(e.code).toBe("ERR_HUB_RESET");
    return e.message;
  };

  it("numbers links, uses the newest once before it expires, refuses the rest in words", () => {
    expect(
      given(accountDecider, [made, link(1)]).when({
        type: "CreateResetLink",
        data: { expires: "2026-12-09T00:00:00.000Z" },
        ...at("2026-12-02T00:00:00.000Z"),
      }).events,
    ).toEqual([{ type: "ResetLinkCreated", data: { n: 2, expires: "2026-12-09T00:00:00.000Z" } }]);
    expect(given(accountDecider, [made, link(1)]).when(useLink(1)).events).toEqual([
      { type: "PasswordReset", data: { n: 1 } },
    ]);
    const used: AccountDecided = { type: "PasswordReset", data: { n: 1 } };
    expect(refusal([made, link(1), used], useLink(1))).toMatch(/used already/);
    expect(refusal([made, link(1)], useLink(1, "2026-12-08T00:00:00.000Z"))).toMatch(/expired/);
    expect(refusal([made, link(1), link(2)], useLink(1))).toMatch(/newer/);
    expect(refusal([made, link(1)], useLink(2))).toMatch(/not valid/);
    expect(refusal([made], useLink(1))).toMatch(/not valid/);
    expect(refusal([made, link(1), { type: "AccountDeleted", data: {} }], useLink(1))).toMatch(
      /not valid/,
    );
  });
});
