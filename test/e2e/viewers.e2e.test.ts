import { createWriteStream } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { makePdf } from "../helpers/pdf.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("viewers in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    // A real PNG, drawn by the browser itself: a 600×400 gradient with a grid.
    const png = await page.evaluate(() => {
      const c = document.createElement("canvas");
      c.width = 600;
      c.height = 400;
      const g = c.getContext("2d") as CanvasRenderingContext2D;
      const grad = g.createLinearGradient(0, 0, 600, 400);
      grad.addColorStop(0, "#1e88e5");
      grad.addColorStop(1, "#e53935");
      g.fillStyle = grad;
      g.fillRect(0, 0, 600, 400);
      g.strokeStyle = "#fff";
      for (let x = 0; x < 600; x += 50) g.strokeRect(x, 0, 50, 400);
      return c.toDataURL("image/png").split(",")[1] ?? "";
    });
    await writeFile(join(plus.home, "picture.png"), Buffer.from(png, "base64"));
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  async function open(name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(`/files/${name}#editor`, plus.url).toString());
    await page.getByTestId("image-viewer").waitFor({ timeout: 30_000 });
    return page;
  }
  const naturalWidth = (page: Page) =>
    page.getByTestId("image").evaluate((img) => (img as HTMLImageElement).naturalWidth);
  const shownWidth = (page: Page) =>
    page.getByTestId("image").evaluate((img) => (img as HTMLImageElement).clientWidth);

  it("a PNG is shown fitted, then at 100% and zoomed in", async () => {
    const page = await open("picture.png");
    await expect.poll(() => naturalWidth(page), { timeout: 30_000 }).toBe(600);
    await expect.poll(() => page.getByTestId("image-info").textContent()).toContain("600 × 400");
    await page.getByTestId("image-actual").click();
    await expect.poll(() => shownWidth(page)).toBe(600);
    await page.getByTestId("image-zoom-in").click();
    await expect.poll(() => shownWidth(page)).toBe(750);
    await expect.poll(() => page.getByTestId("image-info").textContent()).toContain("125%");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-image.png") });
    await page.getByTestId("image-fit").click();
    await expect.poll(() => page.getByTestId("image-info").textContent()).toContain("fit");
    await page.close();
  });

  it("an SVG with script is drawn as an image and its script never runs", async () => {
    await writeFile(
      join(plus.home, "hostile.svg"),
      `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" onload="top.document.title='pwned'">
  <script>top.document.title = 'pwned'; top.pwned = true;</script>
  <rect width="200" height="100" fill="#43a047"/>
  <image href="http://127.0.0.1:1/beacon.png" width="10" height="10"/>
</svg>`,
    );
    const page = await open("hostile.svg");
    await expect.poll(() => naturalWidth(page), { timeout: 30_000 }).toBe(200);
    // The image has loaded (the positive sign): had its script run, it would have run by now.
    expect(await page.evaluate(() => document.title)).not.toBe("pwned");
    expect(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).toBe(
      undefined,
    );
    expect(await page.locator("svg script").count()).toBe(0);
    await page.close();
  });

  async function openSource(name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(`/files/${name}#editor`, plus.url).toString());
    await page.locator("[data-testid=code-editor] .cm-content").waitFor({ timeout: 30_000 });
    await page.getByTestId("source-preview").waitFor({ timeout: 30_000 });
    return page;
  }

  it("Markdown shows a sanitised GFM preview beside the editor that follows typing", async () => {
    await writeFile(
      join(plus.home, "notes.md"),
      '# Notes\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n- [x] done\n\n<img src=x onerror="top.pwned=1">\n<script>top.pwned = 1</script>\n',
    );
    const page = await openSource("notes.md");
    const preview = page.getByTestId("source-preview");
    await expect.poll(() => preview.locator("h1").textContent(), { timeout: 30_000 }).toBe("Notes");
    expect(await preview.locator("table td").count()).toBe(2);
    expect(await preview.locator("input[type=checkbox]").count()).toBe(1);
    expect(await preview.locator("script").count()).toBe(0);
    const content = page.locator("[data-testid=code-editor] .cm-content");
    await content.click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("\n## Typed here\n", { delay: 10 });
    await expect
      .poll(() => preview.locator("h2").textContent(), { timeout: 30_000 })
      .toBe("Typed here");
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBe(
      undefined,
    );
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-markdown.png") });
    await page.getByTestId("preview-toggle").click();
    await expect.poll(() => page.getByTestId("source-preview").count()).toBe(0);
    await page.close();
  });

  it("HTML shows a preview in a sandbox where its script does not run", async () => {
    await writeFile(
      join(plus.home, "page.html"),
      "<h1 id=t>Hello</h1><p>from <b>HTML</b></p><script>document.getElementById('t').textContent = 'ran'; top.pwned = 1;</script>\n",
    );
    const page = await openSource("page.html");
    const frame = page.getByTestId("html-preview");
    expect(await frame.getAttribute("sandbox")).toBe("");
    const inner = page.frameLocator("[data-testid=html-preview]");
    await expect.poll(() => inner.locator("h1").textContent(), { timeout: 30_000 }).toBe("Hello");
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBe(
      undefined,
    );
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-html.png") });
    await page.close();
  });

  /** The width of the first page as drawn. */
  const pageWidth = (page: Page) =>
    page
      .locator(".pdfViewer .page")
      .first()
      .evaluate((el) => (el as HTMLElement).clientWidth);

  it("a PDF shows its pages and thumbnails, finds text on page 2, zooms, and reloads when rewritten", async () => {
    const three = [
      ["Page one of the report", "Introduction"],
      ["Page two has the zebra result", "and a second line"],
      ["Page three", "Conclusion"],
    ];
    await writeFile(join(plus.home, "report.pdf"), makePdf(three));
    const page = await context.newPage();
    const fonts: string[] = [];
    page.on("response", (r) => {
      if (r.url().includes("/pdfjs/standard_fonts/"))
        fonts.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    await page.goto(new URL("/files/report.pdf#editor", plus.url).toString());
    const viewer = page.getByTestId("pdf-viewer");
    await expect.poll(() => viewer.getAttribute("data-pages"), { timeout: 30_000 }).toBe("3");
    await page.locator(".pdfViewer .page[data-page-number='1'] .textLayer span").first().waitFor();
    // Helvetica is not embedded: pdf.js draws it with the standard font served by this origin.
    await expect
      .poll(() => fonts)
      .toContain("200 /pdfjs/standard_fonts/LiberationSans-Regular.ttf");
    expect(await page.getByTestId("pdf-page-count").textContent()).toContain("3");
    // Thumbnails: one per page, drawn.
    await expect.poll(() => page.getByTestId("pdf-thumb").count()).toBe(3);
    await page.locator(".pdf-thumb-canvas[data-drawn]").first().waitFor();

    // Ctrl-F in the viewer goes to its search field.
    await page.locator(".pdfViewer .page[data-page-number='1']").click();
    await page.keyboard.press("Control+f");
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute("data-testid")))
      .toBe("pdf-search");
    await page.keyboard.type("zebra");
    await expect
      .poll(() => page.getByTestId("pdf-found").textContent(), { timeout: 30_000 })
      .toBe("1 of 1");
    await page
      .locator(".pdfViewer .page[data-page-number='2'] .textLayer .highlight.selected")
      .waitFor();
    await expect.poll(() => page.getByTestId("pdf-page").inputValue()).toBe("2");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-pdf.png") });

    const before = await pageWidth(page);
    await page.getByTestId("pdf-zoom-in").click();
    await expect.poll(() => pageWidth(page)).toBeGreaterThan(before * 1.2);
    const zoomed = await page.getByTestId("pdf-zoom").textContent();

    // Rewritten on disk (a build): a fourth page appears, the zoom and the page are kept.
    const loads = Number(await viewer.getAttribute("data-loads"));
    await writeFile(
      join(plus.home, "report.pdf"),
      makePdf([...three, ["Page four, added by the build"]]),
    );
    await expect.poll(() => viewer.getAttribute("data-pages"), { timeout: 30_000 }).toBe("4");
    expect(Number(await viewer.getAttribute("data-loads"))).toBeGreaterThan(loads);
    await expect.poll(() => page.getByTestId("pdf-zoom").textContent()).toBe(zoomed);
    await expect.poll(() => page.getByTestId("pdf-page").inputValue()).toBe("2");
    await page.locator(".pdfViewer .page[data-page-number='4']").waitFor();
    // Its thumbnail too, and the search goes on in the new document.
    await page.locator(".pdf-thumb[data-page='4'] canvas[data-drawn]").waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId("pdf-found").textContent()).toBe("1 of 1");
    await page.close();
  });

  it("a large PDF is read part by part, as its pages need them, never whole", async () => {
    const size = 40 * 1024 * 1024;
    await writeFile(
      join(plus.home, "scan.pdf"),
      makePdf([["After forty megabytes of padding"], ["The last page"]], { padding: size }),
    );
    const page = await context.newPage();
    const reads: { range: string | undefined; status: number }[] = [];
    page.on("response", (r) => {
      if (!r.url().includes("/api/files/download")) return;
      reads.push({ range: r.request().headers().range, status: r.status() });
    });
    await page.goto(new URL("/files/scan.pdf#editor", plus.url).toString());
    const text = page.locator(".pdfViewer .page[data-page-number='1'] .textLayer");
    await expect
      .poll(() => text.textContent(), { timeout: 60_000 })
      .toContain("After forty megabytes of padding");
    expect(await page.getByTestId("pdf-viewer").getAttribute("data-pages")).toBe("2");
    // Every read after the first (which learns the size and stops) asks for a range, and
    // together they are a small part of the file.
    const ranged = reads.filter((r) => r.range !== undefined);
    expect(ranged.length).toBeGreaterThan(0);
    expect(ranged.every((r) => r.status === 206)).toBe(true);
    const bytes = ranged.reduce((n, r) => {
      const m = /bytes=(\d+)-(\d+)/.exec(r.range ?? "");
      return n + (m ? Number(m[2]) - Number(m[1]) + 1 : 0);
    }, 0);
    expect(bytes).toBeLessThan(size / 4);
    await page.close();
  });

  it("a PDF with JavaScript actions is shown and its scripts never run", async () => {
    const script = "app.alert('pwned'); this.pwned = 1;";
    await writeFile(
      join(plus.home, "scripted.pdf"),
      makePdf([["A document with an open action"], ["Second page"]], {
        openActionJs: script,
        linkJs: script,
      }),
    );
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(new URL("/files/scripted.pdf#editor", plus.url).toString());
    await page
      .locator(".pdfViewer .page[data-page-number='1'] .textLayer span")
      .first()
      .waitFor({ timeout: 30_000 });
    // The link's annotation layer is drawn: the page is fully shown, and clicking the
    // scripted link does nothing either.
    await page.locator(".pdfViewer .page[data-page-number='1'] .annotationLayer").waitFor();
    await page.locator(".pdfViewer .page[data-page-number='1'] .linkAnnotation").first().click();
    await page.getByTestId("pdf-zoom-in").click();
    await expect.poll(() => page.getByTestId("pdf-zoom").textContent()).not.toBe("");
    expect(dialogs).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBe(
      undefined,
    );
    // The scripting sandbox of pdf.js is never even loaded.
    expect(requests.filter((u) => /sandbox/i.test(u))).toEqual([]);
    await page.close();
  });

  it("a file that is not a PDF says so in place, and shows once it becomes one", async () => {
    await writeFile(join(plus.home, "broken.pdf"), "%PDF-1.4\nthis is not a PDF at all\n");
    const page = await context.newPage();
    await page.goto(new URL("/files/broken.pdf#editor", plus.url).toString());
    const error = page.getByTestId("viewer-error");
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toContain("Cannot show ~/broken.pdf");
    await writeFile(join(plus.home, "broken.pdf"), makePdf([["Fixed now"]]));
    await expect
      .poll(() => page.getByTestId("pdf-viewer").getAttribute("data-pages"), { timeout: 30_000 })
      .toBe("1");
    await expect.poll(() => error.count()).toBe(0);
    await page.close();
  });

  it("a CSV of 100,000 rows opens as a table with only the visible rows in the page, and its raw text a click away", async () => {
    const rows = ["id,name,note"];
    for (let i = 1; i <= 100_000; i++) {
      rows.push(
        i === 5 ? '5,"two\nlines","quoted, with a comma"' : `${i},Name ${i},"note ""${i}"""`,
      );
    }
    await writeFile(join(plus.home, "big.csv"), `${rows.join("\n")}\n`);
    const page = await context.newPage();
    await page.goto(new URL("/files/big.csv#editor", plus.url).toString());
    const viewer = page.getByTestId("table-viewer");
    await expect.poll(() => viewer.getAttribute("data-rows"), { timeout: 60_000 }).toBe("100000");
    expect(await page.locator(".table-head-cell").allTextContents()).toEqual([
      "id",
      "name",
      "note",
    ]);
    const shown = await page.getByTestId("table-row").count();
    expect(shown).toBeGreaterThan(5);
    expect(shown).toBeLessThan(100);
    // Quotes: a newline and a comma inside a field, doubled quotes.
    const fifth = page.locator("[data-testid=table-row][data-row='4'] .table-cell");
    expect(await fifth.allTextContents()).toEqual(["5", "two ↵ lines", "quoted, with a comma"]);
    expect(
      await page.locator("[data-testid=table-row][data-row='0'] .table-cell").nth(2).textContent(),
    ).toBe('note "1"');
    if (SHOTS) {
      await page.screenshot({ path: join(SHOTS, "viewer-csv.png") });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: join(SHOTS, "viewer-csv-dark.png") });
      await page.emulateMedia({ colorScheme: "light" });
    }
    await page.getByTestId("table-pane").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    const last = page.locator("[data-testid=table-row][data-row='99999'] .table-cell").first();
    await expect.poll(() => last.textContent(), { timeout: 30_000 }).toBe("100000");
    expect(await page.getByTestId("table-row").count()).toBeLessThan(100);

    // The raw text: the file is larger than the editor takes, so it is shown read-only.
    await page.getByTestId("table-raw").click();
    await page.getByTestId("large-text-viewer").waitFor({ timeout: 30_000 });
    await page.locator(".large-text-line[data-line='1'] .large-text-content").waitFor();
    await expect
      .poll(() => page.locator(".large-text-line[data-line='1'] .large-text-content").textContent())
      .toBe("id,name,note");
    await page.getByTestId("table-view").click();
    await page.getByTestId("table-viewer").waitFor();
    await page.close();
  });

  it("a TSV with a hostile name and markup in its cells opens as a table, its raw text in the editor", async () => {
    const name = 'we"ird <i>x 100% #1 ?.tsv';
    await writeFile(join(plus.home, name), "a\tb\n1\t<img src=x onerror=top.pwned=1>\n");
    const page = await context.newPage();
    await page.goto(new URL(`/files/${encodeURIComponent(name)}#editor`, plus.url).toString());
    const viewer = page.getByTestId("table-viewer");
    await expect.poll(() => viewer.getAttribute("data-rows"), { timeout: 30_000 }).toBe("1");
    expect(await page.getByTestId("doc-path").textContent()).toBe(`~/${name}`);
    const cells = page.locator("[data-testid=table-row][data-row='0'] .table-cell");
    expect(await cells.allTextContents()).toEqual(["1", "<img src=x onerror=top.pwned=1>"]);
    expect(await page.locator(".table-pane img").count()).toBe(0);
    await page.getByTestId("table-raw").click();
    await page.locator("[data-testid=code-editor] .cm-content").waitFor({ timeout: 30_000 });
    await page.getByTestId("table-view").click();
    await viewer.waitFor();
    // Rewritten on disk: the table follows.
    await writeFile(join(plus.home, name), "a\tb\n1\t2\n3\t4\n");
    await expect.poll(() => viewer.getAttribute("data-rows"), { timeout: 30_000 }).toBe("2");
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBe(
      undefined,
    );
    await page.close();
  });

  it("a 50 MB text file opens read-only with virtual scrolling, and scrolling to the end shows its last line", async () => {
    const path = join(plus.home, "huge.log");
    const out = createWriteStream(path);
    const LINES = 1_000_000;
    for (let chunk = 0; chunk < LINES / 10_000; chunk++) {
      let text = "";
      for (let i = chunk * 10_000 + 1; i <= (chunk + 1) * 10_000; i++) {
        text +=
          i === LINES
            ? `the very last line ${i}\n`
            : `${String(i).padStart(8, "0")} an ordinary line of the log, padded to 52 bytes\n`;
      }
      if (!out.write(text)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    out.end();
    await finished(out);
    const page = await context.newPage();
    await page.goto(new URL("/files/huge.log#editor", plus.url).toString());
    const viewer = page.getByTestId("large-text-viewer");
    await viewer.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("large-text-banner").textContent()).toContain("Read-only");
    await expect.poll(() => viewer.getAttribute("data-done"), { timeout: 60_000 }).toBe("true");
    expect(await viewer.getAttribute("data-lines")).toBe(String(LINES));
    await expect
      .poll(() => page.locator(".large-text-line[data-line='1'] .large-text-content").textContent())
      .toBe("00000001 an ordinary line of the log, padded to 52 bytes");
    expect(await page.locator(".large-text-line").count()).toBeLessThan(200);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-large-text.png") });
    await page.getByTestId("large-text-pane").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await expect
      .poll(
        () =>
          page.locator(`.large-text-line[data-line='${LINES}'] .large-text-content`).textContent(),
        { timeout: 30_000 },
      )
      .toBe(`the very last line ${LINES}`);
    await expect
      .poll(() =>
        page.locator(`.large-text-line[data-line='${LINES}']`).evaluate((el) => {
          const pane = el.closest("[data-testid=large-text-pane]") as HTMLElement;
          const a = el.getBoundingClientRect();
          const b = pane.getBoundingClientRect();
          return a.top >= b.top && a.bottom <= b.bottom;
        }),
      )
      .toBe(true);
    const goto = page.getByTestId("large-text-goto");
    await goto.fill("500000");
    await goto.press("Enter");
    await expect
      .poll(
        () =>
          page.locator(".large-text-line[data-line='500000'] .large-text-content").textContent(),
        { timeout: 30_000 },
      )
      .toBe("00500000 an ordinary line of the log, padded to 52 bytes");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-large-text-end.png") });
    // Find reads on from the line shown, by ranges, and jumps to the match.
    const find = page.getByTestId("large-text-search");
    await find.fill("THE VERY LAST");
    await find.press("Enter");
    await expect
      .poll(() => page.getByTestId("large-text-found").textContent(), { timeout: 60_000 })
      .toBe("Line 1,000,000");
    await expect
      .poll(() => page.locator(".large-text-line[data-match]").getAttribute("data-line"))
      .toBe(String(LINES));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "viewer-large-text-find.png") });
    await find.fill("00000007 an ordinary");
    await find.press("Enter");
    await expect
      .poll(() => page.getByTestId("large-text-found").textContent(), { timeout: 60_000 })
      .toBe("Line 7 (from the top)");
    await find.fill("no such text anywhere");
    await find.press("Enter");
    await expect
      .poll(() => page.getByTestId("large-text-found").textContent(), { timeout: 60_000 })
      .toBe("Not found");
    await page.close();
  });

  it("Markdown typesets math with KaTeX, highlights code, loads relative images, opens relative links and keeps its scroll in step", async () => {
    await mkdir(join(plus.home, "doc", "img"), { recursive: true });
    await copyFile(join(plus.home, "picture.png"), join(plus.home, "doc", "img", "pic.png"));
    await writeFile(join(plus.home, "doc", "other.md"), "# The other file\n");
    const filler = Array.from(
      { length: 120 },
      (_, i) => `Paragraph ${i + 1} of the filler.\n`,
    ).join("\n");
    await writeFile(
      join(plus.home, "doc", "math.md"),
      [
        "# Math",
        "",
        "Euler: $e^{i\\pi} + 1 = 0$ and it costs $5 or $10.",
        "",
        "$$",
        "\\int_0^1 x^2 \\, dx = \\frac{1}{3}",
        "$$",
        "",
        "Hostile: $\\href{javascript:top.pwned=1}{click}$ $\\url{http://127.0.0.1:1/x}$",
        "",
        "```python",
        "def square(x):",
        "    return x * x  # squared",
        "```",
        "",
        "![a picture](img/pic.png) ![not an image](../.bashrc) ![remote](http://127.0.0.1:1/beacon.png)",
        "",
        "[the other file](other.md) and [a heading](#the-end)",
        "",
        '<a href="https://example.com/" data-workspace-path="/etc/hosts">spoofed</a> <img data-workspace-src="/etc/hosts.png">',
        "",
        filler,
        "## The end",
        "",
      ].join("\n"),
    );
    const page = await context.newPage();
    await page.goto(new URL("/files/doc/math.md#editor", plus.url).toString());
    await page.locator("[data-testid=code-editor] .cm-content").waitFor({ timeout: 30_000 });
    const preview = page.getByTestId("source-preview");
    await preview.locator(".katex").first().waitFor({ timeout: 30_000 });
    // Inline and displayed math, and the dollars of prices left as text.
    expect(await preview.locator(".math-inline .katex").count()).toBeGreaterThanOrEqual(1);
    expect(await preview.locator(".math-display .katex-display").count()).toBe(1);
    expect(await preview.locator(".katex-mathml annotation").first().textContent()).toBe(
      "e^{i\\pi} + 1 = 0",
    );
    expect(await preview.locator("p").nth(0).textContent()).toContain("costs $5 or $10");
    // KaTeX without trust makes no links.
    expect(await preview.locator(".katex a").count()).toBe(0);
    // Code highlighted by the editor's Python parser.
    await preview.locator("pre code .tok-keyword").first().waitFor();
    expect(await preview.locator("pre code .tok-keyword").first().textContent()).toBe("def");
    expect(await preview.locator("pre code .tok-comment").first().textContent()).toBe("# squared");
    // The relative image is read through the workspace; the others are not loaded.
    const pic = preview.locator("img[data-workspace-src]").first();
    await expect.poll(() => pic.getAttribute("data-loaded"), { timeout: 30_000 }).toBe("true");
    expect(await pic.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(600);
    expect(await pic.getAttribute("src")).toMatch(/^blob:/);
    expect(await preview.locator("img[src^='http']").count()).toBe(0);
    expect(await preview.locator(".markdown-remote-image").count()).toBe(1);
    // Marks written into the file's own HTML are dropped: the link goes where it says.
    const spoofed = preview.locator("a", { hasText: "spoofed" });
    expect(await spoofed.getAttribute("data-workspace-path")).toBe(null);
    expect(await spoofed.getAttribute("target")).toBe("_blank");
    expect(await preview.locator("img[data-workspace-src='/etc/hosts.png']").count()).toBe(0);
    expect(await preview.locator("img[data-workspace-src]").count()).toBe(2);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBe(
      undefined,
    );
    if (SHOTS) {
      await page.screenshot({ path: join(SHOTS, "viewer-markdown-math.png") });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: join(SHOTS, "viewer-markdown-math-dark.png") });
      await page.emulateMedia({ colorScheme: "light" });
    }

    // Scrolling the editor to the end brings the end of the preview into view.
    await page.locator("[data-testid=code-editor] .cm-scroller").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    const end = preview.locator("h2", { hasText: "The end" });
    await expect
      .poll(() =>
        end.evaluate((h) => {
          const pane = h.closest("[data-testid=source-preview]") as HTMLElement;
          const a = h.getBoundingClientRect();
          const b = pane.getBoundingClientRect();
          return a.top >= b.top && a.bottom <= b.bottom;
        }),
      )
      .toBe(true);
    // And back: the preview scrolled to the top brings the editor back to its first line.
    await preview.hover();
    await preview.evaluate((el) => {
      el.scrollTop = 0;
    });
    await expect
      .poll(() =>
        page.locator("[data-testid=code-editor] .cm-scroller").evaluate((el) => el.scrollTop),
      )
      .toBeLessThan(40);

    // A relative link opens the file in the workspace.
    await preview.locator("a", { hasText: "the other file" }).click();
    await expect
      .poll(() => page.locator("[data-testid=doc-tab][data-active=true]").getAttribute("data-path"))
      .toBe(join(plus.home, "doc", "other.md"));
    await page.close();
  });

  it("a large file that is not text says so and offers the download, not a viewer of its bytes", async () => {
    const bytes = Buffer.alloc(600 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    await writeFile(join(plus.home, "blob.dat"), bytes);
    const page = await context.newPage();
    await page.goto(new URL("/files/blob.dat#editor", plus.url).toString());
    const binary = page.getByTestId("doc-binary");
    await binary.waitFor({ timeout: 30_000 });
    expect(await binary.textContent()).toContain("is not text");
    expect(await page.getByTestId("large-text-viewer").count()).toBe(0);
    await page.close();
  });
});
