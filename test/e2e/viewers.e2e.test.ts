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
});
