import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CocalcError } from "./errors.js";
import { sessionIdOf } from "./remote.js";
import {
  type BaseEntry,
  baseFrom,
  checkNotNested,
  conflictName,
  decidePath,
  IgnoreMatcher,
  normalizeRoot,
  pairIdFor,
  pairMatcher,
  parseIgnore,
  type SyncEntry,
  sessionIdOfPair,
} from "./sync.js";

const m = (text: string) => new IgnoreMatcher(parseIgnore(text));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CocalcError ? err.code : `not a CocalcError: ${err}`;
  }
  return undefined;
}

describe("sync - ignore patterns", () => {
  it("a name matches at any depth, a slash anchors", () => {
    const i = m("node_modules\n/build\ndocs/*.tmp\n");
    expect(i.ignored("node_modules", true)).toBe(true);
    expect(i.ignored("a/b/node_modules", true)).toBe(true);
    expect(i.ignored("a/b/node_modules/x/y.js", false)).toBe(true);
    expect(i.ignored("build", true)).toBe(true);
    expect(i.ignored("src/build", true)).toBe(false);
    expect(i.ignored("docs/a.tmp", false)).toBe(true);
    expect(i.ignored("x/docs/a.tmp", false)).toBe(false);
    expect(i.ignored("docs/sub/a.tmp", false)).toBe(false);
  });

  it("wildcards, classes, ** and dir-only", () => {
    const i = m("*.log\n?.o\n[abc]x\nlogs/\na/**/z\nkeep/**\n");
    expect(i.ignored("x/app.log", false)).toBe(true);
    expect(i.ignored("a.o", false)).toBe(true);
    expect(i.ignored("ab.o", false)).toBe(false);
    expect(i.ignored("bx", false)).toBe(true);
    expect(i.ignored("dx", false)).toBe(false);
    expect(i.ignored("logs", false)).toBe(false);
    expect(i.ignored("logs", true)).toBe(true);
    expect(i.ignored("logs/today", false)).toBe(true);
    expect(i.ignored("a/z", false)).toBe(true);
    expect(i.ignored("a/b/c/z", false)).toBe(true);
    expect(i.ignored("keep/x/y", false)).toBe(true);
    expect(i.ignored("keep", true)).toBe(false);
  });

  it("negation: the last matching rule wins, but an ignored folder stays ignored", () => {
    const i = m("*.log\n!important.log\nout/\n!out/keep.txt\n");
    expect(i.ignored("debug.log", false)).toBe(true);
    expect(i.ignored("important.log", false)).toBe(false);
    expect(i.ignored("out/keep.txt", false)).toBe(true);
  });

  it("comments, blank lines, escapes and trailing spaces", () => {
    const i = m("# comment\n\n\\#hash\n\\!bang\nspace\\ \ntrail   \n");
    expect(i.ignored("#hash", false)).toBe(true);
    expect(i.ignored("!bang", false)).toBe(true);
    expect(i.ignored("space ", false)).toBe(true);
    expect(i.ignored("trail", false)).toBe(true);
    expect(i.ignored("comment", false)).toBe(false);
  });

  it("nested .gitignore files apply below their folder; the pair's own patterns come last", () => {
    const i = pairMatcher(
      "!sub/keep.o",
      new Map([
        ["sub/.gitignore", "*.o"],
        [".gitignore", "/top.txt"],
      ]),
    );
    expect(i.ignored("sub/a.o", false)).toBe(true);
    expect(i.ignored("a.o", false)).toBe(false);
    expect(i.ignored("sub/keep.o", false)).toBe(false);
    expect(i.ignored("top.txt", false)).toBe(true);
    expect(i.ignored(".cocalc-sync.tmp/x", false)).toBe(true);
  });

  it("a pattern that does not parse is a clear error naming the line", () => {
    for (const bad of ["ok\n[abc", "x\\", "!", "/", "[z-a]"]) {
      expect(
        code(() => parseIgnore(bad)),
        bad,
      ).toBe("ERR_SYNC_IGNORE");
    }
    try {
      parseIgnore("fine\n*.[ch");
    } catch (err) {
      expect((err as Error).message).toMatch(/\*\.\[ch.*line 2.*no closing/);
    }
  });

  it("never throws anything but ERR_SYNC_IGNORE on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const c = code(() => new IgnoreMatcher(parseIgnore(text)).ignored("a/b", false));
        expect(c === undefined || c === "ERR_SYNC_IGNORE").toBe(true);
      }),
    );
  });
});

describe("sync - roots", () => {
  it("relative to home by default, ~/ means home, absolute paths need the opt-in", () => {
    expect(normalizeRoot("proj")).toBe("proj");
    expect(normalizeRoot("~/proj/")).toBe("proj");
    expect(normalizeRoot("./a//b/.")).toBe("a/b");
    expect(normalizeRoot("/home/me/proj", { home: "/home/me" })).toBe("proj");
    expect(code(() => normalizeRoot("/etc"))).toBe("ERR_SYNC_PATH");
    expect(normalizeRoot("/srv/data/", { outsideHome: true })).toBe("/srv/data");
    for (const bad of ["", "~", "a/../b", "~bob/x", "/", "a\0b"]) {
      expect(
        code(() => normalizeRoot(bad, { outsideHome: true })),
        bad,
      ).toBe("ERR_SYNC_PATH");
    }
  });

  it("refuses pairs inside, around or equal to another, with the reason", () => {
    const others = [{ pair: "p1", session: "a@h", local: "proj", remote: "proj" }];
    expect(
      code(() => checkNotNested({ session: "a@h", local: "proj/sub", remote: "x" }, others)),
    ).toBe("ERR_SYNC_NESTED");
    expect(code(() => checkNotNested({ session: "b@h", local: "w", remote: "proj" }, others))).toBe(
      undefined,
    );
    expect(
      code(() => checkNotNested({ session: "a@h", local: "w", remote: "proj/x" }, others)),
    ).toBe("ERR_SYNC_NESTED");
    expect(() => checkNotNested({ session: "a@h", local: ".", remote: "x" }, [])).not.toThrow();
    expect(() =>
      checkNotNested({ session: "z", local: "pro", remote: "pro" }, others),
    ).not.toThrow();
    try {
      checkNotNested({ session: "z", local: "", remote: "" }, others);
    } catch (err) {
      expect((err as Error).message).toMatch(/contains ~\/proj/);
    }
  });

  it("pair ids and conflict names", () => {
    expect(pairIdFor("a@h", "proj")).toMatch(/^p[A-Za-z0-9_-]{22}s[A-Za-z0-9_-]+$/);
    expect(sessionIdOfPair(pairIdFor("a@h", "proj"))).toBe(sessionIdOf("a@h"));
    expect(pairIdFor("a@h", "proj")).not.toBe(pairIdFor("a@h", "proj2"));
    const at = new Date("2026-01-02T03:04:05.678Z");
    expect(conflictName("d/notes.md", "remote", at)).toBe(
      "d/notes.conflict-remote-20260102T030405Z.md",
    );
    expect(conflictName("Makefile", "local", at)).toBe("Makefile.conflict-local-20260102T030405Z");
    expect(conflictName(".bashrc", "local", at)).toBe(".bashrc.conflict-local-20260102T030405Z");
  });
});

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
});
