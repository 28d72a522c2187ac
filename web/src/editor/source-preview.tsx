/**
 * The rendered form of a source file beside its editor, following every keystroke: Markdown
 * (GitHub flavour with math, sanitised as agents' messages are, so a file cannot run script
 * in the page nor load anything by itself; its relative links open files of the workspace and
 * its relative images are read through the workspace's download route; its scroll kept in
 * step with the editor's) and HTML (in an iframe sandboxed with no scripts and an opaque
 * origin: it can reach neither the page, its storage, nor the workspace's API).
 */

import { createEffect, onCleanup } from "solid-js";
import { extensionOf } from "../../../shared/paths.js";
import { Markdown, type MarkdownWorkspace } from "../agents/markdown.js";
import type { CodeEditorApi } from "./code-editor.js";

export type PreviewKind = "markdown" | "html";

const KINDS: Record<string, PreviewKind> = {
  md: "markdown",
  markdown: "markdown",
  html: "html",
  htm: "html",
};

/** Which preview file `path` has, by its extension. */
export function previewOf(path: string): PreviewKind | undefined {
  const ext = extensionOf(path);
  return Object.hasOwn(KINDS, ext) ? KINDS[ext] : undefined;
}

interface Anchor {
  line: number;
  y: number;
}

/** Where each marked block starts in the preview's scroll, in source order. */
function anchorsOf(pane: HTMLElement, lines: number): Anchor[] {
  const top = pane.getBoundingClientRect().top - pane.scrollTop;
  const out: Anchor[] = [{ line: 0, y: 0 }];
  for (const el of pane.querySelectorAll<HTMLElement>("[data-source-line]")) {
    const line = Number(el.dataset.sourceLine);
    const y = el.getBoundingClientRect().top - top;
    const last = out[out.length - 1]!;
    if (line > last.line && y >= last.y) out.push({ line, y });
  }
  out.push({ line: Math.max(lines, out[out.length - 1]!.line + 1), y: pane.scrollHeight });
  return out;
}

/** Maps between the two scales of `anchors`, linearly within each block. */
function interpolate(anchors: Anchor[], value: number, from: "line" | "y"): number {
  const to = from === "line" ? "y" : "line";
  for (let i = 0; i < anchors.length - 1; i++) {
    const a = anchors[i]!;
    const b = anchors[i + 1]!;
    if (value < b[from] || i === anchors.length - 2) {
      const span = b[from] - a[from];
      const t = span <= 0 ? 0 : Math.min(1, Math.max(0, (value - a[from]) / span));
      return a[to] + t * (b[to] - a[to]);
    }
  }
  return 0;
}

export function SourcePreview(props: {
  kind: PreviewKind;
  text: string;
  workspace?: MarkdownWorkspace;
  /** The editor beside it, once it is up: the two scroll in step. */
  editor?: CodeEditorApi;
}) {
  let frame: HTMLIFrameElement | undefined;
  let pane!: HTMLDivElement;
  // Set once the frame is in the page: a srcdoc given before it is attached is not drawn.
  createEffect(() => {
    const text = props.text;
    if (frame) frame.srcdoc = text;
  });

  /** The pane the user is scrolling: the other one follows. */
  let leader: "editor" | "preview" = "editor";
  const lineCount = () => props.text.split("\n").length;
  const followEditor = () => {
    const ed = props.editor;
    if (!ed || leader !== "editor" || props.kind !== "markdown") return;
    pane.scrollTop = interpolate(anchorsOf(pane, lineCount()), ed.topLine(), "line");
  };
  const followPreview = () => {
    const ed = props.editor;
    if (!ed || leader !== "preview" || props.kind !== "markdown") return;
    ed.scrollToLine(interpolate(anchorsOf(pane, lineCount()), pane.scrollTop, "y"));
  };
  createEffect(() => {
    const ed = props.editor;
    if (!ed) return;
    const stop = ed.onScroll(followEditor);
    onCleanup(stop);
  });

  return (
    <div
      class="source-preview"
      data-testid="source-preview"
      data-kind={props.kind}
      ref={pane}
      onScroll={followPreview}
      onPointerEnter={() => (leader = "preview")}
      onPointerLeave={() => (leader = "editor")}
      onWheel={() => (leader = "preview")}
    >
      {props.kind === "markdown" ? (
        <Markdown
          text={props.text}
          class="source-preview-markdown"
          math
          lines
          workspace={props.workspace}
          onRender={followEditor}
        />
      ) : (
        <iframe
          title="HTML preview"
          class="source-preview-html"
          data-testid="html-preview"
          // No allow-scripts, no allow-same-origin: the file is drawn, never run.
          sandbox=""
          referrerPolicy="no-referrer"
          ref={frame}
        />
      )}
    </div>
  );
}
