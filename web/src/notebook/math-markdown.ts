/**
 * A markdown cell as Jupyter shows it: markdown (the page's sanitised renderer) with TeX
 * math in $…$, $$…$$, \(…\) and \[…\] typeset by KaTeX. The math is taken out before the
 * markdown is rendered (so that markdown does not read its underscores and stars) and put
 * back as KaTeX's HTML after sanitising; code spans and blocks keep their dollars.
 */
import katex from "katex";
import "katex/dist/katex.min.css";
import { renderMarkdown } from "../agents/markdown.js";

const CODE = /(```[\s\S]*?(?:```|$)|~~~[\s\S]*?(?:~~~|$)|`[^`\n]*`)/g;
const MATH =
  /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$])\$(?!\s)((?:\\\$|[^$\n])+?)(?<!\s)\$(?!\d)/g;

/** Safe HTML for a markdown cell. */
export function renderNotebookMarkdown(text: string): string {
  const math: { tex: string; display: boolean }[] = [];
  const parts = text.split(CODE);
  const prepared = parts
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(MATH, (_m, dd, sq, par, single) => {
            const display = dd !== undefined || sq !== undefined;
            math.push({ tex: (dd ?? sq ?? par ?? single) as string, display });
            return `KATEXMATH${math.length - 1}X`;
          }),
    )
    .join("");
  const html = renderMarkdown(prepared);
  return html.replace(/KATEXMATH(\d+)X/g, (_m, n: string) => {
    const m = math[Number(n)];
    if (!m) return "";
    return katex.renderToString(m.tex, {
      displayMode: m.display,
      throwOnError: false,
      trust: false,
      output: "htmlAndMathml",
    });
  });
}

/** TeX (a text/latex output) typeset; `$` delimiters are taken off. */
export function renderLatex(tex: string): string {
  const t = tex.trim();
  const inner = /^\$\$([\s\S]*)\$\$$/.exec(t)?.[1] ?? /^\$([\s\S]*)\$$/.exec(t)?.[1] ?? t;
  return katex.renderToString(inner, { displayMode: true, throwOnError: false, trust: false });
}
