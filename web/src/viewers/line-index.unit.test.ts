import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BLOCK_LINES,
  blockLines,
  findLine,
  LineIndex,
  looksBinary,
  MAX_LINE_CHARS,
} from "./line-index.js";

/** The lines a reader of `text` sees: split at newlines, a CR before one dropped. */
function linesOf(text: string): string[] {
  if (text === "") return [];
  const parts = text.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

function indexOf(bytes: Uint8Array, cuts: number[]): LineIndex {
  const index = new LineIndex();
  let at = 0;
  for (const c of [...cuts.filter((c) => c < bytes.length)].sort((a, b) => a - b)) {
    index.feed(bytes.subarray(at, c));
    at = c;
  }
  index.feed(bytes.subarray(at));
  index.finish();
  return index;
}

describe("large text - line index", () => {
  it("counts lines and finds every block's lines, however the bytes arrive", () => {
    const line = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, "")),
      fc.constant(""),
      fc.constant("héllo wörld ✓"),
      fc.constant("crlf\r"),
    );
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 900, size: "max" }),
        fc.boolean(),
        fc.array(fc.nat(20_000), { maxLength: 8 }),
        (ls, trailing, cuts) => {
          const text = ls.join("\n") + (trailing && ls.length > 0 ? "\n" : "");
          const bytes = new TextEncoder().encode(text);
          const index = indexOf(bytes, cuts);
          const expected = linesOf(text);
          expect(index.lines).toBe(expected.length);
          const seen: string[] = [];
          for (let k = 0; k * BLOCK_LINES < index.lines; k++) {
            const r = index.blockRange(k)!;
            const block = blockLines(bytes.subarray(r.start, r.end), false);
            const count = Math.min(BLOCK_LINES, index.lines - k * BLOCK_LINES);
            for (let i = 0; i < count; i++) seen.push(block[i] as string);
            expect(block.slice(count).every((l) => l === null)).toBe(true);
          }
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("knows a block's end only once the next block starts or the file has ended", () => {
    const index = new LineIndex();
    index.feed(new TextEncoder().encode(`${"a\n".repeat(BLOCK_LINES)}b`));
    expect(index.blockRange(0)).toEqual({ start: 0, end: 2 * BLOCK_LINES });
    expect(index.blockRange(1)).toBe(undefined);
    expect(index.lines).toBe(BLOCK_LINES);
    index.finish();
    expect(index.lines).toBe(BLOCK_LINES + 1);
    expect(index.blockRange(1)).toEqual({ start: 2 * BLOCK_LINES, end: 2 * BLOCK_LINES + 1 });
  });

  it("marks the cut line of a block read only in part, and shortens long lines", () => {
    const bytes = new TextEncoder().encode(`short\n${"x".repeat(MAX_LINE_CHARS + 10)}\nhalf`);
    const block = blockLines(bytes, true);
    expect(block[0]).toBe("short");
    expect(block[1]).toBe(`${"x".repeat(MAX_LINE_CHARS)}…`);
    expect(block[2]).toBe(null);
    expect(block).toHaveLength(BLOCK_LINES);
  });

  it("tells text from binary by a file's start", () => {
    const enc = (t: string) => new TextEncoder().encode(t);
    expect(looksBinary(enc("plain text\nwith ✓ and é\n"))).toBe(false);
    // A character cut by the end of the sample is still text.
    expect(looksBinary(enc("abc ✓").subarray(0, 5))).toBe(false);
    expect(looksBinary(new Uint8Array([0x61, 0x00, 0x62]))).toBe(true);
    expect(looksBinary(new Uint8Array([0x61, 0xff, 0xfe, 0x62]))).toBe(true);
    expect(looksBinary(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBe(true);
  });

  it("finds the first line holding a text after a line, across chunk boundaries", async () => {
    const lines = Array.from({ length: 3000 }, (_, i) =>
      i % 1000 === 999 ? `Needle ${i}` : `hay ${i} é`,
    );
    const text = `${lines.join("\n")}\n`;
    const bytes = new TextEncoder().encode(text);
    const reads: [number, number][] = [];
    const read = async (start: number, end: number) => {
      reads.push([start, end]);
      return bytes.subarray(start, end);
    };
    const size = bytes.length;
    // Reads of 1,001 bytes cut lines and characters (é is two bytes) anywhere.
    expect(
      await findLine(read, { from: { byte: 0, line: 0 }, size, needle: "needle", chunk: 1001 }),
    ).toBe(999);
    expect(reads.length).toBeGreaterThan(5);
    expect(
      await findLine(read, { from: { byte: 0, line: 0 }, size, needle: "hay 2500 é", chunk: 1001 }),
    ).toBe(2500);
    // From a block's start: the index gives where line 1024 starts.
    const index = new LineIndex();
    index.feed(bytes);
    index.finish();
    const block = index.blockRange(4)!;
    expect(
      await findLine(read, {
        from: { byte: block.start, line: 4 * BLOCK_LINES },
        size,
        needle: "NEEDLE",
      }),
    ).toBe(1999);
    expect(
      await findLine(read, { from: { byte: 0, line: 0 }, size, needle: "needle", before: 999 }),
    ).toBe(undefined);
    // Matches before `first` do not count, though their bytes are read.
    expect(
      await findLine(read, { from: { byte: 0, line: 0 }, size, needle: "needle", first: 1000 }),
    ).toBe(1999);
    expect(await findLine(read, { from: { byte: 0, line: 0 }, size, needle: "absent" })).toBe(
      undefined,
    );
    // A last line without a newline is searched too.
    const tail = new TextEncoder().encode("a\nb\nlast one");
    expect(
      await findLine(async (s, e) => tail.subarray(s, e), {
        from: { byte: 0, line: 0 },
        size: tail.length,
        needle: "one",
      }),
    ).toBe(2);
  });
});
