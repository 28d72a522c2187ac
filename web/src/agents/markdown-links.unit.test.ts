import { Marked } from "marked";
import { describe, expect, it } from "vitest";
import { workspacePathOf } from "./markdown-links.js";
import { mathExtension } from "./markdown-math.js";

const at = { dir: "/home/u/doc", home: "/home/u" };

describe("markdown - workspace links", () => {
  it("reads relative, home and absolute paths, and leaves every other URL alone", () => {
    expect(workspacePathOf("img/pic.png", at)).toBe("/home/u/doc/img/pic.png");
    expect(workspacePathOf("./a%20b.md#part", at)).toBe("/home/u/doc/a b.md");
    expect(workspacePathOf("../other.md?x=1", at)).toBe("/home/u/other.md");
    expect(workspacePathOf("~/notes.md", at)).toBe("/home/u/notes.md");
    expect(workspacePathOf("/etc/hosts", at)).toBe("/etc/hosts");
    for (const url of [
      "https://example.com/a.png",
      "//example.com/a.png",
      "javascript:alert(1)",
      "JaVaScRiPt:alert(1)",
      "data:image/png;base64,AAAA",
      "mailto:a@b.c",
      "#heading",
      "",
      "?only=query",
      "%E0%A4%A", // not valid percent-encoding
      "a\u0000b", // a NUL is no path
    ]) {
      expect(workspacePathOf(url, at), url).toBe(undefined);
    }
  });
});

describe("markdown - math", () => {
  const marked = new Marked({ gfm: true, async: false }, mathExtension);
  const render = (s: string) => marked.parse(s) as string;

  it("marks inline and displayed TeX, escaped, and leaves prices and code alone", () => {
    expect(render("Euler $e^{i\\pi}$.")).toContain(
      '<span class="math math-inline" data-tex="e^{i\\pi}">e^{i\\pi}</span>',
    );
    expect(render('$$\nx < "y"\n$$\n')).toContain(
      '<div class="math math-display" data-tex="x &lt; &quot;y&quot;">',
    );
    expect(render("it costs $5 or $10")).not.toContain("math");
    expect(render("a $ b $ c")).not.toContain("math");
    expect(render("`$x$`")).toContain("<code>$x$</code>");
    expect(render("```\n$$\nx\n$$\n```")).not.toContain("math-display");
  });

  it("reads Jupyter's \\( \\) and \\[ \\] too, and \\( in code stays code", () => {
    expect(render("so \\(a_1 + b\\) holds")).toContain(
      '<span class="math math-inline" data-tex="a_1 + b">',
    );
    expect(render("\\[\n\\int_0^1 x\\,dx\n\\]\n")).toContain(
      '<div class="math math-display" data-tex="\\int_0^1 x\\,dx">',
    );
    expect(render("inline \\[x^2\\] shown")).toContain('class="math math-display"');
    expect(render("`\\(x\\)`")).toContain("<code>\\(x\\)</code>");
    // Not math: an escaped parenthesis alone is a parenthesis.
    expect(render("a \\( b")).not.toContain("math");
  });

  it("keeps markup in TeX as text, never as HTML", () => {
    const html = render('$<img src=x onerror="alert(1)">$');
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img");
  });
});
