/**
 * Math in Markdown: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` displayed, as pandoc and
 * Jupyter read them (no space just inside single dollars, no digit just after the closing
 * one, so "$5 and $10" stays text; code spans and blocks keep their dollars). The
 * parser only marks where the TeX is (an element carrying it in `data-tex`, sanitised with
 * the rest); KaTeX draws it afterwards into those elements, with `trust` off, so no \href,
 * \url, \includegraphics or \htmlData can make a link, load a file or set an attribute.
 */
import katex from "katex";
import "katex/dist/katex.min.css";
import type { MarkedExtension, Tokens } from "marked";

/** TeX longer than this is shown as written, not typeset. */
const MAX_TEX = 10_000;

const escapeAttr = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function mark(tex: string, display: boolean): string {
  const tag = display ? "div" : "span";
  const kind = display ? "math-display" : "math-inline";
  // The TeX is also the element's text: what shows if KaTeX cannot draw it.
  return `<${tag} class="math ${kind}" data-tex="${escapeAttr(tex)}">${escapeAttr(tex)}</${tag}>`;
}

/** The marked extension that finds math. */
export const mathExtension: MarkedExtension = {
  extensions: [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
      tokenizer(src) {
        const m =
          /^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/.exec(src) ??
          /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/.exec(src);
        if (m) return { type: "mathBlock", raw: m[0], text: m[1]!.trim() };
        return undefined;
      },
      renderer: (token) => mark((token as Tokens.Generic).text as string, true),
    },
    {
      name: "mathInline",
      level: "inline",
      start: (src) => src.match(/\$|\\[([]/)?.index,
      tokenizer(src) {
        const display = /^\$\$(?!\$)([\s\S]+?)\$\$/.exec(src) ?? /^\\\[([\s\S]+?)\\\]/.exec(src);
        if (display)
          return { type: "mathInline", raw: display[0], text: display[1]!.trim(), display: true };
        const m =
          /^\$(?![\s$])((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/.exec(src) ??
          /^\\\(([\s\S]+?)\\\)/.exec(src);
        if (m) return { type: "mathInline", raw: m[0], text: m[1]!, display: false };
        return undefined;
      },
      renderer: (token) => {
        const t = token as Tokens.Generic;
        return mark(t.text as string, t.display === true);
      },
    },
  ],
};

/** Typesets every math element under `root` that is not typeset yet. */
export function renderMath(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>(".math[data-tex]")) {
    if (el.dataset.typeset) continue;
    const tex = el.dataset.tex ?? "";
    el.dataset.typeset = "true";
    if (tex.length > MAX_TEX) continue;
    try {
      katex.render(tex, el, {
        displayMode: el.classList.contains("math-display"),
        throwOnError: false,
        trust: false,
        strict: "ignore",
        maxSize: 50,
        maxExpand: 1000,
        output: "htmlAndMathml",
      });
    } catch {
      // Shown as the TeX it is.
    }
  }
}
