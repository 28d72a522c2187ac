import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import { decideJoinQuotas, parseJoinQuotas } from "./join-quotas.js";
import { hostAccountClaims, hubAccountClaims } from "./leaf-accounts.js";
import { decideJoin, tokenInfo } from "./registry.js";

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
  const HUB = "AHUBACCOUNT";
  const a = { hostId: "h1", account: "AHOSTONE" };
  const b = { hostId: "h2", account: "AHOSTTWO" };
  const hub = hubAccountClaims([a, b]);
  const subjects = (list: { subject: string }[]) => list.map((e) => e.subject);

  it("each host's account offers only its own commands, JetStream domain, beats and ledger requests, and its workspaces' subjects", () => {
    const h1 = hostAccountClaims("h1", HUB);
    // Commands answer with progress, then the answer (for as long as an import takes: 15 min).
    const streamed = { response_type: "Stream", response_threshold: 900_000_000_000 };
    // A pull's messages are many answers to one request, until it expires.
    const pulled = { response_type: "Stream", response_threshold: 120_000_000_000 };
    const service = (subject: string) => ({ name: subject, subject, type: "service" });
    expect(h1.exports).toEqual([
      { name: "hostcmd.h1", subject: "hostcmd.h1", type: "service", ...streamed },
      { name: "hostcmd.h1.>", subject: "hostcmd.h1.>", type: "service", ...streamed },
      { name: "$JS.host-h1.API.>", subject: "$JS.host-h1.API.>", type: "service", ...pulled },
      // Its workspaces' services (never cmd.host), requests and keystrokes, as patterns: the
      // hub imports those of the workspaces placed there.
      ...["workspace", "fs", "docs", "terminals", "agents", "kernels", "apps"].map((s) =>
        service(`ws.*.cmd.${s}`),
      ),
      service("ws.*.req.*"),
      service("ws.*.read.*"),
      service("ws.*.term.*.*"),
      { name: "hostbeat.h1", subject: "hostbeat.h1", type: "stream" },
      { name: "coresledger.h1", subject: "coresledger.h1", type: "stream" },
      { name: "hostview.h1", subject: "hostview.h1", type: "stream" },
      { name: "hostkeys.h1", subject: "hostkeys.h1", type: "stream" },
      // Its side of the byte pipes the hub opens (SSH sessions, proxied ports).
      { name: "hostpipe.h1.>", subject: "hostpipe.h1.>", type: "stream" },
      { name: "ws.*.feed.>", subject: "ws.*.feed.>", type: "stream" },
    ]);
    // The answers to its own ledger requests, nothing else.
    expect(h1.imports).toEqual([
      { name: "_HI.h1.>", subject: "_HI.h1.>", type: "stream", account: HUB },
    ]);
  });

  it("a host's account is the same whatever other hosts joined", () => {
    expect(hostAccountClaims("h1", HUB)).toEqual(hostAccountClaims("h1", HUB));
    expect(JSON.stringify(hostAccountClaims("h1", HUB))).not.toContain("h2");
  });

  it("the hub takes from each host's account exactly what it offers", () => {
    const fromH2 = hub.imports.filter((i) => i.account === "AHOSTTWO");
    expect(subjects(fromH2)).toEqual([
      "hostcmd.h2",
      "hostcmd.h2.>",
      "$JS.host-h2.API.>",
      "hostbeat.h2",
      "coresledger.h2",
      "hostview.h2",
      "hostkeys.h2",
      "hostpipe.h2.>",
    ]);
    expect(fromH2.map((i) => i.type)).toEqual([
      ...Array(3).fill("service"),
      ...Array(5).fill("stream"),
    ]);
    expect(hub.exports).toEqual([{ name: "_HI.*.>", subject: "_HI.*.>", type: "stream" }]);
    expect(hubAccountClaims([]).imports).toEqual([]);
  });

  it("the hub takes a workspace's subjects from the host it is placed on, and only there", () => {
    const placed = hubAccountClaims(
      [a, b],
      [
        { wsid: "w1", hostId: "h1" },
        { wsid: "w2", hostId: "h2" },
        // Not joined (or gone): nothing to take from.
        { wsid: "w3", hostId: "h9" },
      ],
    );
    const of = (account: string) =>
      placed.imports.filter((i) => i.account === account && i.subject.startsWith("ws."));
    expect(subjects(of("AHOSTONE"))).toEqual([
      ...["workspace", "fs", "docs", "terminals", "agents", "kernels", "apps"].map(
        (s) => `ws.w1.cmd.${s}`,
      ),
      "ws.w1.req.*",
      "ws.w1.read.*",
      "ws.w1.term.*.*",
      "ws.w1.feed.>",
    ]);
    expect(of("AHOSTONE").at(-1)?.type).toBe("stream");
    // Commands carry who sent them to the host (Nats-Request-Info); nothing else does.
    expect(
      of("AHOSTONE")
        .filter((i) => i.share)
        .map((i) => i.subject),
    ).toEqual(
      ["workspace", "fs", "docs", "terminals", "agents", "kernels", "apps"].map(
        (s) => `ws.w1.cmd.${s}`,
      ),
    );
    expect(JSON.stringify(of("AHOSTTWO"))).not.toContain("w1");
    expect(JSON.stringify(placed.imports)).not.toContain("w3");
    expect(JSON.stringify(placed.imports)).not.toContain("cmd.host");
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
