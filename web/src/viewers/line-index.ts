/**
 * Where the lines of a large file start, without keeping the file: fed the bytes once, it
 * counts the lines and notes the byte offset of every BLOCK_LINES-th line start, so the bytes
 * of any block of lines can be read later by one Range request. Pure: no DOM, no fetch.
 */

/** Lines per block: a block is what one Range request reads. */
export const BLOCK_LINES = 256;
/** Characters of one line put in the page. */
export const MAX_LINE_CHARS = 4_000;

export class LineIndex {
  /** Byte offset where line k·BLOCK_LINES starts, for each block k known so far. */
  private readonly starts: number[] = [0];
  private newlines = 0;
  private last = 10;
  /** Bytes fed so far. */
  bytes = 0;
  done = false;

  /** Takes the next bytes of the file. */
  feed(chunk: Uint8Array): void {
    let at = chunk.indexOf(10);
    while (at !== -1) {
      this.newlines++;
      if (this.newlines % BLOCK_LINES === 0) this.starts.push(this.bytes + at + 1);
      at = chunk.indexOf(10, at + 1);
    }
    this.bytes += chunk.length;
    if (chunk.length > 0) this.last = chunk[chunk.length - 1]!;
  }

  /** The file has ended. */
  finish(): void {
    this.done = true;
  }

  /** Lines known: every newline ends one, and once done a last line without one counts. */
  get lines(): number {
    return this.newlines + (this.done && this.last !== 10 ? 1 : 0);
  }

  /** The bytes [start, end) of block `k`, or undefined while its end is not known yet. */
  blockRange(k: number): { start: number; end: number } | undefined {
    const start = this.starts[k];
    if (start === undefined) return undefined;
    const end = this.starts[k + 1] ?? (this.done ? this.bytes : undefined);
    if (end === undefined || (end === start && !this.done)) return undefined;
    return { start, end };
  }
}

/**
 * The lines of a block from its bytes; `cut` says the bytes stop before the block's end, so
 * the last line read is incomplete. A line not (completely) read is null; a long line is
 * shortened to MAX_LINE_CHARS with an ellipsis; a CR before a newline is dropped.
 */
export function blockLines(bytes: Uint8Array, cut: boolean): (string | null)[] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const parts = text.split("\n");
  // A whole block ends just after a newline (or at the file's end): no line after it.
  if (!cut && parts[parts.length - 1] === "") parts.pop();
  const out: (string | null)[] = [];
  for (let i = 0; i < BLOCK_LINES; i++) {
    const line = parts[i];
    if (line === undefined || (cut && i === parts.length - 1)) {
      out.push(null);
      continue;
    }
    const bare = line.endsWith("\r") ? line.slice(0, -1) : line;
    out.push(bare.length > MAX_LINE_CHARS ? `${bare.slice(0, MAX_LINE_CHARS)}…` : bare);
  }
  return out;
}

/** Bytes of a file's start looked at to tell text from binary. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * Whether the start of a file is not text: a NUL byte, or bytes that are not UTF-8 (a
 * character cut at the end of the sample is not held against it). The docs service uses the
 * same rule for the files it opens.
 */
export function looksBinary(start: Uint8Array): boolean {
  if (start.includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(start, { stream: true });
    return false;
  } catch {
    return true;
  }
}

/** Bytes read at a time by a search. */
export const SEARCH_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The first line at or after `first` (0-based; by default `from.line`) and before `before` that
 * contains `needle` (ignoring case), reading the file's bytes from `from.byte` (the start of
 * line `from.line`) chunk by chunk; undefined when there is none. `progress` hears the bytes
 * read so far.
 */
export async function findLine(
  read: (start: number, end: number) => Promise<Uint8Array>,
  opts: {
    from: { byte: number; line: number };
    size: number;
    needle: string;
    first?: number;
    before?: number;
    progress?: (byte: number) => void;
    signal?: AbortSignal;
    /** Bytes per read (SEARCH_CHUNK_BYTES). */
    chunk?: number;
  },
): Promise<number | undefined> {
  const needle = opts.needle.toLowerCase();
  if (needle === "" || needle.includes("\n")) return undefined;
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const before = opts.before ?? Number.POSITIVE_INFINITY;
  const first = opts.first ?? opts.from.line;
  let line = opts.from.line;
  let pos = opts.from.byte;
  let carry = "";
  while (pos < opts.size && line < before) {
    if (opts.signal?.aborted) return undefined;
    const chunk = await read(pos, Math.min(opts.size, pos + (opts.chunk ?? SEARCH_CHUNK_BYTES)));
    if (chunk.length === 0) break;
    pos += chunk.length;
    const parts = (carry + decoder.decode(chunk, { stream: true })).split("\n");
    carry = parts.pop() ?? "";
    for (const part of parts) {
      if (line >= before) return undefined;
      if (line >= first && part.toLowerCase().includes(needle)) return line;
      line++;
    }
    opts.progress?.(pos);
  }
  carry += decoder.decode();
  if (carry !== "" && line >= first && line < before && carry.toLowerCase().includes(needle)) {
    return line;
  }
  return undefined;
}
