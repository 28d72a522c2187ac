import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { errorCode } from "../../test/helpers/errors.js";
import { IgnoreMatcher, pairMatcher, parseIgnore } from "./ignore.js";

const m = (text: string) => new IgnoreMatcher(parseIgnore(text));

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
        errorCode(() => parseIgnore(bad)),
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
        const c = errorCode(() => new IgnoreMatcher(parseIgnore(text)).ignored("a/b", false));
        expect(c === undefined || c === "ERR_SYNC_IGNORE").toBe(true);
      }),
    );
  });
});
