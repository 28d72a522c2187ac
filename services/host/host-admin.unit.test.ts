import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import { type HostAdminCommand, hostAdminDecider } from "./host-admin.js";

const at = "2026-03-01T12:00:00.000Z";
const by = "admin1";
const drain: HostAdminCommand = { type: "DrainHost", data: { hostId: "h1" }, actor: by, at };
const undrain: HostAdminCommand = { type: "UndrainHost", data: { hostId: "h1" }, actor: by, at };
const drained = { type: "HostDrained", data: { since: "2026-03-01T11:00:00.000Z" } } as const;
const undrained = { type: "HostUndrained", data: {} } as const;

describe("what admins decide about a host", () => {
  it("drain: an open host is drained from the command's time; a drained one again is a no-op", () => {
    expect(given(hostAdminDecider, []).when(drain)).toEqual({
      events: [{ type: "HostDrained", data: { since: at } }],
    });
    expect(given(hostAdminDecider, [drained]).when(drain)).toEqual({ events: [] });
  });

  it("undrain: a drained host is open again; an open one is a no-op", () => {
    expect(given(hostAdminDecider, [drained]).when(undrain)).toEqual({
      events: [{ type: "HostUndrained", data: {} }],
    });
    expect(given(hostAdminDecider, []).when(undrain)).toEqual({ events: [] });
    expect(given(hostAdminDecider, [drained, undrained]).when(undrain)).toEqual({ events: [] });
    expect(given(hostAdminDecider, [drained, undrained]).when(drain)).toEqual({
      events: [{ type: "HostDrained", data: { since: at } }],
    });
  });

  it("the state says since when it is drained; an imported image changes nothing of it", () => {
    const imported = {
      type: "HostImageImported",
      data: { name: "base", source: "/srv/images/base" },
    } as const;
    const s = [drained, imported].reduce(
      (st, e) => hostAdminDecider.evolve(st, e),
      hostAdminDecider.initialState(),
    );
    expect(s).toEqual({ status: "drained", since: drained.data.since });
    expect(
      given(hostAdminDecider, [drained]).when({
        type: "RecordImageImported",
        data: { hostId: "h1", name: "base", source: "/srv/images/base" },
        actor: by,
        at,
      }),
    ).toEqual({ events: [imported] });
  });
});
