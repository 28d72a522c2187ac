/**
 * Opening a PDF file with pdf.js: a file up to WHOLE_PDF_BYTES is read whole (a reload during
 * a build needs one consistent copy); a larger one part by part as pdf.js asks for them, by
 * Range requests of the download route, so a large scan shows its first page after a few MB.
 */
import type { PDFDocumentLoadingTask } from "pdfjs-dist";
import { reasonOf } from "../files/format.js";
import type { PdfLib } from "./pdfjs.js";

/** PDFs up to this size are read whole; larger ones part by part, as pages need them. */
export const WHOLE_PDF_BYTES = 32 * 1024 * 1024;
const RANGE_CHUNK_BYTES = 1024 * 1024;

/** Where a PDF's bytes come from. */
export interface PdfSource {
  path: string;
  readStream: (
    path: string,
    signal: AbortSignal,
  ) => Promise<{ size: number | null; body: ReadableStream<Uint8Array> }>;
  readRange: (path: string, start: number, end: number, signal: AbortSignal) => Promise<Uint8Array>;
}

const OPTIONS = {
  enableXfa: false,
  // Fonts a PDF names without embedding them, and the image decoders pdf.js loads on demand,
  // are files of this origin (copied there by the build: web/vite.config.ts).
  standardFontDataUrl: "/pdfjs/standard_fonts/",
  useSystemFonts: false,
  wasmUrl: "/pdfjs/wasm/",
  // The page's content policy runs no WebAssembly: the decoders' JavaScript forms serve.
  useWasm: false,
  stopAtErrors: false,
} as const;

/**
 * The loading task of `source`'s document, once its document is there (destroying the task
 * frees the document and its worker). `partFailed` hears why a part of a large file could not
 * be read after it opened.
 */
export async function openPdf(
  lib: PdfLib,
  source: PdfSource,
  signal: AbortSignal,
  partFailed: (why: string) => void,
): Promise<PDFDocumentLoadingTask> {
  const { size, body } = await source.readStream(source.path, signal);
  let task: PDFDocumentLoadingTask;
  if (size === null || size <= WHOLE_PDF_BYTES) {
    const data = new Uint8Array(await new Response(body).arrayBuffer());
    task = lib.getDocument({ ...OPTIONS, data });
  } else {
    void body.cancel();
    const transport = new lib.PDFDataRangeTransport(size, null);
    transport.requestDataRange = (begin: number, end: number) => {
      source.readRange(source.path, begin, end, signal).then(
        (chunk) => transport.onDataRange(begin, chunk),
        (err) => {
          if (signal.aborted) return;
          partFailed(reasonOf(String(err?.message ?? err)));
          void task.destroy();
        },
      );
    };
    task = lib.getDocument({
      ...OPTIONS,
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
