import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import {
  fitHost,
  type HostOffer,
  pickHost,
  placementDecider,
  placeWorkspace,
} from "./placement.js";

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

  describe("what a workspace needs of its host", () => {
    const host = (hostId: string, o: Partial<HostOffer> = {}): HostOffer => ({
      hostId,
      running: 0,
      workspaces: 0,
      disk: { totalMb: 10_000, usedMb: 1000 },
      images: ["base"],
      capacity: { cpus: 4, memoryMb: 8192 },
      committed: { cpus: 0, memoryMb: 0 },
      ...o,
    });
    const need = { image: "base", cpus: 2, memoryMb: 2048, diskMb: 2048 };

    it("free cores, memory and disk are what running workspaces' quotas leave", () => {
      expect(fitHost(host("a"), need)).toEqual({ hostId: "a", importImage: false });
      expect(fitHost(host("a", { committed: { cpus: 3, memoryMb: 0 } }), need)).toEqual({
        reason: "1 of 4 cores free",
      });
      expect(fitHost(host("a", { committed: { cpus: 0, memoryMb: 7000 } }), need)).toEqual({
        reason: "1192 of 8192 MB memory free",
      });
      expect(fitHost(host("a", { disk: { totalMb: 3000, usedMb: 2000 } }), need)).toEqual({
        reason: "1000 MB of disk free",
      });
      expect(fitHost(host("a", { capacity: undefined }), need)).toEqual({
        reason: "reports no capacity (an older host)",
      });
    });

    it("hosts with the image first, then the least busy; the others say why", () => {
      const r = placeWorkspace(
        [
          host("busy", { workspaces: 5 }),
          host("noimage", { images: [] }),
          host("full", { committed: { cpus: 4, memoryMb: 0 } }),
          host("idle", { workspaces: 1 }),
        ],
        need,
      );
      expect(r.fits).toEqual([
        { hostId: "idle", importImage: false },
        { hostId: "busy", importImage: false },
        { hostId: "noimage", importImage: true },
      ]);
      expect(r.refused).toEqual([{ hostId: "full", reason: "0 of 4 cores free" }]);
    });

    it("a drained host takes nothing, however idle; the others still do", () => {
      const since = "2026-03-01T12:00:00.000Z";
      expect(fitHost(host("a", { drainedAt: since }), need)).toEqual({
        reason: `draining since ${since} (it takes no new workspaces)`,
      });
      const r = placeWorkspace(
        [host("idle", { drainedAt: since }), host("busy", { workspaces: 9 })],
        need,
      );
      expect(r.fits).toEqual([{ hostId: "busy", importImage: false }]);
      expect(r.refused).toEqual([
        { hostId: "idle", reason: `draining since ${since} (it takes no new workspaces)` },
      ]);
      // Drained, with nothing else left: no fit at all.
      expect(placeWorkspace([host("idle", { drainedAt: since })], need).fits).toEqual([]);
    });
  });
});
