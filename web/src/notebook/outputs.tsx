/**
 * A code cell's outputs: streams and errors with their ANSI colours, rich outputs by their
 * richest type the page can show safely (HTML through DOMPurify; SVG, PNG and JPEG as an
 * <img> of a blob URL, as the image viewer shows them, so an SVG runs no script; markdown,
 * LaTeX, JSON, plain text). A long text shows its start and "Show all".
 */
import { createMemo, createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import type { NotebookOutput } from "../../../shared/notebook.js";
import { sanitizeHtml } from "../agents/markdown.js";
import { ansiRuns } from "./ansi.js";
import { renderLatex, renderNotebookMarkdown } from "./math-markdown.js";

/** Characters of a text output shown before "Show all". */
const TEXT_CAP = 20_000;
/** Lines of a text output shown before "Show all". */
const LINE_CAP = 400;
/** Outputs of one cell shown before "Show all". */
const OUTPUTS_CAP = 50;

const PREFERRED = [
  "text/html",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "text/markdown",
  "text/latex",
  "application/json",
  "text/plain",
] as const;

function capped(text: string): { shown: string; hidden: number } {
  let end = text.length;
  let lines = 0;
  for (let i = 0; i < text.length && i < TEXT_CAP; i++) {
    if (text.charCodeAt(i) === 10 && ++lines >= LINE_CAP) {
      end = i + 1;
      break;
    }
  }
  end = Math.min(end, TEXT_CAP);
  return { shown: text.slice(0, end), hidden: text.length - end };
}

function AnsiText(props: { text: string; class: string; testid: string; name?: string }) {
  const [all, setAll] = createSignal(false);
  const part = createMemo(() => (all() ? { shown: props.text, hidden: 0 } : capped(props.text)));
  return (
    <div class="nb-output-text">
      <pre class={props.class} data-testid={props.testid} data-name={props.name}>
        <For each={ansiRuns(part().shown)}>
          {(r) => (
            <span
              style={{
                ...(r.fg && { color: r.fg }),
                ...(r.bg && { "background-color": r.bg }),
                ...(r.bold && { "font-weight": "bold" }),
                ...(r.italic && { "font-style": "italic" }),
                ...(r.underline && { "text-decoration": "underline" }),
              }}
            >
              {r.text}
            </span>
          )}
        </For>
      </pre>
      <Show when={part().hidden > 0}>
        <button
          type="button"
          class="nb-show-all"
          data-testid="nb-show-all"
          onClick={() => setAll(true)}
        >
          Show all ({part().hidden.toLocaleString()} more characters)
        </button>
      </Show>
    </div>
  );
}

/** An image output as an <img> of a blob URL of its bytes (base64, or SVG text). */
function ImageOutput(props: { mime: string; data: string }) {
  const url = createMemo(() => {
    const bytes =
      props.mime === "image/svg+xml"
        ? new TextEncoder().encode(props.data)
        : Uint8Array.from(atob(props.data.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    return URL.createObjectURL(new Blob([bytes], { type: props.mime }));
  });
  let last: string | undefined;
  const current = () => {
    const u = url();
    if (last && last !== u) URL.revokeObjectURL(last);
    last = u;
    return u;
  };
  onCleanup(() => last && URL.revokeObjectURL(last));
  return (
    <img class="nb-image" data-testid="nb-image" data-mime={props.mime} src={current()} alt="" />
  );
}

function HtmlBlock(props: { html: string; class: string; testid: string }) {
  // Sanitised by DOMPurify, or KaTeX's own markup.
  return <div class={props.class} data-testid={props.testid} innerHTML={props.html} />;
}

function RichOutput(props: { data: Record<string, unknown> }) {
  const mime = createMemo(() => PREFERRED.find((m) => props.data[m] !== undefined));
  const text = (m: string) => {
    const v = props.data[m];
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  };
  return (
    <Switch fallback={<div class="nb-output-none muted">(an output this page cannot show)</div>}>
      <Match when={mime() === "text/html"}>
        <HtmlBlock class="nb-html" testid="nb-html" html={sanitizeHtml(text("text/html"))} />
      </Match>
      <Match when={mime()?.startsWith("image/")}>
        <ImageOutput mime={mime()!} data={text(mime()!)} />
      </Match>
      <Match when={mime() === "text/markdown"}>
        <HtmlBlock
          class="nb-markdown"
          testid="nb-output-markdown"
          html={renderNotebookMarkdown(text("text/markdown"))}
        />
      </Match>
      <Match when={mime() === "text/latex"}>
        <HtmlBlock class="nb-latex" testid="nb-latex" html={renderLatex(text("text/latex"))} />
      </Match>
      <Match when={mime() === "application/json"}>
        <AnsiText class="nb-json" testid="nb-json" text={text("application/json")} />
      </Match>
      <Match when={mime() === "text/plain"}>
        <AnsiText class="nb-plain" testid="nb-plain" text={text("text/plain")} />
      </Match>
    </Switch>
  );
}

export function Outputs(props: { outputs: readonly NotebookOutput[] }) {
  const [all, setAll] = createSignal(false);
  const shown = () => (all() ? props.outputs : props.outputs.slice(0, OUTPUTS_CAP));
  return (
    <div class="nb-outputs" data-testid="nb-outputs">
      <For each={shown()}>
        {(o) => (
          <div class="nb-output" data-type={o.output_type}>
            <Switch>
              <Match when={o.output_type === "stream" && o}>
                {(s) => (
                  <AnsiText class="nb-stream" testid="nb-stream" name={s().name} text={s().text} />
                )}
              </Match>
              <Match when={o.output_type === "error" && o}>
                {(e) => (
                  <AnsiText
                    class="nb-error"
                    testid="nb-error"
                    text={
                      e().traceback.length > 0
                        ? e().traceback.join("\n")
                        : `${e().ename}: ${e().evalue}`
                    }
                  />
                )}
              </Match>
              <Match
                when={(o.output_type === "display_data" || o.output_type === "execute_result") && o}
              >
                {(r) => <RichOutput data={r().data} />}
              </Match>
            </Switch>
          </div>
        )}
      </For>
      <Show when={shown().length < props.outputs.length}>
        <button
          type="button"
          class="nb-show-all"
          data-testid="nb-show-all-outputs"
          onClick={() => setAll(true)}
        >
          Show all {props.outputs.length.toLocaleString()} outputs
        </button>
      </Show>
    </div>
  );
}
