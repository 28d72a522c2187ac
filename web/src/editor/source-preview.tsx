/**
 * The rendered form of a source file beside its editor, following every keystroke: Markdown
 * (GitHub flavour, sanitised as agents' messages are, so a file cannot run script in the page
 * nor load anything by itself) and HTML (in an iframe sandboxed with no scripts and an opaque
 * origin: it can reach neither the page, its storage, nor the workspace's API).
 */

import { createEffect } from "solid-js";
import { extensionOf } from "../../../shared/paths.js";
import { Markdown } from "../agents/markdown.js";

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

export function SourcePreview(props: { kind: PreviewKind; text: string }) {
  let frame: HTMLIFrameElement | undefined;
  // Set once the frame is in the page: a srcdoc given before it is attached is not drawn.
  createEffect(() => {
    const text = props.text;
    if (frame) frame.srcdoc = text;
  });
  return (
    <div class="source-preview" data-testid="source-preview" data-kind={props.kind}>
      {props.kind === "markdown" ? (
        <Markdown text={props.text} class="source-preview-markdown" />
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
