import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import { CONTROL_PLANE_ACCOUNT, decideJoin, leafAccounts, tokenInfo } from "./index.js";
import { decideJoinQuotas, parseJoinQuotas } from "./join-quotas.js";

const now = new Date("2026-03-01T12:00:00Z");
const issuedAt = "2026-03-01T11:00:00.000Z";
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
      decideJoin(
        { status: "issued", hostId: "h1", expiresAt: "2026-03-01T13:00:00.000Z", issuedAt },
        now,
      ),
    ).toEqual({ hostId: "h1" });
  });

  it("unknown, expired, used and revoked tokens are refused, each with its reason", () => {
    expect(refusal(() => decideJoin({ status: "none" }, now))).toEqual({
      code: "ERR_HOST_JOIN",
      message: "no such registration token",
    });
    const t = { hostId: "h1", issuedAt };
    expect(
      refusal(() =>
        decideJoin({ ...t, status: "issued", expiresAt: "2026-03-01T12:00:00.000Z" }, now),
      )?.message,
    ).toMatch(/expired at 2026-03-01T12:00:00.000Z/);
    expect(
      refusal(() =>
        decideJoin({ ...t, status: "joined", expiresAt: "2026-03-02T00:00:00.000Z" }, now),
      )?.message,
    ).toMatch(/already used \(by host h1\)/);
    const revoked = {
      ...t,
      status: "revoked" as const,
      expiresAt: "2026-03-02T00:00:00.000Z",
      revoked: { at: "2026-03-01T11:30:00.000Z", reason: "a newer token was issued for the host" },
    };
    expect(refusal(() => decideJoin(revoked, now))?.message).toMatch(
      /revoked at 2026-03-01T11:30:00.000Z \(a newer token was issued for the host\)/,
    );
    expect(tokenInfo("t1", revoked, now)?.status).toBe("revoked");
    expect(
      tokenInfo("t2", { ...t, status: "issued", expiresAt: "2026-03-01T11:59:00.000Z" }, now)
        ?.status,
    ).toBe("expired");
  });
});

describe("leaf accounts", () => {
  const a = { hostId: "h1", account: "host_h1_x", user: "leaf-h1", password: "p1" };
  const b = { hostId: "h2", account: "host_h2_y", user: "leaf-h2", password: "p2" };
  const accounts = leafAccounts([a, b]);

  it("each host's account offers only its own commands, JetStream domain, beats and ledger requests", () => {
    const h1 = accounts.others.host_h1_x!;
    expect(h1.users).toEqual([{ user: "leaf-h1", password: "p1" }]);
    expect(h1.exports).toEqual([
      // Commands answer with progress, then the answer (for as long as an import takes).
      { service: "hostcmd.h1", response_type: "stream", response_threshold: "15m" },
      { service: "hostcmd.h1.>", response_type: "stream", response_threshold: "15m" },
      { service: "$JS.host-h1.API.>" },
      { stream: "hostbeat.h1" },
      { stream: "coresledger.h1" },
    ]);
    // The answers to its own ledger requests, nothing else.
    expect(h1.imports).toEqual([
      { stream: { account: CONTROL_PLANE_ACCOUNT, subject: "_HI.h1.>" } },
    ]);
  });

  it("a host's account is the same whatever other hosts joined (from the first moment)", () => {
    expect(leafAccounts([a]).others.host_h1_x).toEqual(accounts.others.host_h1_x);
  });

  it("the control plane takes from each host's account exactly what it offers", () => {
    const fromH2 = accounts.main.imports.filter((i) =>
      "service" in i ? i.service.account === "host_h2_y" : i.stream.account === "host_h2_y",
    );
    expect(fromH2.map((i) => ("service" in i ? i.service.subject : i.stream.subject))).toEqual([
      "hostcmd.h2",
      "hostcmd.h2.>",
      "$JS.host-h2.API.>",
      "hostbeat.h2",
      "coresledger.h2",
    ]);
    expect(accounts.main.exports).toEqual([{ stream: "_HI.*.>" }]);
  });
});

describe("a joining host's cores quotas", () => {
  it("join - refused naming each account the control plane has no quota for", () => {
    expect(() => decideJoinQuotas({ a: 2, b: 1, c: 4 }, { a: null, b: 1 }, "/cp")).toThrow(
      expect.objectContaining({
        code: "ERR_HOST_JOIN_QUOTA",
        message: expect.stringContaining(
          "a (2 cores), c (4 cores); a joined host's quotas are the control plane's, so set them on the control plane first: cocalc-launchpad account cores a 2 --data-dir /cp; cocalc-launchpad account cores c 4 --data-dir /cp",
        ),
      }),
    );
  });
  it("join - the control plane's quota applies and is reported where it differs", () => {
    expect(decideJoinQuotas({ a: 2, b: 1 }, { a: 3, b: 1 })).toEqual([
      "account a: the control plane's cores quota 3 applies (this host had 2)",
    ]);
    expect(decideJoinQuotas({}, {})).toEqual([]);
  });
  it("join - a malformed quota list is refused", () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect(parseJoinQuotas(new TextEncoder().encode("{}"))).toEqual({});
    expect(() => parseJoinQuotas(enc({ coresQuotas: { "a.b": 1 } }))).toThrow();
    expect(() => parseJoinQuotas(enc({ coresQuotas: { a: "x" } }))).toThrow(
      expect.objectContaining({ code: "ERR_COMMAND_INVALID" }),
    );
  });
});
