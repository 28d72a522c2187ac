import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import { pickHost, placementDecider } from "./placement.js";

const meta = { actor: "control-plane", at: "2026-03-01T12:00:00.000Z" };
const place = (hostId: string) =>
  ({ type: "PlaceWorkspace", data: { wsid: "w1", hostId }, ...meta }) as const;

describe("placement of workspaces on hosts", () => {
  it("places once; the same host again is a no-op; another host is refused", () => {
    const none = placementDecider.initialState();
    expect(placementDecider.decide(place("a"), none)).toEqual([
      { type: "WorkspacePlaced", data: { hostId: "a" } },
    ]);
    const onA = placementDecider.evolve(none, { type: "WorkspacePlaced", data: { hostId: "a" } });
    expect(placementDecider.decide(place("a"), onA)).toEqual([]);
    try {
      placementDecider.decide(place("b"), onA);
      expect.unreachable();
    } catch (err) {
      expect((err as CocalcError).code).toBe("ERR_WORKSPACE_EXISTS");
      expect((err as Error).message).toMatch(/already exists on host a/);
    }
  });

  it("unplacing frees the id for any host; unplacing what is on no host changes nothing", () => {
    const onA = placementDecider.evolve(placementDecider.initialState(), {
      type: "WorkspacePlaced",
      data: { hostId: "a" },
    });
    const unplace = { type: "UnplaceWorkspace", data: { wsid: "w1" }, ...meta } as const;
    expect(placementDecider.decide(unplace, onA)).toEqual([
      { type: "WorkspaceUnplaced", data: {} },
    ]);
    const free = placementDecider.evolve(onA, { type: "WorkspaceUnplaced", data: {} });
    expect(placementDecider.decide(unplace, free)).toEqual([]);
    expect(placementDecider.decide(place("b"), free)).toHaveLength(1);
  });

  it("a new workspace goes to the host with the fewest workspaces, then fewest running, then by id", () => {
    expect(pickHost([])).toBeUndefined();
    expect(
      pickHost([
        { hostId: "b", running: 0, workspaces: 3 },
        { hostId: "a", running: 2, workspaces: 2 },
        { hostId: "c", running: 1, workspaces: 2 },
      ]),
    ).toBe("c");
    expect(
      pickHost([
        { hostId: "b", running: 1, workspaces: 2 },
        { hostId: "a", running: 1, workspaces: 2 },
      ]),
    ).toBe("a");
  });
});
