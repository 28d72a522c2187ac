import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import {
  type AccountCommand,
  type AccountDecided,
  accountDecider,
  accountsProjection,
  coresRunning,
} from "./accounts.js";

const meta = { actor: "host:h1", at: "2026-01-01T00:00:00.000Z" };
const cmd = (type: string, data: unknown) => ({ type, data, ...meta }) as AccountCommand;
const quota = (cores: number | null): AccountDecided => ({
  type: "AccountCoresQuotaChanged",
  data: { cores },
});
const held = (wsid: string, cores: number, hostId = "h1"): AccountDecided => ({
  type: "CoresReserved",
  data: { wsid, hostId, cores },
});
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("account cores decider", () => {
  it("changing the quota is an event; the same quota again changes nothing", () => {
    expect(
      given(accountDecider, []).when(cmd("SetAccountCoresQuota", { cores: 4 })).events,
    ).toEqual([quota(4)]);
    expect(
      given(accountDecider, [quota(4)]).when(cmd("SetAccountCoresQuota", { cores: 4 })).events,
    ).toEqual([]);
    expect(
      given(accountDecider, [quota(4)]).when(cmd("SetAccountCoresQuota", { cores: null })).events,
    ).toEqual([quota(null)]);
  });

  it("reserves up to the quota and refuses beyond it, with the numbers", () => {
    const r = given(accountDecider, [quota(2), held("a", 1.5)]).when(
      cmd("ReserveCores", { wsid: "b", hostId: "h2", cores: 1 }),
    );
    expect(code(r)).toBe("ERR_ACCOUNT_CORES_QUOTA");
    expect((r.error as Error).message).toMatch(/needs 1 cores.*hold 1\.5 of its 2/);
    expect(
      given(accountDecider, [quota(2), held("a", 1.5)]).when(
        cmd("ReserveCores", { wsid: "b", hostId: "h2", cores: 0.5 }),
      ).events,
    ).toEqual([held("b", 0.5, "h2")]);
    // Fractions add up exactly: 0.1 + 0.2 of a 0.3 quota fits.
    expect(
      given(accountDecider, [quota(0.3), held("a", 0.1)]).when(
        cmd("ReserveCores", { wsid: "b", hostId: "h1", cores: 0.2 }),
      ).events,
    ).toHaveLength(1);
  });

  it("no quota is no limit", () => {
    expect(
      given(accountDecider, [held("a", 100)]).when(
        cmd("ReserveCores", { wsid: "b", hostId: "h1", cores: 100 }),
      ).events,
    ).toEqual([held("b", 100)]);
  });

  it("raising a running workspace's cores counts the raise; lowering is always allowed", () => {
    const history = [quota(3), held("a", 1), held("b", 1)];
    expect(
      given(accountDecider, history).when(
        cmd("ReserveCores", { wsid: "a", hostId: "h1", cores: 2 }),
      ).events,
    ).toEqual([held("a", 2)]);
    expect(
      code(
        given(accountDecider, history).when(
          cmd("ReserveCores", { wsid: "a", hostId: "h1", cores: 2.5 }),
        ),
      ),
    ).toBe("ERR_ACCOUNT_CORES_QUOTA");
    // The quota was lowered below what runs: less is still fine, more is not.
    const over = [...history, quota(1)];
    expect(
      given(accountDecider, over).when(cmd("ReserveCores", { wsid: "a", hostId: "h1", cores: 0.5 }))
        .events,
    ).toEqual([held("a", 0.5)]);
    // What already runs is recorded whatever the quota (reconciliation).
    expect(
      given(accountDecider, over).when(
        cmd("ReserveCores", { wsid: "c", hostId: "h1", cores: 4, force: true }),
      ).events,
    ).toEqual([held("c", 4)]);
  });

  it("repeats change nothing; release frees the cores", () => {
    const history = [quota(1), held("a", 1)];
    expect(
      given(accountDecider, history).when(
        cmd("ReserveCores", { wsid: "a", hostId: "h1", cores: 1 }),
      ).events,
    ).toEqual([]);
    const released = given(accountDecider, history).when(cmd("ReleaseCores", { wsid: "a" }));
    expect(released.events).toEqual([{ type: "CoresReleased", data: { wsid: "a" } }]);
    expect(
      given(accountDecider, [quota(1)]).when(cmd("ReleaseCores", { wsid: "a" })).events,
    ).toEqual([]);
    let state = accountDecider.initialState();
    for (const e of [...history, ...released.events!]) state = accountDecider.evolve(state, e);
    expect(coresRunning(state)).toBe(0);
    expect(
      given(accountDecider, [...history, ...released.events!]).when(
        cmd("ReserveCores", { wsid: "b", hostId: "h1", cores: 1 }),
      ).events,
    ).toHaveLength(1);
  });

  it("the accounts view follows the events", () => {
    let view = null;
    const events: AccountDecided[] = [
      quota(2),
      held("a", 1),
      held("b", 0.5, "h2"),
      { type: "CoresReleased", data: { wsid: "a" } },
    ];
    for (const [i, e] of events.entries())
      view = accountsProjection.evolve(view, {
        event: { ...e, v: 1, id: `e${i}`, at: meta.at, actor: meta.actor },
        subject: "account.acme.cores",
        seq: i + 1,
        time: meta.at,
      } as never);
    expect(view).toEqual({
      account: "acme",
      coresQuota: 2,
      coresRunning: 0.5,
      workspaces: { b: { hostId: "h2", cores: 0.5 } },
      updatedAt: meta.at,
    });
  });
});
