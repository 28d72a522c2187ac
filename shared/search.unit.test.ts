import { describe, expect, it } from "vitest";
import { fuzzyScore, replaceLines, searchQuery, searchRegExp } from "./search.js";

const q = searchQuery;

describe("search", () => {
  it("searchRegExp - literal text is escaped; whole word and case as ripgrep", () => {
    const lit = searchRegExp(q("a.b(c)"));
    expect("xa.b(c)y".replace(lit, "_")).toBe("x_y");
    expect("axb(c)".replace(lit, "_")).toBe("axb(c)");
    const word = searchRegExp(q("cat", { wholeWord: true }));
    expect("cat cats Cat_ bobcat CAT".replace(word, "_")).toBe("_ cats Cat_ bobcat _");
    expect("Cat cat".replace(searchRegExp(q("cat", { caseSensitive: true })), "_")).toBe("Cat _");
    expect(() => searchRegExp(q("(", { regex: true }))).toThrow(SyntaxError);
  });

  it("replaceLines - groups in a regex replacement, dollars kept in a literal one, per line", () => {
    const re = searchRegExp(q("(?<w>\\w)at", { regex: true }));
    expect(replaceLines("cat hat\nno\nbat", re, "$<w>og[$1$$]", true)).toEqual({
      text: "cog[c$] hog[h$]\nno\nbog[b$]",
      count: 3,
      lines: 2,
    });
    expect(replaceLines("a.b", searchRegExp(q(".")), "$1$&", false).text).toBe("a$1$&b");
    // A match never spans lines, as in ripgrep.
    expect(replaceLines("a\nb", searchRegExp(q("a\\sb", { regex: true })), "x", true).count).toBe(
      0,
    );
  });

  it("fuzzyScore - characters in order; the file's name and word starts count more", () => {
    expect(fuzzyScore("src/editor/code-editor.tsx", "zz")).toBeNull();
    const names = ["c/o/d/e/e/d/file.ts", "src/editor/code-editor.tsx", "codeed-notes/a.md"];
    const ranked = names
      .map((n) => ({ n, s: fuzzyScore(n, "codeed")! }))
      .sort((a, b) => b.s - a.s)
      .map((x) => x.n);
    expect(ranked[0]).toBe("src/editor/code-editor.tsx");
    expect(
      fuzzyScore("a/readme.md", "readme.md")! > fuzzyScore("readme.md/x.txt", "readme.md")!,
    ).toBe(true);
  });
});
