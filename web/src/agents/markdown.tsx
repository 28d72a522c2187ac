/**
 * Markdown as agents and people write it: marked (GitHub flavour) and DOMPurify, so what an
 * agent writes cannot run script in the page, nor load anything by itself: an image from
 * elsewhere becomes a link (a prompt-injected agent could otherwise send data out in an
 * image's URL the moment its message is shown). Code blocks are highlighted and get a copy
 * button. A file's preview adds math (KaTeX), links that open files of the workspace, images
 * of the workspace read through its download route, and each block's source line (for
 * keeping the preview in step with the editor).
 */
import DOMPurify from "dompurify";
import { Marked, type Token } from "marked";
import { createEffect, onCleanup } from "solid-js";
import { imageTypeOf } from "../viewers/image-viewer.js";
import { highlightCodeBlocks } from "./markdown-code.js";
import { workspacePathOf } from "./markdown-links.js";
import { mathExtension, renderMath } from "./markdown-math.js";

const marked = new Marked({ gfm: true, breaks: false, async: false });
/** What people type: every newline is a line break. */
const typed = new Marked({ gfm: true, breaks: true, async: false });
/** A document: math too. */
const withMath = new Marked({ gfm: true, breaks: false, async: false }, mathExtension);

/** Where a Markdown file is, for its relative links and images. */
export interface MarkdownWorkspace {
  /** The file's directory. */
  dir: string;
  home: string;
  open(path: string): void;
  readBytes(path: string, signal: AbortSignal): Promise<Blob>;
}

export interface RenderOptions {
  breaks?: boolean;
  math?: boolean;
  /** Marks each top-level block with `data-source-line` (0-based). */
  lines?: boolean;
  workspace?: { dir: string; home: string };
}

/** The workspace links and images resolve against this, during one sanitize call. */
let resolving: { dir: string; home: string } | undefined;

const purify = DOMPurify(window);

/** URLs an element may load without a click: only what the markdown itself carries. */
function inlineUrl(url: string): boolean {
  return /^data:image\/(png|jpe?g|gif|webp);/i.test(url.trim());
}

/** Elements that fetch a URL as soon as they are shown. */
const LOADING = new Set(["IMG", "VIDEO", "AUDIO", "SOURCE", "TRACK", "INPUT"]);

// The marks this module sets itself (below) are never taken from the markdown's own HTML: a
// link that says it goes elsewhere must not open a workspace file, nor an image load one.
purify.addHook("uponSanitizeAttribute", (_node, data) => {
  if (/^data-(workspace-|fragment$)/i.test(data.attrName)) data.keepAttr = false;
});

purify.addHook("afterSanitizeAttributes", (node) => {
  const el = node as Element;
  if (el.tagName === "A") {
    const href = el.getAttribute("href");
    if (resolving && href !== null) {
      if (href.startsWith("#")) {
        // Within the preview: the page's own fragment names its tab.
        el.setAttribute("data-fragment", href.slice(1));
        return;
      }
      const path = workspacePathOf(href, resolving);
      if (path !== undefined) {
        el.setAttribute("data-workspace-path", path);
        el.setAttribute("title", path);
        return;
      }
    }
    el.setAttribute("target", "_blank");
    el.setAttribute("rel", "noopener noreferrer");
    return;
  }
  if (!LOADING.has(el.tagName)) return;
  el.removeAttribute("srcset");
  el.removeAttribute("poster");
  const src = el.getAttribute("src");
  if (src === null || inlineUrl(src)) return;
  const local = resolving && el.tagName === "IMG" ? workspacePathOf(src, resolving) : undefined;
  if (local !== undefined) {
    // Read through the workspace's download route by the component, not loaded by URL.
    el.removeAttribute("src");
    el.setAttribute("data-workspace-src", local);
    return;
  }
  const link = el.ownerDocument.createElement("a");
  link.href = src;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.className = "markdown-remote-image";
  let host = src;
  try {
    host = new URL(src, location.href).host;
  } catch {
    // shown as written
  }
  const alt = el.getAttribute("alt")?.trim();
  link.textContent = `${alt ? `${alt} ` : ""}(image from ${host}: open)`;
  link.title = src;
  el.replaceWith(link);
});

/** HTML of each top-level block, its first tag marked with the block's first source line. */
function withSourceLines(parser: Marked, text: string): string {
  const tokens = parser.lexer(text);
  let line = 0;
  let html = "";
  for (const token of tokens) {
    const part = parser.parser([token] as Token[] as never) as string;
    html += part.replace(/^(\s*)<([a-zA-Z][a-zA-Z0-9]*)/, `$1<$2 data-source-line="${line}"`);
    line += (token.raw.match(/\n/g) ?? []).length;
  }
  return html;
}

/** Safe HTML for a piece of markdown. */
export function renderMarkdown(text: string, opts: RenderOptions = {}): string {
  const parser = opts.math ? withMath : opts.breaks ? typed : marked;
  const html = opts.lines ? withSourceLines(parser, text) : (parser.parse(text) as string);
  resolving = opts.workspace;
  try {
    return sanitizeHtml(html);
  } finally {
    resolving = undefined;
  }
}

/**
 * HTML from elsewhere (a notebook's output) made safe the same way: no script, no handlers,
 * no frames or forms, nothing loaded from elsewhere by itself.
 */
export function sanitizeHtml(html: string): string {
  return purify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_ATTR: ["style"],
    FORBID_TAGS: ["style", "link", "iframe", "object", "embed", "form"],
  });
}

function addCopyButtons(root: HTMLElement): void {
  for (const pre of root.querySelectorAll("pre")) {
    if (pre.querySelector(".copy-code")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.textContent = "Copy";
    button.title = "Copy the code";
    button.addEventListener("click", () => {
      const code = pre.querySelector("code")?.textContent ?? pre.textContent ?? "";
      void navigator.clipboard?.writeText(code).then(
        () => {
          button.textContent = "Copied";
          setTimeout(() => (button.textContent = "Copy"), 1200);
        },
        () => {
          button.textContent = "Copy failed";
        },
      );
    });
    pre.append(button);
  }
}

/** Characters from which a message's first render is plain text, then markdown. */
const LONG = 20_000;

/**
 * Rendered markdown; re-renders when the text grows (streaming), at most once a frame: a
 * message that grows by thousands of chunks is parsed a few times, not thousands.
 */
export function Markdown(props: {
  text: string;
  class?: string;
  breaks?: boolean;
  /** A document's preview: math, its source lines, and its workspace's files. */
  math?: boolean;
  lines?: boolean;
  workspace?: MarkdownWorkspace;
  /** After each render (the preview keeps its scroll in step). */
  onRender?: () => void;
}) {
  let el!: HTMLDivElement;
  const images = new Map<string, Promise<string | undefined>>();
  const abort = new AbortController();
  const imageUrl = (ws: MarkdownWorkspace, path: string) => {
    let url = images.get(path);
    if (!url) {
      const type = imageTypeOf(path);
      url = type
        ? ws.readBytes(path, abort.signal).then(
            (b) => URL.createObjectURL(new Blob([b], { type })),
            () => undefined,
          )
        : Promise.resolve(undefined);
      images.set(path, url);
    }
    return url;
  };
  const loadImages = (ws: MarkdownWorkspace) => {
    for (const img of el.querySelectorAll<HTMLImageElement>("img[data-workspace-src]")) {
      const path = img.dataset.workspaceSrc!;
      void imageUrl(ws, path).then((url) => {
        if (url && img.isConnected) {
          img.src = url;
          img.dataset.loaded = "true";
        } else if (!url) img.dataset.broken = "true";
      });
    }
  };
  const onClick = (e: MouseEvent) => {
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || !el.contains(a)) return;
    const path = a.getAttribute("data-workspace-path");
    const fragment = a.getAttribute("data-fragment");
    if (path !== null && props.workspace) {
      e.preventDefault();
      props.workspace.open(path);
    } else if (fragment !== null) {
      e.preventDefault();
      scrollToFragment(el, fragment);
    }
  };
  let frame: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rendered: string | undefined;
  /** When the next render may run: a render that took long waits a few times as long. */
  let notBefore = 0;
  const render = () => {
    frame = undefined;
    timer = undefined;
    const text = props.text;
    if (text === rendered) return;
    rendered = text;
    const start = performance.now();
    const ws = props.workspace;
    el.innerHTML = renderMarkdown(text, {
      breaks: props.breaks,
      math: props.math,
      lines: props.lines,
      workspace: ws && { dir: ws.dir, home: ws.home },
    });
    el.classList.remove("markdown-plain");
    if (props.math) renderMath(el);
    highlightCodeBlocks(el);
    if (ws) loadImages(ws);
    addCopyButtons(el);
    props.onRender?.();
    const took = performance.now() - start;
    notBefore = performance.now() + 4 * took;
  };
  const schedule = () => {
    if (frame !== undefined || timer !== undefined) return;
    const wait = notBefore - performance.now();
    if (wait > 16) timer = setTimeout(() => (frame = requestAnimationFrame(render)), wait);
    else frame = requestAnimationFrame(render);
  };
  createEffect(() => {
    const text = props.text;
    if (rendered !== undefined) schedule();
    else if (text.length < LONG) render();
    else {
      // A long stored message shows as plain text at once and as markdown a frame later:
      // opening a long turn does not wait for the parse.
      el.textContent = text;
      el.classList.add("markdown-plain");
      rendered = "";
      schedule();
    }
  });
  onCleanup(() => {
    if (frame !== undefined) cancelAnimationFrame(frame);
    clearTimeout(timer);
    abort.abort();
    for (const url of images.values()) void url.then((u) => u && URL.revokeObjectURL(u));
  });
  // biome-ignore lint/a11y/useKeyWithClickEvents: the links inside take keys themselves
  // biome-ignore lint/a11y/noStaticElementInteractions: a delegated handler of the links inside
  return <div ref={el} class={`markdown ${props.class ?? ""}`} onClick={onClick} />;
}

/** GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped. */
function slugOf(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function scrollToFragment(root: HTMLElement, fragment: string): void {
  let id = fragment;
  try {
    id = decodeURIComponent(fragment);
  } catch {
    // as written
  }
  for (const el of root.querySelectorAll<HTMLElement>("[id], h1, h2, h3, h4, h5, h6")) {
    if (el.id === id || slugOf(el.textContent ?? "") === id.toLowerCase()) {
      el.scrollIntoView({ block: "start" });
      return;
    }
  }
}
