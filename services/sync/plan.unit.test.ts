import { describe, expect, it } from "vitest";
import type { CycleKind, SyncSide } from "../../shared/sync.js";
import { pairMatcher } from "./ignore.js";
import { type BaseEntry, baseFrom, type SyncEntry } from "./path-decision.js";
import { type CycleSides, copyRuns, type PlannedPath, pathsToDecide, planCycle } from "./plan.js";

const file = (size: number, mtime: number, hash?: string): SyncEntry => ({
  kind: "file",
  size,
  mtime,
  ...(hash && { hash }),
});
const dir = (): SyncEntry => ({ kind: "dir", size: 0, mtime: 1 });
const synced = (e: SyncEntry): BaseEntry => baseFrom(e, e);

interface Given {
  local?: Record<string, SyncEntry>;
  remote?: Record<string, SyncEntry>;
  base?: Record<string, BaseEntry>;
  ignore?: string;
  gitignores?: Record<string, string>;
  prefer?: SyncSide;
  kind?: CycleKind;
}

function sidesOf(g: Given): CycleSides {
  return {
    local: new Map(Object.entries(g.local ?? {})),
    remote: new Map(Object.entries(g.remote ?? {})),
    base: new Map(Object.entries(g.base ?? {})),
  };
}

/** A whole cycle's plan as the engine makes it, without hashing. */
function plan(g: Given) {
  const sides = sidesOf(g);
  const ignore = g.ignore ?? "";
  const gitignores = Object.entries(g.gitignores ?? {});
  const candidates = new Set([...sides.local.keys(), ...sides.remote.keys(), ...sides.base.keys()]);
  const decide = pathsToDecide(
    candidates,
    sides,
    pairMatcher(ignore, gitignores),
    g.kind ?? "full",
  );
  const wholeFolders = ignore.trim() === "" && gitignores.length === 0;
  return { ...decide, ...planCycle(decide.paths, sides, g.prefer ?? "local", wholeFolders) };
}

const paths = (list: readonly PlannedPath[]) => list.map((p) => p.path);

describe("sync plan - decisions", () => {
  it("new on one side is copied from it; nothing is deleted without a synced state", () => {
    const p = plan({
      local: { "only-local.txt": file(1, 10) },
      remote: { "only-remote.txt": file(2, 20) },
    });
    expect(paths(p.copies.local)).toEqual(["only-local.txt"]);
    expect(paths(p.copies.remote)).toEqual(["only-remote.txt"]);
    expect(p.deletes).toEqual({ local: [], remote: [] });
    expect(p.items).toEqual(
      expect.arrayContaining([
        { path: "only-local.txt", action: "copy", reason: "new", side: "local", size: 1 },
        { path: "only-remote.txt", action: "copy", reason: "new", side: "remote", size: 2 },
      ]),
    );
    expect(p.pendingBytes).toBe(3);
  });

  it("changed on one side since the last sync is copied from that side", () => {
    const p = plan({
      base: { "a.txt": synced(file(5, 10)), "b.txt": synced(file(5, 10)) },
      local: { "a.txt": file(10, 30), "b.txt": file(5, 10) },
      remote: { "a.txt": file(5, 10), "b.txt": file(11, 40) },
    });
    expect(paths(p.copies.local)).toEqual(["a.txt"]);
    expect(paths(p.copies.remote)).toEqual(["b.txt"]);
    expect(p.items.map((i) => i.reason)).toEqual(["changed", "changed"]);
  });

  it("changed on both sides is a conflict the preferred side wins", () => {
    const p = plan({
      prefer: "remote",
      base: { "a.txt": synced(file(5, 10)) },
      local: { "a.txt": file(13, 30), "new.txt": file(1, 5) },
      remote: { "a.txt": file(15, 40), "new.txt": file(2, 6) },
    });
    expect(paths(p.conflicts)).toEqual(["a.txt", "new.txt"]);
    expect(p.copies).toEqual({ local: [], remote: [] });
    expect(p.items).toEqual([
      { path: "a.txt", action: "conflict", reason: "both-changed", side: "remote", size: 15 },
      { path: "new.txt", action: "conflict", reason: "both-new", side: "remote", size: 2 },
    ]);
    expect(p.pendingBytes).toBe(17);
  });

  it("deleted on one side is deleted on the other: files first, then folders deepest first", () => {
    const tree = {
      d: dir(),
      "d/e.txt": file(1, 1),
      "d/f": dir(),
      "d/f/g.txt": file(1, 1),
    };
    const base = Object.fromEntries(
      Object.entries({ ...tree, "c.txt": file(1, 1) }).map(([k, e]) => [k, synced(e)]),
    );
    const p = plan({ base, local: tree, remote: { "c.txt": file(1, 1) } });
    expect(paths(p.deletes.remote)).toEqual(["c.txt"]);
    expect(paths(p.deletes.local)).toEqual(["d/f/g.txt", "d/e.txt", "d/f", "d"]);
    expect(p.items.every((i) => i.action === "delete" && i.reason === "deleted")).toBe(true);
    expect(p.copies).toEqual({ local: [], remote: [] });
  });

  it("deleted on one side but changed on the other is restored", () => {
    const p = plan({
      base: { "a.txt": synced(file(5, 10)) },
      local: { "a.txt": file(6, 20) },
    });
    expect(paths(p.copies.local)).toEqual(["a.txt"]);
    expect(p.items[0]).toMatchObject({ action: "copy", reason: "restored", side: "local" });
    expect(p.deletes).toEqual({ local: [], remote: [] });
  });

  it("gone from both is forgotten, the same on both is recorded, unchanged needs nothing", () => {
    const same = file(3, 7);
    const p = plan({
      base: { "gone.txt": synced(file(1, 1)), "kept.txt": synced(same) },
      local: { "agree.txt": file(2, 5), "kept.txt": same },
      remote: { "agree.txt": file(2, 5), "kept.txt": same },
    });
    expect(p.forget).toEqual(["gone.txt"]);
    expect(p.record).toEqual([["agree.txt", synced(file(2, 5))]]);
    expect(p.items).toEqual([]);
    expect(p.pendingBytes).toBe(0);
  });
});

describe("sync plan - ignored paths", () => {
  it("patterns and .gitignore files on either side leave paths undecided", () => {
    const local = {
      "a.log": file(1, 1),
      "keep.log": file(1, 1),
      build: dir(),
      "build/out.o": file(1, 1),
      src: dir(),
      "src/main.c": file(1, 1),
      "src/gen.tmp": file(1, 1),
      "src/.gitignore": file(6, 1),
      ".cocalc-sync.tmp": dir(),
      ".cocalc-sync.tmp/s1-0/x": file(1, 1),
    };
    const p = plan({
      local,
      ignore: "*.log\nbuild/\n!keep.log",
      gitignores: { "src/.gitignore": "*.tmp\n" },
    });
    expect(new Set(p.paths)).toEqual(new Set(["keep.log", "src", "src/main.c", "src/.gitignore"]));
    expect(new Set(paths(p.copies.local))).toEqual(new Set(p.paths));
    // A recursive copy would take along what the rules leave out.
    expect(p.whole.size).toBe(0);
  });

  it("an ignored path is neither deleted nor hashed", () => {
    const p = plan({
      ignore: "*.log",
      base: { "x.log": synced(file(1, 1, "h")) },
      local: { "x.log": file(1, 2) },
      remote: { "y.log": file(1, 1) },
      kind: "check",
    });
    expect(p.paths).toEqual([]);
    expect(p.hash).toEqual({ local: [], remote: [] });
    expect(p.items).toEqual([]);
  });
});

describe("sync plan - hashes", () => {
  it("size and mtime decide unless they cannot tell; a check hashes every file", () => {
    const g: Given = {
      base: { "touched.txt": synced(file(4, 10, "h4")), "plain.txt": synced(file(4, 10)) },
      local: {
        "same-size.txt": file(3, 1),
        "touched.txt": file(4, 11),
        "plain.txt": file(4, 11),
        folder: dir(),
      },
      // Other sizes than here: only the state can tell whether the local touch is a change.
      remote: { "same-size.txt": file(3, 2), "touched.txt": file(5, 11), "plain.txt": file(5, 10) },
    };
    expect(plan(g).hash).toEqual({
      local: ["same-size.txt", "touched.txt"],
      remote: ["same-size.txt"],
    });
    expect(plan({ ...g, kind: "check" }).hash).toEqual({
      local: ["same-size.txt", "touched.txt", "plain.txt"],
      remote: ["same-size.txt", "touched.txt", "plain.txt"],
    });
  });

  it("a touch with the same bytes is no change; a deep check's differing bytes go to the stale side", () => {
    const touched = plan({
      base: { "a.txt": synced(file(4, 10, "h")) },
      local: { "a.txt": file(4, 11, "h") },
      remote: { "a.txt": file(4, 10, "h") },
    });
    expect(touched.items).toEqual([]);
    expect(touched.record).toEqual([["a.txt", baseFrom(file(4, 11, "h"), file(4, 10, "h"))]]);
    const deep = plan({
      kind: "check",
      base: { "a.txt": synced(file(4, 10, "old")) },
      local: { "a.txt": file(4, 10, "old") },
      remote: { "a.txt": file(4, 10, "new") },
    });
    expect(deep.items).toEqual([
      {
        path: "a.txt",
        action: "copy",
        reason: "changed",
        side: "remote",
        size: 4,
        localHash: "old",
        remoteHash: "new",
      },
    ]);
  });
});

describe("sync plan - copies", () => {
  it("a folder new on one side with everything under it goes whole; others entry by entry", () => {
    const p = plan({
      base: { m: synced(dir()) },
      local: {
        n: dir(),
        "n/a": file(1, 1),
        "n/sub": dir(),
        "n/sub/b": file(2, 1),
        m: dir(),
        "m/x": file(4, 1),
        p: dir(),
      },
      remote: { m: dir(), "p/q": file(8, 1) },
    });
    expect([...p.whole]).toEqual(["n"]);
    const runs = copyRuns(p.copies.local, "local", p.whole, 100, 1e9);
    // The folder that is only created goes in a run of its own, before what goes into folders.
    expect(
      runs.map((r) => [r.recursive, r.units.map((u) => u.entries.map((e) => e.path))]),
    ).toEqual([
      [false, [["p"]]],
      [true, [["m/x"], ["n", "n/a", "n/sub", "n/sub/b"]]],
    ]);
    expect(runs[1]!.units[1]).toMatchObject({ bytes: 3, root: { path: "n" } });
  });

  it("runs hold at most the files and bytes of a batch, or one larger unit", () => {
    const local = {
      a: file(10, 1),
      b: file(10, 1),
      c: file(10, 1),
      d: file(100, 1),
      e: file(10, 1),
    };
    const p = plan({ local });
    const runs = copyRuns(p.copies.local, "local", p.whole, 2, 25);
    expect(runs.map((r) => r.units.map((u) => u.entries[0]!.path))).toEqual([
      ["a", "b"],
      ["c", "d"],
      ["e"],
    ]);
    expect(copyRuns(p.copies.local, "local", p.whole, 100, 5).map((r) => r.units.length)).toEqual([
      1, 1, 1, 1, 1,
    ]);
  });
});
