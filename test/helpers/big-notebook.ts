/**
 * Large notebooks for tests, as Jupyter writes them (keys sorted, indent 1, text as lists of
 * lines, a trailing newline): code cells each with a real PNG of noise (incompressible, so a
 * picture of `bytes` bytes is that large on disk) and some text. Deterministic.
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG (RGB) of about `bytes` bytes of seeded noise, with a solid band on top to see. */
export function noisePng(bytes: number, seed: number): Buffer {
  const width = 256;
  const height = Math.max(8, Math.ceil(bytes / (width * 3)));
  let x = seed * 2654435761 + 1;
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let i = 1; i < row.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      row[i] = y < 8 ? (i % 3 === 1 ? 200 : 40) : x >>> 24;
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 0 })),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** Splits text into lines with their ends, as Jupyter writes a cell's source. */
function lines(text: string): string[] {
  return text.split(/(?<=\n)/).filter((l) => l.length > 0);
}

export interface BigNotebookOptions {
  /** How many code cells, each with one PNG output. */
  cells: number;
  /** Bytes of each PNG (before base64). */
  imageBytes: number;
  /** One image (of the first cell) this large instead, to be larger than a message. */
  hugeImageBytes?: number;
}

/** The file's text of a large notebook: `c0`…: a markdown cell, then code cells with images. */
export function bigNotebook(o: BigNotebookOptions): string {
  const cells: unknown[] = [
    {
      cell_type: "markdown",
      id: "intro",
      metadata: {},
      source: lines("# A large notebook\n\nImages of noise, one per cell."),
    },
  ];
  for (let i = 0; i < o.cells; i++) {
    const png = noisePng(i === 0 && o.hugeImageBytes ? o.hugeImageBytes : o.imageBytes, i + 1);
    cells.push({
      cell_type: "code",
      execution_count: i + 1,
      id: `c${i}`,
      metadata: {},
      outputs: [
        {
          name: "stdout",
          output_type: "stream",
          text: [`image ${i}\n`],
        },
        {
          data: {
            "image/png": `${png.toString("base64")}\n`,
            "text/plain": ["<Figure size 640x480 with 1 Axes>"],
          },
          metadata: {},
          output_type: "display_data",
        },
      ],
      source: lines(`# cell ${i}\nshow(noise(${i}))`),
    });
  }
  cells.push({
    cell_type: "markdown",
    id: "last",
    metadata: {},
    source: lines("The last cell."),
  });
  const nb = {
    cells,
    metadata: {
      kernelspec: { display_name: "Python 3 (ipykernel)", language: "python", name: "python3" },
      language_info: { name: "python", version: "3.11.2" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return `${JSON.stringify(nb, null, 1)}\n`;
}
