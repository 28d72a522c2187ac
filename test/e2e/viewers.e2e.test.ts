import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
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
});
