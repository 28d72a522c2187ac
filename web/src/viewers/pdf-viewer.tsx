/**
 * A PDF file with pdf.js: pages drawn as they come into view, zoom, text search with every
 * match highlighted, page thumbnails, and a reload when the file changes on disk (a LaTeX
 * build) that keeps the page and the zoom. The file's scripts never run: no scripting manager
 * is given to the viewer (so no JavaScript action, form calculation or open action runs), XFA
 * is off, and pdf.js itself evaluates no code (the page's content policy forbids eval anyway).
 * Links inside the PDF open in a new tab without an opener.
 */
import type { PDFDocumentLoadingTask, PDFDocumentProxy } from "pdfjs-dist";
import type {
  EventBus,
  PDFFindController,
  PDFLinkService,
  PDFViewer,
} from "pdfjs-dist/web/pdf_viewer.mjs";
import { createSignal, onCleanup, onMount, Show } from "solid-js";
import { reasonOf } from "../files/format.js";
import { WarnIcon } from "../files/icons.js";
import { PdfThumbnails } from "./pdf-thumbnails.js";
import { loadPdfjs, type PdfLib, type PdfViewerLib } from "./pdfjs.js";
import "./viewers.css";

const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.1;
const ZOOM_MAX = 8;
/** PDFs up to this size are read whole; larger ones part by part, as pages need them. */
const WHOLE_PDF_BYTES = 32 * 1024 * 1024;
const RANGE_CHUNK_BYTES = 1024 * 1024;
/** A build writes its PDF in several steps: reload once the writes have settled. */
const RELOAD_SETTLE_MS = 300;

export interface PdfViewerProps {
  path: string;
  shown: string;
  readStream: (
    path: string,
    signal: AbortSignal,
  ) => Promise<{ size: number | null; body: ReadableStream<Uint8Array> }>;
  readRange: (path: string, start: number, end: number, signal: AbortSignal) => Promise<Uint8Array>;
  watch: (path: string, changed: () => void) => () => void;
}

interface Found {
  current: number;
  total: number;
  state: "found" | "not-found" | "wrapped" | "pending" | "idle";
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
  const [query, setQuery] = createSignal("");
  const [found, setFound] = createSignal<Found>({ current: 0, total: 0, state: "idle" });

  let container!: HTMLDivElement;
  let search!: HTMLInputElement;
  let viewerEl!: HTMLDivElement;
  let lib: PdfLib | undefined;
  let bus: EventBus | undefined;
  let viewer: PDFViewer | undefined;
  let finder: PDFFindController | undefined;
  let links: PDFLinkService | undefined;
  /** Where to be once the next document's pages are laid out (a reload). */
  let restore: { page: number; scale: string; top: number; left: number } | undefined;
  let loading: Promise<void> | undefined;
  let again = false;

  /** The loading task of the document shown: destroying it frees the document and its worker. */
  let shownTask: PDFDocumentLoadingTask | undefined;

  async function fetchDocument(): Promise<PDFDocumentLoadingTask> {
    const signal = abort.signal;
    const { size, body } = await props.readStream(props.path, signal);
    const options = {
      enableXfa: false,
      // Fonts a PDF names without embedding them, and the image decoders pdf.js loads on
      // demand, are files of this origin (copied there by the build: web/vite.config.ts).
      standardFontDataUrl: "/pdfjs/standard_fonts/",
      useSystemFonts: false,
      wasmUrl: "/pdfjs/wasm/",
      // The page's content policy runs no WebAssembly: the decoders' JavaScript forms serve.
      useWasm: false,
      stopAtErrors: false,
    };
    let task: PDFDocumentLoadingTask;
    if (size === null || size <= WHOLE_PDF_BYTES) {
      const data = new Uint8Array(await new Response(body).arrayBuffer());
      task = lib!.getDocument({ ...options, data });
    } else {
      // A large PDF is read as pdf.js asks for its parts (Range requests), never all at once.
      void body.cancel();
      const transport = new lib!.PDFDataRangeTransport(size, null);
      transport.requestDataRange = (begin: number, end: number) => {
        props.readRange(props.path, begin, end, signal).then(
          (chunk) => transport.onDataRange(begin, chunk),
          (err) => {
            if (signal.aborted) return;
            setReloadProblem(
              `part of the file could not be read: ${reasonOf(String(err?.message ?? err))}`,
            );
            void task.destroy();
          },
        );
      };
      task = lib!.getDocument({
        ...options,
        range: transport,
        rangeChunkSize: RANGE_CHUNK_BYTES,
        disableAutoFetch: true,
        disableStream: true,
      });
    }
    try {
      await task.promise;
    } catch (err) {
      void task.destroy();
      throw err;
    }
    return task;
  }

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
    bus = new viewerLib.EventBus();
    links = new viewerLib.PDFLinkService({
      eventBus: bus,
      externalLinkTarget: viewerLib.LinkTarget.BLANK,
      externalLinkRel: "noopener noreferrer nofollow",
    });
    finder = new viewerLib.PDFFindController({ eventBus: bus, linkService: links });
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
      if (query()) find("again", false);
    });
    bus.on("pagechanging", (e: { pageNumber: number }) => setPage(e.pageNumber));
    bus.on("scalechanging", (e: { scale: number; presetValue?: string }) => {
      setScale(e.scale);
      setPreset(e.presetValue ?? "");
    });
    bus.on("updatefindmatchescount", (e: { matchesCount: { current: number; total: number } }) =>
      setFound({ ...found(), current: e.matchesCount.current, total: e.matchesCount.total }),
    );
    bus.on(
      "updatefindcontrolstate",
      (e: { state: number; matchesCount: { current: number; total: number } }) => {
        const S = viewerLib.FindState;
        const state =
          e.state === S.FOUND
            ? "found"
            : e.state === S.NOT_FOUND
              ? "not-found"
              : e.state === S.WRAPPED
                ? "wrapped"
                : "pending";
        setFound({ current: e.matchesCount.current, total: e.matchesCount.total, state });
      },
    );
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

  function find(type: "" | "again", previous: boolean) {
    if (!bus) return;
    if (!query()) {
      bus.dispatch("findbarclose", { source: null });
      setFound({ current: 0, total: 0, state: "idle" });
      return;
    }
    bus.dispatch("find", {
      source: null,
      type,
      query: query(),
      caseSensitive: false,
      entireWord: false,
      highlightAll: true,
      findPrevious: previous,
      matchDiacritics: false,
    });
  }

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
  const foundText = () => {
    const f = found();
    if (f.state === "idle") return "";
    if (f.state === "pending" && f.total === 0) return "Searching…";
    if (f.total === 0) return "Not found";
    return `${f.current} of ${f.total}`;
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
        <input
          type="search"
          class="pdf-search"
          placeholder="Search"
          aria-label="Search in the PDF"
          data-testid="pdf-search"
          ref={search}
          value={query()}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            find("", false);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              find("again", e.shiftKey);
            }
          }}
        />
        <span class="viewer-info pdf-found" data-testid="pdf-found" data-state={found().state}>
          {foundText()}
        </span>
        <button
          type="button"
          class="icon-button"
          title="Previous match (Shift-Enter)"
          aria-label="Previous match"
          data-testid="pdf-find-prev"
          disabled={!query()}
          onClick={() => find("again", true)}
        >
          ↑
        </button>
        <button
          type="button"
          class="icon-button"
          title="Next match (Enter)"
          aria-label="Next match"
          data-testid="pdf-find-next"
          disabled={!query()}
          onClick={() => find("again", false)}
        >
          ↓
        </button>
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
