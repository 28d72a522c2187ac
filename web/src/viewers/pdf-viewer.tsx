/**
 * A PDF file with pdf.js: pages drawn as they come into view, zoom, text search with every
 * match highlighted, page thumbnails, and a reload when the file changes on disk (a LaTeX
 * build) that keeps the page and the zoom. The file's scripts never run: no scripting manager
 * is given to the viewer (so no JavaScript action, form calculation or open action runs), XFA
 * is off, and pdf.js itself evaluates no code (the page's content policy forbids eval anyway).
 * Links inside the PDF open in a new tab without an opener.
 */
import type { PDFDocumentLoadingTask, PDFDocumentProxy } from "pdfjs-dist";
import type { PDFLinkService, PDFViewer } from "pdfjs-dist/web/pdf_viewer.mjs";
import { createSignal, onCleanup, onMount, Show } from "solid-js";
import { reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import { createPdfFind, PdfFindBar } from "./pdf-find.js";
import { openPdf, type PdfSource } from "./pdf-source.js";
import { PdfThumbnails } from "./pdf-thumbnails.js";
import { loadPdfjs, type PdfLib, type PdfViewerLib } from "./pdfjs.js";
import "./viewers.css";

const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.1;
const ZOOM_MAX = 8;
/** A build writes its PDF in several steps: reload once the writes have settled. */
const RELOAD_SETTLE_MS = 300;

export interface PdfViewerProps extends PdfSource {
  shown: string;
  watch: (path: string, changed: () => void) => () => void;
}

export function PdfViewer(props: PdfViewerProps) {
  const abort = new AbortController();
  const [error, setError] = createSignal<string>();
  const [reloadProblem, setReloadProblem] = createSignal<string>();
  const [doc, setDoc] = createSignal<PDFDocumentProxy>();
  const [loads, setLoads] = createSignal(0);
  const [pages, setPages] = createSignal(0);
  const [page, setPage] = createSignal(1);
  const [scale, setScale] = createSignal(1);
  const [preset, setPreset] = createSignal<string>("page-width");
  const [thumbs, setThumbs] = createSignal(true);
  const finding = createPdfFind();

  let container!: HTMLDivElement;
  let search!: HTMLInputElement;
  let viewerEl!: HTMLDivElement;
  let lib: PdfLib | undefined;
  let viewer: PDFViewer | undefined;
  let links: PDFLinkService | undefined;
  /** Where to be once the next document's pages are laid out (a reload). */
  let restore: { page: number; scale: string; top: number; left: number } | undefined;
  let loading: Promise<void> | undefined;
  let again = false;

  /** The loading task of the document shown: destroying it frees the document and its worker. */
  let shownTask: PDFDocumentLoadingTask | undefined;

  const fetchDocument = () =>
    openPdf(lib!, props, abort.signal, (why) =>
      setReloadProblem(`part of the file could not be read: ${why}`),
    );

  async function show(task: PDFDocumentLoadingTask, next: PDFDocumentProxy) {
    const old = doc();
    if (old && viewer) {
      restore = {
        page: viewer.currentPageNumber,
        scale: viewer.currentScaleValue,
        top: container.scrollTop,
        left: container.scrollLeft,
      };
    }
    viewer!.setDocument(next);
    links?.setDocument(next, null);
    setDoc(next);
    setPages(next.numPages);
    setLoads(loads() + 1);
    const oldTask = shownTask;
    shownTask = task;
    if (oldTask) void oldTask.destroy();
  }

  /** Loads the file; a reload while one runs runs once more after it. */
  function load(): Promise<void> {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          try {
            if (!lib || !viewer) throw new Error("the PDF viewer did not load");
            const task = await fetchDocument();
            if (abort.signal.aborted) {
              void task.destroy();
              return;
            }
            await show(task, await task.promise);
            setError(undefined);
            setReloadProblem(undefined);
          } catch (err) {
            if (abort.signal.aborted) return;
            const message = reasonOf(String((err as Error)?.message ?? err));
            // A half-written file during a build: keep showing the last good one.
            if (doc()) setReloadProblem(message);
            else setError(message);
          }
        } while (again && !abort.signal.aborted);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  let settle: ReturnType<typeof setTimeout> | undefined;
  const stopWatch = props.watch(props.path, () => {
    clearTimeout(settle);
    settle = setTimeout(() => void load(), RELOAD_SETTLE_MS);
  });

  onMount(async () => {
    let viewerLib: PdfViewerLib;
    try {
      ({ lib, viewer: viewerLib } = await loadPdfjs());
    } catch (err) {
      setError(reasonOf(String((err as Error)?.message ?? err)));
      return;
    }
    if (abort.signal.aborted) return;
    const bus = new viewerLib.EventBus();
    links = new viewerLib.PDFLinkService({
      eventBus: bus,
      externalLinkTarget: viewerLib.LinkTarget.BLANK,
      externalLinkRel: "noopener noreferrer nofollow",
    });
    const finder = new viewerLib.PDFFindController({ eventBus: bus, linkService: links });
    viewer = new viewerLib.PDFViewer({
      container,
      viewer: viewerEl,
      eventBus: bus,
      linkService: links,
      findController: finder,
      // Links and annotations are drawn; forms are not filled in and nothing is scripted.
      annotationMode: lib!.AnnotationMode.ENABLE,
      removePageBorders: false,
    });
    links.setViewer(viewer);
    finding.attach(bus, viewerLib.FindState);
    bus.on("pagesinit", () => {
      if (!viewer) return;
      const r = restore;
      restore = undefined;
      viewer.currentScaleValue = r?.scale ?? preset();
      if (r) {
        viewer.currentPageNumber = Math.min(r.page, viewer.pagesCount);
        container.scrollTop = r.top;
        container.scrollLeft = r.left;
      }
      // The search goes on in the new text.
      finding.again();
    });
    bus.on("pagechanging", (e: { pageNumber: number }) => setPage(e.pageNumber));
    bus.on("scalechanging", (e: { scale: number; presetValue?: string }) => {
      setScale(e.scale);
      setPreset(e.presetValue ?? "");
    });
    await load();
  });

  const resize = new ResizeObserver(() => {
    // A fitted zoom follows the pane's size.
    if (viewer && preset()) viewer.currentScaleValue = preset();
  });
  onMount(() => resize.observe(container));

  onCleanup(() => {
    abort.abort();
    clearTimeout(settle);
    stopWatch();
    resize.disconnect();
    viewer?.cleanup();
    void shownTask?.destroy();
  });

  const zoomTo = (value: number | string) => {
    if (!viewer) return;
    if (typeof value === "number") {
      viewer.currentScale = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, value));
    } else {
      viewer.currentScaleValue = value;
    }
  };
  const goTo = (n: number) => {
    if (viewer && n >= 1 && n <= pages()) viewer.currentPageNumber = n;
  };
  const onWheel = (e: WheelEvent) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    zoomTo(scale() * (e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP));
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: Ctrl-F from anywhere in the viewer goes to its search field
    <div
      class="viewer"
      data-testid="pdf-viewer"
      data-loads={loads()}
      data-pages={pages()}
      onKeyDown={(e) => {
        if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "f") {
          e.preventDefault();
          search.focus();
          search.select();
        }
      }}
    >
      <div class="doc-toolbar">
        <button
          type="button"
          class="icon-button"
          aria-pressed={thumbs()}
          data-testid="pdf-thumbs-toggle"
          title="Page thumbnails"
          onClick={() => setThumbs(!thumbs())}
        >
          Pages
        </button>
        <button
          type="button"
          class="icon-button"
          title="Previous page"
          aria-label="Previous page"
          disabled={page() <= 1}
          onClick={() => goTo(page() - 1)}
        >
          ‹
        </button>
        <input
          class="pdf-page-input"
          data-testid="pdf-page"
          aria-label="Page"
          inputMode="numeric"
          value={page()}
          onChange={(e) => {
            const n = Number.parseInt(e.currentTarget.value, 10);
            if (Number.isFinite(n)) goTo(n);
            e.currentTarget.value = String(page());
          }}
        />
        <span class="viewer-info" data-testid="pdf-page-count">
          / {pages() || "…"}
        </span>
        <Show when={!doc() && !error()}>
          <span class="viewer-info" role="status">
            Loading…
          </span>
        </Show>
        <button
          type="button"
          class="icon-button"
          title="Next page"
          aria-label="Next page"
          disabled={page() >= pages()}
          onClick={() => goTo(page() + 1)}
        >
          ›
        </button>
        <span class="toolbar-gap" />
        <button
          type="button"
          class="icon-button"
          title="Zoom out (Ctrl-wheel)"
          data-testid="pdf-zoom-out"
          onClick={() => zoomTo(scale() / ZOOM_STEP)}
        >
          −
        </button>
        <span class="viewer-info pdf-zoom" data-testid="pdf-zoom">
          {Math.round(scale() * 100)}%
        </span>
        <button
          type="button"
          class="icon-button"
          title="Zoom in (Ctrl-wheel)"
          data-testid="pdf-zoom-in"
          onClick={() => zoomTo(scale() * ZOOM_STEP)}
        >
          +
        </button>
        <button
          type="button"
          class="icon-button"
          aria-pressed={preset() === "page-width"}
          data-testid="pdf-fit-width"
          onClick={() => zoomTo("page-width")}
        >
          Width
        </button>
        <button
          type="button"
          class="icon-button"
          aria-pressed={preset() === "page-fit"}
          data-testid="pdf-fit-page"
          onClick={() => zoomTo("page-fit")}
        >
          Page
        </button>
        <span class="spacer" />
        <Show when={reloadProblem()}>
          <span class="doc-problem" role="status" data-testid="pdf-reload-problem">
            <WarnIcon size={12} /> Not reloaded: {reloadProblem()}
          </span>
        </Show>
        <PdfFindBar finding={finding} ref={(el) => (search = el)} />
      </div>
      <div class="pdf-main">
        <Show when={thumbs() && doc()}>
          {(d) => <PdfThumbnails doc={d()} current={page()} onPick={goTo} />}
        </Show>
        <div class="pdf-pane">
          <Show when={error()}>
            <div class="files-error pdf-error" role="alert" data-testid="viewer-error">
              <WarnIcon size={28} />
              <h2>Cannot show {props.shown}</h2>
              <p>{error()}</p>
              <div class="files-error-actions">
                <button type="button" class="button" onClick={() => void load()}>
                  Try again
                </button>
              </div>
            </div>
          </Show>
          <div class="pdf-pages" data-testid="pdf-pages" ref={container} onWheel={onWheel}>
            <div class="pdfViewer" ref={viewerEl} />
          </div>
        </div>
      </div>
    </div>
  );
}
