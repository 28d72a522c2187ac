/**
 * Code blocks of rendered Markdown highlighted by the editor's own parsers (CodeMirror's
 * languages, loaded on demand), through @lezer/highlight's class highlighter: the spans get
 * `tok-*` classes styled in agents.css, and the text stays text nodes.
 */
import { Language, LanguageSupport } from "@codemirror/language";
import { classHighlighter, highlightCode } from "@lezer/highlight";
import { languageOf } from "../editor/languages.js";

/** Code longer than this is left plain. */
const MAX_CODE = 100_000;

/** Fence names that are not file extensions. */
const ALIASES: Record<string, string> = {
  python: "py",
  python3: "py",
  javascript: "js",
  typescript: "ts",
  shell: "sh",
  console: "sh",
  rust: "rs",
  golang: "go",
  "c++": "cpp",
  markdown: "md",
  yml: "yaml",
  tex: "tex",
  julia: "jl",
};

const languages = new Map<string, Promise<Language | undefined>>();

function languageFor(fence: string): Promise<Language | undefined> {
  const name = fence.toLowerCase();
  const ext = Object.hasOwn(ALIASES, name) ? ALIASES[name]! : name;
  let loading = languages.get(ext);
  if (!loading) {
    const mode = languageOf(`code.${ext}`);
    loading = mode
      ? mode.load().then(
          (e) =>
            e instanceof LanguageSupport ? e.language : e instanceof Language ? e : undefined,
          () => undefined,
        )
      : Promise.resolve(undefined);
    languages.set(ext, loading);
  }
  return loading;
}

/** Highlights the fenced code blocks under `root` that name a known language. */
export function highlightCodeBlocks(root: HTMLElement): void {
  for (const code of root.querySelectorAll<HTMLElement>("pre > code[class*='language-']")) {
    if (code.dataset.highlighted) continue;
    const fence = /(?:^|\s)language-(\S+)/.exec(code.className)?.[1];
    const text = code.textContent ?? "";
    if (!fence || text.length > MAX_CODE) continue;
    code.dataset.highlighted = "pending";
    void languageFor(fence).then((language) => {
      // Rendered again meanwhile: this element is gone.
      if (!language || !code.isConnected || code.textContent !== text) return;
      const out = document.createDocumentFragment();
      highlightCode(
        text,
        language.parser.parse(text),
        classHighlighter,
        (piece, classes) => {
          if (!classes) out.append(piece);
          else {
            const span = document.createElement("span");
            span.className = classes;
            span.textContent = piece;
            out.append(span);
          }
        },
        () => out.append("\n"),
      );
      code.replaceChildren(out);
      code.dataset.highlighted = "true";
    });
  }
}
