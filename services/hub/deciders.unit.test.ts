import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { type InviteCommand, type InviteDecided, inviteDecider } from "./deciders.js";

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
