import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BaseEntry,
  baseFrom,
  conflictName,
  decidePath,
  type SyncEntry,
} from "./path-decision.js";

describe("sync - decisions", () => {
  const f = (size: number, mtime: number, hash?: string): SyncEntry => ({
    kind: "file",
    size,
    mtime,
    ...(hash !== undefined && { hash }),
  });
  const synced = (e: SyncEntry): BaseEntry => baseFrom(e, e);

  it("new on one side is copied; equal on both is recorded once", () => {
    expect(decidePath(f(1, 10), undefined, undefined, "local")).toEqual({
      action: "copy",
      from: "local",
      reason: "new",
    });
    expect(decidePath(undefined, f(1, 10), undefined, "local")).toMatchObject({ from: "remote" });
    expect(decidePath(f(1, 10), f(1, 10), undefined, "local")).toEqual({ action: "record" });
    expect(decidePath(f(1, 10), f(1, 10), synced(f(1, 10)), "local")).toEqual({ action: "none" });
  });

  it("a mirror makes the copy's side what the source holds: its own changes undone, what only it holds deleted, never a conflict", () => {
    const base = synced(f(1, 10, "h1"));
    for (const source of ["local", "remote"] as const) {
      const copySide = source === "local" ? "remote" : "local";
      const at = (src: SyncEntry | undefined, copy: SyncEntry | undefined, b?: BaseEntry) =>
        source === "local"
          ? decidePath(src, copy, b, "local", source)
          : decidePath(copy, src, b, "local", source);
      // Changed on the copy's side only: the source's version goes back over it.
      expect(at(f(1, 10, "h1"), f(5, 50), base)).toEqual({
        action: "copy",
        from: source,
        reason: "changed",
      });
      // Both changed: the source's wins, no conflict copy.
      expect(at(f(2, 20), f(5, 50), base)).toEqual({
        action: "copy",
        from: source,
        reason: "changed",
      });
      // New on the copy's side only: deleted there, synced before or not.
      expect(at(undefined, f(5, 50), undefined)).toEqual({
        action: "delete",
        on: copySide,
        reason: "not-in-source",
      });
      expect(at(undefined, f(1, 10), base)).toEqual({
        action: "delete",
        on: copySide,
        reason: "deleted",
      });
      // Deleted on the copy's side: put back.
      expect(at(f(1, 10), undefined, base)).toEqual({
        action: "copy",
        from: source,
        reason: "restored",
      });
      expect(at(f(1, 10), undefined, undefined)).toEqual({
        action: "copy",
        from: source,
        reason: "new",
      });
      expect(at(f(1, 10), f(1, 10), synced(f(1, 10)))).toEqual({ action: "none" });
      expect(at(undefined, undefined, base)).toEqual({ action: "forget" });
    }
  });

  it("a change on one side is copied to the other", () => {
    const base = synced(f(1, 10, "h1"));
    expect(decidePath(f(2, 20), f(1, 10), base, "remote")).toEqual({
      action: "copy",
      from: "local",
      reason: "changed",
    });
    expect(decidePath(f(1, 10), f(1, 30), base, "local")).toMatchObject({ from: "remote" });
    // A touch with the same bytes is no change.
    expect(decidePath(f(1, 20, "h1"), f(1, 10), base, "local")).toMatchObject({
      action: "record",
    });
  });

  it("a delete is propagated only when the base proves the file was synced", () => {
    const base = synced(f(1, 10));
    expect(decidePath(undefined, f(1, 10), base, "local")).toEqual({
      action: "delete",
      on: "remote",
      reason: "deleted",
    });
    expect(decidePath(undefined, f(1, 10), undefined, "local")).toMatchObject({ action: "copy" });
    // Deleted here, changed there: the change comes back.
    expect(decidePath(undefined, f(5, 50), base, "local")).toEqual({
      action: "copy",
      from: "remote",
      reason: "restored",
    });
    expect(decidePath(undefined, undefined, base, "local")).toEqual({ action: "forget" });
  });

  it("both changed, or both new and different: a conflict won by the preferred side", () => {
    const base = synced(f(1, 10));
    expect(decidePath(f(2, 20), f(3, 30), base, "remote")).toEqual({
      action: "conflict",
      winner: "remote",
      reason: "both-changed",
    });
    expect(decidePath(f(2, 20), f(3, 30), undefined, "local")).toEqual({
      action: "conflict",
      winner: "local",
      reason: "both-new",
    });
    expect(decidePath(f(2, 20, "x"), f(2, 30, "x"), undefined, "local")).toEqual({
      action: "record",
    });
    expect(
      decidePath({ kind: "dir", size: 0, mtime: 1 }, f(2, 2), undefined, "local"),
    ).toMatchObject({
      action: "conflict",
      reason: "kind-differs",
    });
  });

  it("never deletes a path that is unknown to the base (property)", () => {
    const entry = fc.option(
      fc.record({
        kind: fc.constantFrom("file" as const, "dir" as const),
        size: fc.nat(3),
        mtime: fc.nat(3),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(entry, entry, fc.constantFrom("local" as const, "remote" as const), (l, r, p) => {
        const d = decidePath(l, r, undefined, p);
        expect(d.action).not.toBe("delete");
      }),
    );
  });

  it("conflict names", () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    expect(conflictName("d/notes.md", "remote", at)).toBe(
      "d/notes.conflict-remote-20260102T030405Z.md",
    );
    expect(conflictName("Makefile", "local", at)).toBe("Makefile.conflict-local-20260102T030405Z");
    expect(conflictName(".bashrc", "local", at)).toBe(".bashrc.conflict-local-20260102T030405Z");
  });
});
