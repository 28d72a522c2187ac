import { describe, expect, it } from "vitest";
import { type ActivityItem, mergeActivity, pageOfAccounts } from "./hub-admin.js";

const item = (stream: string, seq: number, at: string): ActivityItem => ({
  stream,
  seq,
  subject: `${stream}.${seq}`,
  type: "X",
  actor: "a",
  at,
  data: {},
});

describe("hub admin pages", () => {
  it("accounts: searched by email in any case, a page at a time, with the total", () => {
    const all = ["Ann@x.org", "bob@y.org", "anna@z.org", "carl@x.org"].map((email) => ({ email }));
    expect(pageOfAccounts(all, "AN", 0, 10)).toEqual({
      total: 2,
      accounts: [{ email: "Ann@x.org" }, { email: "anna@z.org" }],
    });
    expect(pageOfAccounts(all, undefined, 1, 2)).toEqual({
      total: 4,
      accounts: [{ email: "bob@y.org" }, { email: "anna@z.org" }],
    });
    expect(pageOfAccounts(all, "nobody", 0, 10)).toEqual({ total: 0, accounts: [] });
  });

  it("activity: the newest of both streams; each stream's next page starts below what was shown", () => {
    const hub = [
      item("HUB", 9, "2026-01-09"),
      item("HUB", 7, "2026-01-05"),
      item("HUB", 3, "2026-01-01"),
    ];
    const reg = [item("REG", 5, "2026-01-08"), item("REG", 4, "2026-01-02")];
    const first = mergeActivity(
      { HUB: { items: hub, before: 10 }, REG: { items: reg, before: 6 } },
      3,
    );
    expect(first.items.map((i) => `${i.stream}${i.seq}`)).toEqual(["HUB9", "REG5", "HUB7"]);
    expect(first.before).toEqual({ HUB: 7, REG: 5 });
    // A stream none of whose events made the page starts where it did.
    const only = mergeActivity(
      { HUB: { items: hub, before: 10 }, REG: { items: [], before: 1 } },
      2,
    );
    expect(only.before).toEqual({ HUB: 7, REG: 1 });
  });
});
