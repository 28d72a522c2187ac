/**
 * One document in the Editor tab: the toolbar (saved state, deleted-on-disk, wrap, font size,
 * search, history) and the CodeMirror editor, or what the file is instead (binary, too large,
 * an error). Owns its document store and stops it in onCleanup.
 */
import { createEffect, createSignal, type JSX, Match, on, onCleanup, Show, Switch } from "solid-js";
import { FONT_SIZES } from "../../../shared/workspace.js";
import type { MarkdownWorkspace } from "../agents/markdown.js";
import { formatSize, reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import { useConnection, useConnectionState } from "../stores/connection-store.js";
import { useSettings } from "../stores/settings-store.js";
import { CodeEditor, type CodeEditorApi } from "./code-editor.js";
import { createDocumentStore, type SaveState } from "./document-store.js";
import { HistoryPanel } from "./history-panel.js";
import { previewOf, SourcePreview } from "./source-preview.js";
import "./editor.css";

const WRAP_KEY = "cocalc-editor-wrap";
const [wrap, setWrap] = createSignal(localStorage.getItem(WRAP_KEY) === "1");

function toggleWrap() {
  setWrap(!wrap());
  localStorage.setItem(WRAP_KEY, wrap() ? "1" : "0");
}

const SAVE_LABEL: Record<SaveState, string> = {
  saved: "Saved",
  saving: "Saving…",
  unsaved: "Unsaved",
  deleted: "Deleted on disk",
};

export function DocumentEditor(props: {
  path: string;
  shown: string;
  /** A line to show: each new `seq` moves there once the editor is up. */
  goto?: { line: number; seq: number } | undefined;
  onDownload: () => void;
  /** More toolbar buttons (a viewer's way back from the text, e.g. "Table"). */
  toolbar?: JSX.Element;
  /** What shows a text file too large to edit (read-only), instead of a download button. */
  tooLarge?: (size: number) => JSX.Element;
  /** Where the file is, for a preview's relative links and images. */
  workspace?: MarkdownWorkspace;
}) {
  const readOnly = useConnectionState().readOnly;
  const store = createDocumentStore(useConnection(), props.path);
  onCleanup(() => store.stop());
  const settings = useSettings();
  const fontSize = () => settings.appearance().editorFontSize;
  /** The font size is a workspace setting: every tab and device follows it. */
  const changeFont = (delta: number) => {
    const next = Math.min(FONT_SIZES.max, Math.max(FONT_SIZES.min, fontSize() + delta));
    if (next !== fontSize()) void settings.change({ appearance: { editorFontSize: next } });
  };
  const [showHistory, setShowHistory] = createSignal(false);
  const previewKind = previewOf(props.path);
  const [showPreview, setShowPreview] = createSignal(previewKind !== undefined);
  const [text, setText] = createSignal("");
  let api: CodeEditorApi | undefined;
  const [editorUp, setEditorUp] = createSignal<CodeEditorApi>();
  createEffect(
    on([() => props.goto?.seq, editorUp], () => {
      const g = props.goto;
      if (g) editorUp()?.gotoLine(g.line);
    }),
  );

  return (
    <Switch>
      <Match when={store.phase().phase === "opening"}>
        <p class="loading">Opening {props.shown}…</p>
      </Match>
      <Match
        when={(() => {
          const p = store.phase();
          return p.phase === "refused" ? p : undefined;
        })()}
      >
        {(p) => (
          <Show
            when={p().why === "too-large" && props.tooLarge}
            fallback={
              <div class="doc-binary" data-testid="doc-binary">
                <p>
                  {props.shown} is {p().why === "binary" ? "not text" : "too large to edit"} (
                  {formatSize(p().size)}). Download it to open it with another program.
                </p>
                <button type="button" class="button" onClick={() => props.onDownload()}>
                  Download
                </button>
              </div>
            }
          >
            {props.tooLarge?.(p().size)}
          </Show>
        )}
      </Match>
      <Match
        when={(() => {
          const p = store.phase();
          return p.phase === "error" ? p : undefined;
        })()}
      >
        {(p) => (
          <div class="files-error" role="alert" data-testid="doc-error" data-code={p().error.code}>
            <WarnIcon size={28} />
            <h2>Cannot open {props.shown}</h2>
            <p>{reasonOf(p().error.message)}</p>
            <div class="files-error-actions">
              <button type="button" class="button" onClick={() => store.retry()}>
                Try again
              </button>
            </div>
          </div>
        )}
      </Match>
      <Match
        when={(() => {
          const p = store.phase();
          return p.phase === "ready" ? p : undefined;
        })()}
      >
        {(p) => (
          <div class="doc-editor">
            <div class="doc-toolbar">
              <span
                class="save-state"
                data-testid="save-state"
                data-state={store.saveState()}
                title={store.problem() ?? ""}
              >
                {SAVE_LABEL[store.saveState()]}
              </span>
              <Show when={store.saveState() === "deleted"}>
                <button
                  type="button"
                  class="button"
                  data-testid="save-again"
                  onClick={() => void store.save()}
                >
                  Save again
                </button>
              </Show>
              <Show when={store.problem()}>
                <span class="doc-problem" role="status">
                  <WarnIcon size={12} /> {store.problem()}
                </span>
              </Show>
              <span class="doc-others" data-testid="doc-others">
                {store.others().map((o) => (
                  <span class="doc-other" style={{ background: o.color }} title={o.name}>
                    {o.name}
                  </span>
                ))}
              </span>
              <span class="spacer" />
              <button
                type="button"
                class="icon-button"
                title="Save (Ctrl-S)"
                onClick={() => void store.save()}
              >
                Save
              </button>
              <button
                type="button"
                class="icon-button"
                title="Search and replace (Ctrl-F)"
                onClick={() => api?.openSearch()}
              >
                Find
              </button>
              <button
                type="button"
                class="icon-button"
                aria-pressed={wrap()}
                data-testid="wrap-toggle"
                title="Soft wrap long lines"
                onClick={toggleWrap}
              >
                Wrap
              </button>
              <button
                type="button"
                class="icon-button"
                title="Smaller font"
                onClick={() => changeFont(-1)}
              >
                A−
              </button>
              <button
                type="button"
                class="icon-button"
                title="Larger font"
                onClick={() => changeFont(1)}
              >
                A+
              </button>
              {props.toolbar}
              <Show when={previewKind}>
                <button
                  type="button"
                  class="icon-button"
                  aria-pressed={showPreview()}
                  data-testid="preview-toggle"
                  title="Show the rendered file beside its source"
                  onClick={() => setShowPreview(!showPreview())}
                >
                  Preview
                </button>
              </Show>
              <button
                type="button"
                class="icon-button"
                aria-pressed={showHistory()}
                data-testid="history-toggle"
                onClick={() => setShowHistory(!showHistory())}
              >
                History
              </button>
            </div>
            <div class="doc-main">
              <Show when={store.loaded()} fallback={<p class="loading">Loading {props.shown}…</p>}>
                <CodeEditor
                  path={props.path}
                  session={p().session}
                  initial={p().session.sync.client.local}
                  fontSize={fontSize()}
                  dark={settings.dark()}
                  wrap={wrap()}
                  others={store.others()}
                  onSave={() => void store.save()}
                  onText={setText}
                  readOnly={readOnly()}
                  ref={(a) => {
                    api = a;
                    store.onRemote((text) => a.applyRemote(text));
                    // Text that arrived between loading and the editor's first paint.
                    a.applyRemote(p().session.sync.client.local);
                    setText(p().session.sync.client.local);
                    setEditorUp(a);
                  }}
                />
              </Show>
              <Show when={previewKind && showPreview() && store.loaded() ? previewKind : undefined}>
                {(kind) => (
                  <SourcePreview
                    kind={kind()}
                    text={text()}
                    workspace={props.workspace}
                    editor={editorUp()}
                  />
                )}
              </Show>
              <Show when={showHistory() && store.loaded()}>
                <HistoryPanel
                  doc={p().doc}
                  path={props.path}
                  current={() => p().session.sync.client.local}
                  revert={(text) => api?.replace(text)}
                  close={() => setShowHistory(false)}
                />
              </Show>
            </div>
          </div>
        )}
      </Match>
    </Switch>
  );
}
