import { describe, expect, it } from "vitest";
import type { RemoteSessionView } from "../../../shared/remote.js";
import { visibleSessions } from "./remote-store.js";

const s = (target: string, extra: Partial<RemoteSessionView> = {}): RemoteSessionView => ({
  sid: `s${target}`,
  target,
  status: "stopped",
  desired: "stopped",
  options: {},
  mode: { install: true, upgrade: false, forwardOnly: false },
  starred: false,
  addedAt: "2026-01-01T00:00:00Z",
  lastUsed: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
  tunnelRestarts: 0,
  ...extra,
});

describe("remote sessions table", () => {
  const all = [
    s("b@host"),
    s("a@host", { status: "failed", lastUsed: "2026-01-03T00:00:00Z" }),
    s("c@other", { starred: true, status: "running" }),
  ];
  const targets = (rows: RemoteSessionView[]) => rows.map((r) => r.target);

  it("sorts by target, starred, status and last used", () => {
    expect(targets(visibleSessions(all, "", "target"))).toEqual(["a@host", "b@host", "c@other"]);
    expect(targets(visibleSessions(all, "", "starred"))).toEqual(["c@other", "a@host", "b@host"]);
    expect(targets(visibleSessions(all, "", "status"))).toEqual(["c@other", "a@host", "b@host"]);
    expect(targets(visibleSessions(all, "", "lastUsed"))[0]).toBe("a@host");
  });

  it("filters by target, ignoring case", () => {
    expect(targets(visibleSessions(all, " HOST ", "target"))).toEqual(["a@host", "b@host"]);
    expect(visibleSessions(all, "nothing", "target")).toEqual([]);
  });
});
