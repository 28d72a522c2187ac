/**
 * Markdown as agents and people write it: marked (GitHub flavour) and DOMPurify, so what an
 * agent writes cannot run script in the page, nor load anything by itself: an image from
 * elsewhere becomes a link (a prompt-injected agent could otherwise send data out in an
 * image's URL the moment its message is shown). Code blocks get a copy button.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";
import { createEffect, onCleanup } from "solid-js";

const marked = new Marked({ gfm: true, breaks: false, async: false });
/** What people type: every newline is a line break. */
const typed = new Marked({ gfm: true, breaks: true, async: false });

const purify = DOMPurify(window);

/** URLs an element may load without a click: only what the markdown itself carries. */
function inlineUrl(url: string): boolean {
  return /^data:image\/(png|jpe?g|gif|webp);/i.test(url.trim());
}

/** Elements that fetch a URL as soon as they are shown. */
const LOADING = new Set(["IMG", "VIDEO", "AUDIO", "SOURCE", "TRACK", "INPUT"]);

purify.addHook("afterSanitizeAttributes", (node) => {
  const el = node as Element;
  if (el.tagName === "A") {
    el.setAttribute("target", "_blank");
    el.setAttribute("rel", "noopener noreferrer");
    return;
  }
  if (!LOADING.has(el.tagName)) return;
  el.removeAttribute("srcset");
  el.removeAttribute("poster");
  const src = el.getAttribute("src");
  if (src === null || inlineUrl(src)) return;
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

/** Safe HTML for a piece of markdown. */
export function renderMarkdown(text: string, breaks = false): string {
  return sanitizeHtml((breaks ? typed : marked).parse(text) as string);
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
export function Markdown(props: { text: string; class?: string; breaks?: boolean }) {
  let el!: HTMLDivElement;
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
    el.innerHTML = renderMarkdown(text, props.breaks);
    el.classList.remove("markdown-plain");
    addCopyButtons(el);
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
  });
  return <div ref={el} class={`markdown ${props.class ?? ""}`} />;
}
