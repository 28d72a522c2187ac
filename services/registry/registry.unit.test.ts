import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import { decideJoin, leafPermissions } from "./index.js";

const now = new Date("2026-03-01T12:00:00Z");
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return { code: (err as CocalcError).code, message: (err as Error).message };
  }
  return undefined;
};

describe("joining with a registration token", () => {
  it("an issued token that has not expired joins its host", () => {
    expect(
      decideJoin({ status: "issued", hostId: "h1", expiresAt: "2026-03-01T13:00:00.000Z" }, now),
    ).toEqual({ hostId: "h1" });
  });

  it("unknown, expired and used tokens are refused, each with its reason", () => {
    expect(refusal(() => decideJoin({ status: "none" }, now))).toEqual({
      code: "ERR_HOST_JOIN",
      message: "no such registration token",
    });
    expect(
      refusal(() =>
        decideJoin({ status: "issued", hostId: "h1", expiresAt: "2026-03-01T12:00:00.000Z" }, now),
      )?.message,
    ).toMatch(/expired at 2026-03-01T12:00:00.000Z/);
    expect(
      refusal(() =>
        decideJoin({ status: "joined", hostId: "h1", expiresAt: "2026-03-02T00:00:00.000Z" }, now),
      )?.message,
    ).toMatch(/already used \(by host h1\)/);
  });

  it("a leaf login cannot reach the registry, its inboxes or the control plane's JetStream", () => {
    const p = leafPermissions("hub");
    for (const s of ["registrycmd", "hostjoin.*", "_JOIN.>", "registry.>", "$JS.hub.API.>"])
      expect(p.publish.deny).toContain(s);
    for (const s of ["registrycmd", "hostjoin.*", "_JOIN.>", "registry.>", "_CP_INBOX.>"])
      expect(p.subscribe.deny).toContain(s);
  });

  it("a leaf login cannot touch the control plane's views, placements and ledger, hear routed commands, nor beat as or listen for another host", () => {
    const p = leafPermissions("hub", "h1", ["h1", "h2"]);
    for (const s of ["placement.>", "ledger.>", "$KV.>", "hostbeat.h2", "coresledger.h2"])
      expect(p.publish.deny).toContain(s);
    for (const s of ["hostbeat.h1", "coresledger.h1"]) expect(p.publish.deny).not.toContain(s);
    for (const s of ["placement.>", "ledger.>", "$KV.>", "ws.*.cmd.host", "accountcmd.*"])
      expect(p.subscribe.deny).toContain(s);
    for (const s of ["hostcmd.h2", "hostcmd.h2.>"]) expect(p.subscribe.deny).toContain(s);
    for (const s of ["hostcmd.h1", "hostcmd.h1.>"]) expect(p.subscribe.deny).not.toContain(s);
    // Other hosts' events never reach its streams.
    for (const s of ["ws.*.life.>", "host.>", "mount.>", "account.>", "ws.*.fs.>"])
      expect(p.subscribe.deny).toContain(s);
  });
});
