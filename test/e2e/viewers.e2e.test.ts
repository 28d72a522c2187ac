import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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

  async function openPdf(name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(`/files/${name}#editor`, plus.url).toString());
    await page.getByTestId("pdf-viewer").waitFor({ timeout: 30_000 });
    return page;
  }
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
    const page = await openPdf("report.pdf");
    const viewer = page.getByTestId("pdf-viewer");
    await expect.poll(() => viewer.getAttribute("data-pages"), { timeout: 30_000 }).toBe("3");
    await page.locator(".pdfViewer .page[data-page-number='1'] .textLayer span").first().waitFor();
    expect(await page.getByTestId("pdf-page-count").textContent()).toContain("3");
    // Thumbnails: one per page, drawn.
    await expect.poll(() => page.getByTestId("pdf-thumb").count()).toBe(3);
    await page.locator(".pdf-thumb-canvas[data-drawn]").first().waitFor();

    await page.getByTestId("pdf-search").fill("zebra");
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
});
