/**
 * The Editor tab, for now: the open files as tabs (each one closable, whatever its state),
 * and a read-only preview of the active one. The collaborative editor (issue 4) replaces the
 * preview; the tabs and the documents store stay.
 */
import { createEffect, For, Match, Show, Switch } from "solid-js";
import { displayPath, parentOf } from "../../../shared/paths.js";
import { EmptyState } from "../components/empty-state.js";
import { EditorIcon } from "../components/icons.js";
import type { OpenDocument } from "./documents-store.js";
import { type FilesSession, useFiles } from "./files-store.js";
import { formatSize, reasonOf } from "./format.js";
import { CloseIcon, DownloadIcon, WarnIcon } from "./icons.js";
import "./files.css";

export function EditorPane() {
  const files = useFiles();
  return (
    <Show
      when={files.session()}
      fallback={<EmptyState icon={<EditorIcon size={28} />} title="No document open" />}
    >
      {(s) => <Documents session={s()} />}
    </Show>
  );
}

function Documents(props: { session: FilesSession }) {
  const s = props.session;
  const docs = s.documents;
  const activeDoc = () => docs.docs.find((d) => d.path === docs.active());
  createEffect(() => {
    if (location.hash === "#editor") s.showDocument(docs.active());
  });
  return (
    <Show
      when={docs.docs.length > 0}
      fallback={
        <EmptyState
          icon={<EditorIcon size={28} />}
          title="No document open"
          detail="Open a file in the Files tab."
        />
      }
    >
      <div class="documents" data-testid="documents">
        <div class="doc-tabs" role="tablist" aria-label="Open files">
          <For each={docs.docs}>
            {(d) => (
              <div
                class="doc-tab"
                data-active={docs.active() === d.path ? "true" : undefined}
                data-testid="doc-tab"
                data-path={d.path}
                data-status={d.status}
                title={displayPath(d.path, s.home)}
              >
                <button
                  type="button"
                  role="tab"
                  aria-selected={docs.active() === d.path}
                  class="doc-tab-name"
                  onClick={() => docs.activate(d.path)}
                >
                  <Show when={d.status === "error"}>
                    <WarnIcon size={12} />
                  </Show>
                  {d.name}
                </button>
                <button
                  type="button"
                  class="doc-tab-close"
                  aria-label={`Close ${d.name}`}
                  title="Close"
                  data-testid="doc-tab-close"
                  onClick={() => docs.close(d.path)}
                >
                  <CloseIcon size={12} />
                </button>
              </div>
            )}
          </For>
        </div>
        <Show when={activeDoc()} keyed>
          {(d) => <Preview doc={d} session={s} />}
        </Show>
      </div>
    </Show>
  );
}

function Preview(props: { doc: OpenDocument; session: FilesSession }) {
  const s = props.session;
  const shown = () => displayPath(props.doc.path, s.home);
  return (
    <div class="doc-body" data-testid="doc-body" data-path={props.doc.path}>
      <div class="doc-header">
        <span class="doc-path mono" data-testid="doc-path">
          {shown()}
        </span>
        <a class="icon-button" href={s.downloadUrl(props.doc.path)} download="">
          <DownloadIcon />
          Download
        </a>
        <button
          type="button"
          class="icon-button"
          onClick={() => void s.openPath(parentOf(props.doc.path))}
        >
          Show in Files
        </button>
      </div>
      <Switch>
        <Match when={props.doc.status === "loading"}>
          <p class="loading">Opening {shown()}…</p>
        </Match>
        <Match when={props.doc.status === "error"}>
          <div
            class="files-error"
            role="alert"
            data-testid="doc-error"
            data-code={props.doc.error?.code}
          >
            <WarnIcon size={28} />
            <h2>Cannot open {shown()}</h2>
            <p>{reasonOf(props.doc.error?.message ?? "")}</p>
            <div class="files-error-actions">
              <button
                type="button"
                class="button"
                onClick={() => s.documents.reload(props.doc.path)}
              >
                Try again
              </button>
              <button
                type="button"
                class="button"
                onClick={() => s.documents.close(props.doc.path)}
              >
                Close
              </button>
            </div>
          </div>
        </Match>
        <Match when={props.doc.content?.binary}>
          <div class="doc-binary" data-testid="doc-binary">
            <p>
              {shown()} is not text ({formatSize(props.doc.content!.size)}). Download it to open it
              with another program.
            </p>
          </div>
        </Match>
        <Match when={props.doc.content}>
          {(c) => (
            <>
              <p class="doc-note muted">
                Read-only preview
                {c().truncated
                  ? ` of the first ${formatSize(c().content.length)} of ${formatSize(c().size)}`
                  : ""}
                .
              </p>
              <pre class="doc-text" data-testid="doc-text">
                {c().content}
              </pre>
            </>
          )}
        </Match>
      </Switch>
    </div>
  );
}
