/**
 * The page thumbnails beside a PDF: a virtualised column (a 2,000-page document has a few
 * dozen thumbnails in the page), each drawn when it is shown and its drawing cancelled when
 * it scrolls away.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import type { PDFDocumentProxy, RenderTask } from "pdfjs-dist";
import { createEffect, For, on, onCleanup } from "solid-js";

/** Width of a thumbnail in CSS pixels; rows are tall enough for a portrait page. */
const THUMB_WIDTH = 96;
const ROW_HEIGHT = 150;

export function PdfThumbnails(props: {
  doc: PDFDocumentProxy;
  current: number;
  onPick: (page: number) => void;
}) {
  let scroller!: HTMLDivElement;
  const virtualizer = createVirtualizer({
    get count() {
      return props.doc.numPages;
    },
    getScrollElement: () => scroller,
    estimateSize: () => ROW_HEIGHT,
    overscan: 4,
  });
  // The current page stays in sight in the column.
  createEffect(
    on(
      () => props.current,
      (n) => virtualizer.scrollToIndex(n - 1, { align: "auto" }),
    ),
  );
  return (
    <div class="pdf-thumbs" ref={scroller} data-testid="pdf-thumbs">
      <div class="pdf-thumbs-rows" style={{ height: `${virtualizer.getTotalSize()}px` }}>
        {/* Keyed by page number: a thumbnail still in view is not drawn again on scroll. */}
        <For each={virtualizer.getVirtualItems().map((item) => item.index)}>
          {(index) => (
            <button
              type="button"
              class="pdf-thumb"
              data-testid="pdf-thumb"
              data-page={index + 1}
              data-current={props.current === index + 1 ? "true" : undefined}
              aria-label={`Page ${index + 1}`}
              style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
              onClick={() => props.onPick(index + 1)}
            >
              <Thumbnail doc={props.doc} page={index + 1} />
              <span class="pdf-thumb-number">{index + 1}</span>
            </button>
          )}
        </For>
      </div>
    </div>
  );
}

function Thumbnail(props: { doc: PDFDocumentProxy; page: number }) {
  let canvas!: HTMLCanvasElement;
  let task: RenderTask | undefined;
  let drawing = 0;
  // Drawn again when the document is replaced (a reload).
  createEffect(
    on(
      () => props.doc,
      async (doc) => {
        const mine = ++drawing;
        task?.cancel();
        delete canvas.dataset.drawn;
        try {
          const page = await doc.getPage(props.page);
          if (mine !== drawing) return;
          const base = page.getViewport({ scale: 1 });
          const ratio = window.devicePixelRatio || 1;
          const viewport = page.getViewport({ scale: (THUMB_WIDTH / base.width) * ratio });
          canvas.width = Math.floor(viewport.width);
          canvas.height = Math.floor(viewport.height);
          canvas.style.width = `${Math.floor(viewport.width / ratio)}px`;
          canvas.style.height = `${Math.floor(viewport.height / ratio)}px`;
          task = page.render({ canvas, viewport });
          await task.promise;
          if (mine === drawing) canvas.dataset.drawn = "true";
        } catch {
          // Cancelled (scrolled away, document replaced) or a page that cannot be drawn: the
          // slot stays blank and the page number still says which page it is.
        }
      },
    ),
  );
  onCleanup(() => {
    drawing++;
    task?.cancel();
  });
  return <canvas class="pdf-thumb-canvas" ref={canvas} />;
}
