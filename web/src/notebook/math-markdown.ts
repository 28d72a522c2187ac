/**
 * A markdown cell as Jupyter shows it: markdown (the page's sanitised renderer) with TeX
 * math in $…$, $$…$$, \(…\) and \[…\] typeset by KaTeX — the same math as the page's other
 * markdown (agents/markdown-math.ts): the parser marks where the TeX is, the sanitiser sees
 * only those marks, and KaTeX draws into them afterwards with `trust` off.
 */
import katex from "katex";
import "katex/dist/katex.min.css";
import { renderMarkdown } from "../agents/markdown.js";
import { renderMath } from "../agents/markdown-math.js";

/** Safe HTML for a markdown cell. */
export function renderNotebookMarkdown(text: string): string {
  const html = renderMarkdown(text, { math: true });
  if (!html.includes("data-tex")) return html;
  // Typeset in an inert template, so nothing of it runs or loads while it is built.
  const tpl = document.createElement("template");
  tpl.innerHTML = html;
  renderMath(tpl.content);
  return tpl.innerHTML;
}

/** TeX (a text/latex output) typeset; `$` delimiters are taken off. */
export function renderLatex(tex: string): string {
  const t = tex.trim();
  const inner = /^\$\$([\s\S]*)\$\$$/.exec(t)?.[1] ?? /^\$([\s\S]*)\$$/.exec(t)?.[1] ?? t;
  return katex.renderToString(inner, { displayMode: true, throwOnError: false, trust: false });
}
