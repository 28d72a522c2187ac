/**
 * Reading a CSV or TSV file into rows with papaparse (quoted fields, newlines and delimiters
 * inside quotes, the delimiter guessed for .csv), chunk by chunk from a Blob so a large file
 * shows its progress and the page stays responsive. At most MAX_TABLE_ROWS rows are kept.
 */
import Papa from "papaparse";

/** The largest file read into a table (it is held in the page while it is parsed). */
export const MAX_TABLE_BYTES = 256 * 1024 * 1024;
/** Rows kept of one file; more are counted but not shown (the raw text is a click away). */
export const MAX_TABLE_ROWS = 2_000_000;
/** Columns kept of a row. */
export const MAX_TABLE_COLUMNS = 2_000;

export interface ParsedTable {
  rows: string[][];
  columns: number;
  /** Rows past MAX_TABLE_ROWS, not kept. */
  dropped: number;
  /** Rows papaparse could not read cleanly (an unclosed quote, …), with the first reason. */
  problems: number;
  firstProblem?: string;
  delimiter: string;
}

export function parseTable(
  blob: Blob,
  opts: { tsv: boolean; signal: AbortSignal; progress: (done: number) => void },
): Promise<ParsedTable> {
  return new Promise((resolve, reject) => {
    const rows: string[][] = [];
    let columns = 0;
    let dropped = 0;
    let problems = 0;
    let firstProblem: string | undefined;
    let delimiter = opts.tsv ? "\t" : ",";
    const abort = () => reject(new DOMException("aborted", "AbortError"));
    opts.signal.addEventListener("abort", abort, { once: true });
    Papa.parse<string[]>(blob as File, {
      delimiter: opts.tsv ? "\t" : "",
      skipEmptyLines: "greedy",
      worker: false,
      chunkSize: 1024 * 1024,
      chunk(results, parser) {
        if (opts.signal.aborted) {
          parser.abort();
          return;
        }
        delimiter = results.meta.delimiter;
        for (const row of results.data) {
          if (rows.length >= MAX_TABLE_ROWS) {
            dropped++;
            continue;
          }
          const kept = row.length > MAX_TABLE_COLUMNS ? row.slice(0, MAX_TABLE_COLUMNS) : row;
          if (kept.length > columns) columns = kept.length;
          rows.push(kept);
        }
        for (const e of results.errors) {
          // A guessed delimiter on a one-column file is not a problem of the file.
          if (e.code === "UndetectableDelimiter") continue;
          problems++;
          firstProblem ??= `row ${e.row ?? "?"}: ${e.message}`;
        }
        opts.progress(results.meta.cursor);
      },
      complete() {
        opts.signal.removeEventListener("abort", abort);
        resolve({ rows, columns, dropped, problems, firstProblem, delimiter });
      },
      error(err) {
        opts.signal.removeEventListener("abort", abort);
        reject(err);
      },
    });
  });
}
