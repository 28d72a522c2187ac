/**
 * A markdown cell as Jupyter shows it: markdown (the page's sanitised renderer) with TeX
 * math in $…$, $$…$$, \(…\) and \[…\] typeset by KaTeX. The math is taken out before the
 * markdown is rendered (so that markdown does not read its underscores and stars) and put
 * back, into text only, as KaTeX's own DOM after sanitising; code spans and blocks keep their
 * dollars.
 */
import katex from "katex";
import "katex/dist/katex.min.css";
import { renderMarkdown } from "../agents/markdown.js";

const CODE = /(```[\s\S]*?(?:```|$)|~~~[\s\S]*?(?:~~~|$)|`[^`\n]*`)/g;
const MATH =
  /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$])\$(?!\s)((?:\\\$|[^$\n])+?)(?<!\s)\$(?!\d)/g;

/** Safe HTML for a markdown cell. */
export function renderNotebookMarkdown(text: string): string {
  const math: { tex: string; display: boolean; source: string }[] = [];
  const parts = text.split(CODE);
  const prepared = parts
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(MATH, (source, dd, sq, par, single) => {
            const display = dd !== undefined || sq !== undefined;
            math.push({ tex: (dd ?? sq ?? par ?? single) as string, display, source });
            return `KATEXMATH${math.length - 1}X`;
          }),
    )
    .join("");
  const html = renderMarkdown(prepared);
  if (math.length === 0) return html;
  // The math goes back into text only (never into an attribute, where a placeholder could
  // also be), as DOM KaTeX builds itself; the template's content is inert while we do it.
  const tpl = document.createElement("template");
  tpl.innerHTML = html;
  const walker = document.createTreeWalker(tpl.content, NodeFilter.SHOW_TEXT);
  const hits: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode())
    if ((n as Text).data.includes("KATEXMATH")) hits.push(n as Text);
  for (const node of hits) {
    const frag = document.createDocumentFragment();
    for (const [i, part] of node.data.split(/KATEXMATH(\d+)X/).entries()) {
      if (i % 2 === 0) {
        if (part) frag.append(part);
        continue;
      }
      const m = math[Number(part)];
      if (!m) continue;
      const span = document.createElement("span");
      katex.render(m.tex, span, {
        displayMode: m.display,
        throwOnError: false,
        trust: false,
        output: "htmlAndMathml",
      });
      frag.append(span);
    }
    node.replaceWith(frag);
  }
  // In an attribute the math stays as it was written.
  for (const el of tpl.content.querySelectorAll("*"))
    for (const a of Array.from(el.attributes))
      if (a.value.includes("KATEXMATH"))
        el.setAttribute(
          a.name,
          a.value.replace(/KATEXMATH(\d+)X/g, (_m, n: string) => math[Number(n)]?.source ?? ""),
        );
  return tpl.innerHTML;
}

/** TeX (a text/latex output) typeset; `$` delimiters are taken off. */
export function renderLatex(tex: string): string {
  const t = tex.trim();
  const inner = /^\$\$([\s\S]*)\$\$$/.exec(t)?.[1] ?? /^\$([\s\S]*)\$$/.exec(t)?.[1] ?? t;
  return katex.renderToString(inner, { displayMode: true, throwOnError: false, trust: false });
}
