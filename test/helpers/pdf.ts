/**
 * Small, valid PDF files written byte by byte (PDF 1.4: a catalog, pages of Helvetica text,
 * an xref table with exact offsets), for tests of the PDF viewer that need real documents
 * without a TeX installation.
 */

export interface PdfOptions {
  /** JavaScript run when the document opens, if a viewer runs scripts (it must not). */
  openActionJs?: string;
  /** A link over the first line of page 1 whose action is this JavaScript. */
  linkJs?: string;
  /** Bytes of an object nothing refers to, written before the pages (a large file). */
  padding?: number;
}

/** A string literal of PDF syntax, escaped. */
function literal(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/** A PDF whose page i shows the lines `pages[i]`, top to bottom, on US Letter. */
export function makePdf(pages: string[][], opts: PdfOptions = {}): Buffer {
  const objects: string[] = [];
  const add = (body: string) => {
    objects.push(body);
    return objects.length;
  };
  const catalog = add("");
  const pagesObj = add("");
  const font = add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  if (opts.padding) {
    add(`<< /Length ${opts.padding} >>\nstream\n${"%".repeat(opts.padding)}\nendstream`);
  }
  const kids: number[] = [];
  for (const [i, lines] of pages.entries()) {
    const ops = ["BT", "/F1 24 Tf", "72 700 Td", "28 TL"];
    for (const line of lines) ops.push(`${literal(line)} Tj`, "T*");
    ops.push("ET");
    const stream = ops.join("\n");
    const content = add(
      `<< /Length ${Buffer.byteLength(stream, "latin1")} >>\nstream\n${stream}\nendstream`,
    );
    let annots = "";
    if (i === 0 && opts.linkJs !== undefined) {
      const js = add(`<< /S /JavaScript /JS ${literal(opts.linkJs)} >>`);
      const link = add(
        `<< /Type /Annot /Subtype /Link /Rect [72 690 400 730] /Border [0 0 0] /A ${js} 0 R >>`,
      );
      annots = ` /Annots [${link} 0 R]`;
    }
    kids.push(
      add(
        `<< /Type /Page /Parent ${pagesObj} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${content} 0 R${annots} >>`,
      ),
    );
  }
  let open = "";
  if (opts.openActionJs !== undefined) {
    const js = add(`<< /S /JavaScript /JS ${literal(opts.openActionJs)} >>`);
    open = ` /OpenAction ${js} 0 R /Names << /JavaScript << /Names [(open) ${js} 0 R] >> >>`;
  }
  objects[catalog - 1] = `<< /Type /Catalog /Pages ${pagesObj} 0 R${open} >>`;
  objects[pagesObj - 1] =
    `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(" ")}] /Count ${kids.length} >>`;

  let out = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  const offsets: number[] = [];
  for (const [i, body] of objects.entries()) {
    offsets.push(Buffer.byteLength(out, "latin1"));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  }
  const xref = Buffer.byteLength(out, "latin1");
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root ${catalog} 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}
