/**
 * The Editor tab: the open files as tabs (each one closable, whatever its state), and the
 * active one in its collaborative editor or its viewer (images, PDF, tables; text too large to
 * edit, read-only).
 */
import { createEffect, createSignal, For, lazy, Match, Show, Switch } from "solid-js";
import { DOC_MAX_BYTES } from "../../../shared/docs.js";
import { isNotebookPath } from "../../../shared/notebook-doc.js";
import { displayPath, parentOf } from "../../../shared/paths.js";
import { EmptyState } from "../components/empty-state.js";
import { EditorIcon } from "../components/icons.js";
import { DocumentEditor } from "../editor/document-editor.js";
import { NotebookView } from "../notebook/notebook-view.js";
import { ImageViewer, imageTypeOf } from "../viewers/image-viewer.js";
import { LargeTextViewer } from "../viewers/large-text-viewer.js";
import { TableViewer } from "../viewers/table-viewer.js";
import { viewerOf } from "../viewers/viewer-kinds.js";
import type { OpenDocument } from "./documents-store.js";
import { type FilesSession, useFiles } from "./files-store.js";
import { CloseIcon, DownloadIcon, WarnIcon } from "./icons.js";
import "./files.css";

// pdf.js is large: it loads with the first PDF opened.
const PdfViewer = lazy(async () => ({
  default: (await import("../viewers/pdf-viewer.js")).PdfViewer,
}));

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
        {/* Every open document stays mounted (its session, undo history and scroll position
            survive switching between them); only the active one is shown. */}
        <For each={docs.docs}>
          {(d) => (
            <div
              class="doc-slot"
              style={{ display: docs.active() === d.path ? "flex" : "none" }}
              data-active={docs.active() === d.path ? "true" : undefined}
            >
              <DocumentBody doc={d} session={s} />
            </div>
          )}
        </For>
      </div>
    </Show>
  );
}

function DocumentBody(props: { doc: OpenDocument; session: FilesSession }) {
  const s = props.session;
  const shown = () => displayPath(props.doc.path, s.home);
  /** A table shown as its text (the toggle of the table viewer). */
  const [raw, setRaw] = createSignal(false);
  const tableButton = () =>
    viewerOf(props.doc.path) === "table" ? (
      <button
        type="button"
        class="icon-button"
        data-testid="table-view"
        title="Show the file as a table"
        onClick={() => setRaw(false)}
      >
        Table
      </button>
    ) : undefined;
  return (
    <div class="doc-body" data-testid="doc-body" data-path={props.doc.path}>
      <div class="doc-header">
        <span class="doc-path mono" data-testid="doc-path">
          {shown()}
        </span>
        <button type="button" class="icon-button" onClick={() => void s.download(props.doc.path)}>
          <DownloadIcon />
          Download
        </button>
        <button
          type="button"
          class="icon-button"
          onClick={() => void s.openPath(parentOf(props.doc.path))}
        >
          Show in Files
        </button>
      </div>
      <Switch
        fallback={
          <DocumentEditor
            path={props.doc.path}
            shown={shown()}
            goto={props.doc.goto}
            onDownload={() => void s.download(props.doc.path)}
            workspace={{
              dir: parentOf(props.doc.path),
              home: s.home,
              open: (path) => void s.openPath(path),
              readBytes: s.readBytes,
            }}
            tooLarge={() => (
              <LargeTextViewer
                path={props.doc.path}
                shown={shown()}
                limit={DOC_MAX_BYTES}
                readStream={s.readStream}
                readRange={s.readRange}
                watch={s.watchFile}
                onDownload={() => void s.download(props.doc.path)}
                toolbar={tableButton()}
              />
            )}
            toolbar={tableButton()}
          />
        }
      >
        <Match when={isNotebookPath(props.doc.path)}>
          <NotebookView path={props.doc.path} shown={shown()} />
        </Match>
        <Match when={imageTypeOf(props.doc.path) !== undefined}>
          <ImageViewer path={props.doc.path} shown={shown()} read={s.readBytes} />
        </Match>
        <Match when={viewerOf(props.doc.path) === "table" && !raw()}>
          <TableViewer
            path={props.doc.path}
            shown={shown()}
            readStream={s.readStream}
            watch={s.watchFile}
            raw={() => setRaw(true)}
          />
        </Match>
        <Match when={viewerOf(props.doc.path) === "pdf"}>
          <PdfViewer
            path={props.doc.path}
            shown={shown()}
            readStream={s.readStream}
            readRange={s.readRange}
            watch={s.watchFile}
          />
        </Match>
      </Switch>
    </div>
  );
}
