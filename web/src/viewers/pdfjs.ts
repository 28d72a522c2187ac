/**
 * pdf.js, loaded on first use (its own chunk): the library, then its viewer components, which
 * read the library from `globalThis.pdfjsLib` as they load, so the order matters. The worker
 * is a file of this origin (the page's content policy allows workers of 'self' only).
 */
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";
import "pdfjs-dist/web/pdf_viewer.css";

export type PdfLib = typeof import("pdfjs-dist");
export type PdfViewerLib = typeof import("pdfjs-dist/web/pdf_viewer.mjs");

let loading: Promise<{ lib: PdfLib; viewer: PdfViewerLib }> | undefined;

export function loadPdfjs(): Promise<{ lib: PdfLib; viewer: PdfViewerLib }> {
  loading ??= (async () => {
    const lib = await import("pdfjs-dist");
    lib.GlobalWorkerOptions.workerSrc = workerUrl;
    const viewer = await import("pdfjs-dist/web/pdf_viewer.mjs");
    return { lib, viewer };
  })();
  return loading;
}
