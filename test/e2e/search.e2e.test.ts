import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_SEARCH_LINES } from "../../shared/search.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HAVE_RG = spawnSync("rg", ["--version"]).status === 0;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");
if (!HAVE_RG) console.warn("skipping search browser tests: ripgrep (rg) is not installed");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT || !HAVE_RG)("search, quick open, palette", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    plus = await startPlus();
    const proj = join(plus.home, "proj");
    await mkdir(join(proj, "src"), { recursive: true });
    await mkdir(join(proj, "build"), { recursive: true });
    await mkdir(join(proj, "huge"), { recursive: true });
    await writeFile(join(proj, ".gitignore"), "build/\nhuge/\n");
    await writeFile(
      join(proj, "src/app.ts"),
      "import x from './x';\n// the needle is here\nconst a = 1;\nconst b = 2;\nexport const Needle = 'needle';\n",
    );
    await writeFile(join(proj, "src/notes.md"), "# Notes\n\nNo needles; one needle.\n");
    await writeFile(join(proj, "src/a;b $(touch pwned).txt"), "needle in a hostile name\n");
    await writeFile(join(proj, "build/gen.ts"), "needle from the build\n");
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    // The page's shortcuts work once the workspace is shown.
    await page.waitForSelector('[data-testid="explorer"][data-phase="ready"]', { timeout: 60_000 });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  const summary = () => page.getByTestId("search-summary");
  async function search(pattern: string, folder = "~/proj") {
    await page.getByTestId("search-folder").fill(folder);
    await page.getByTestId("search-input").fill(pattern);
    await page.getByTestId("search-run").click();
    await expect
      .poll(() => summary().getAttribute("data-state"), { timeout: 30_000 })
      .toMatch(/done|failed/);
  }
  const matchRows = () =>
    page
      .getByTestId("search-match")
      .evaluateAll((els) =>
        els.map((e) => `${e.getAttribute("data-path")}:${e.getAttribute("data-line")}`),
      );

  it("searches with context, .gitignore respected; a click opens the file at the line", async () => {
    await page.keyboard.press("Control+Shift+F");
    await page.getByTestId("search-pane").waitFor({ timeout: 30_000 });
    await search("needle");
    const proj = join(plus.home, "proj");
    expect((await matchRows()).sort()).toEqual(
      [
        `${proj}/src/a;b $(touch pwned).txt:1`,
        `${proj}/src/app.ts:2`,
        `${proj}/src/app.ts:5`,
        `${proj}/src/notes.md:3`,
      ].sort(),
    );
    expect(await page.getByTestId("search-context").count()).toBeGreaterThan(0);
    await expect.poll(() => summary().textContent()).toContain("4 matching lines in 3 files");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "search-results.png") });

    // Case and whole word narrow it.
    await page.getByTestId("search-case").click();
    await page.getByTestId("search-word").click();
    await search("Needle");
    expect(await matchRows()).toEqual([`${proj}/src/app.ts:5`]);
    await page.getByTestId("search-case").click();
    await page.getByTestId("search-word").click();

    await page.locator(`[data-testid=search-match][data-line="5"]`).click();
    const active = page.locator("[data-testid=code-editor] .cm-activeLine");
    await expect
      .poll(() => active.textContent(), { timeout: 30_000 })
      .toBe("export const Needle = 'needle';");
  });

  it("replace across files previews each line, then writes the files", async () => {
    await page.keyboard.press("Control+Shift+F");
    await page.getByTestId("search-show-replace").click();
    await page.getByTestId("search-case").click();
    await page.getByTestId("search-include").fill("*.ts, *.md");
    await search("needle");
    await page.getByTestId("replace-input").fill("pin");
    await expect.poll(() => page.getByTestId("replace-preview").count()).toBe(3);
    expect(await page.getByTestId("replace-preview").allTextContents()).toContain(
      "export const Needle = 'pin';",
    );
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "search-replace-preview.png") });
    // Case-sensitive: 'Needle' stays.
    await page.getByTestId("replace-all").click();
    await page.getByTestId("replace-confirm").click();
    await expect
      .poll(() => page.getByTestId("replace-progress").textContent(), { timeout: 30_000 })
      .toContain("Replaced 4 in 2 files");
    const proj = join(plus.home, "proj");
    expect(await readFile(join(proj, "src/app.ts"), "utf8")).toContain(
      "// the pin is here\nconst a = 1;\nconst b = 2;\nexport const Needle = 'pin';",
    );
    expect(await readFile(join(proj, "src/notes.md"), "utf8")).toBe(
      "# Notes\n\nNo pins; one pin.\n",
    );
    // The file excluded by the include globs is untouched; the open document took the change in.
    expect(await readFile(join(proj, "src/a;b $(touch pwned).txt"), "utf8")).toContain("needle");
    await page.getByTestId("search-case").click();
    await page.keyboard.press("Control+Shift+P");
    await page.getByTestId("picker-input").fill("show editor");
    await page.keyboard.press("Enter");
    await expect
      .poll(() => page.locator("[data-testid=code-editor] .cm-content").textContent(), {
        timeout: 30_000,
      })
      .toContain("the pin is here");
  });

  it("a hostile pattern is only text; a huge result set stops at the cap, virtualised", async () => {
    await page.keyboard.press("Control+Shift+F");
    await page.getByTestId("search-include").fill("");
    await search("$(touch pwned)`id`");
    await expect.poll(() => summary().textContent()).toContain("No results");
    expect((await readdir(join(plus.home, "proj"))).sort()).toEqual([
      ".gitignore",
      "build",
      "huge",
      "src",
    ]);
    await writeFile(
      join(plus.home, "proj/huge/many.txt"),
      "haystack\n".repeat(MAX_SEARCH_LINES * 2),
    );
    await search("haystack", "~/proj/huge");
    await expect.poll(() => summary().getAttribute("data-capped")).toBe("true");
    expect(await summary().textContent()).toContain(`stopped at ${MAX_SEARCH_LINES} lines`);
    // Only the rows on screen exist.
    expect(await page.locator(".search-result").count()).toBeLessThan(120);
    expect(await page.getByTestId("replace-all").isDisabled()).toBe(true);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "search-capped.png") });
    // A missing folder says so.
    await search("x", "~/no/such/folder");
    await expect.poll(() => summary().textContent()).toContain("no such directory");
  });

  it("quick open finds files by fuzzy name, recent first; name:line goes to the line", async () => {
    await page.keyboard.press("Control+P");
    const items = page.getByTestId("picker-item");
    // Nothing typed: the recent files (app.ts was opened above).
    await expect
      .poll(() => items.first().getAttribute("data-id"), { timeout: 30_000 })
      .toBe(join(plus.home, "proj/src/app.ts"));
    await page.getByTestId("picker-input").fill("notesmd:3");
    await expect
      .poll(() => items.first().getAttribute("data-id"), { timeout: 30_000 })
      .toBe(join(plus.home, "proj/src/notes.md"));
    // The build folder is ignored by .gitignore.
    await page.getByTestId("picker-input").fill("gen.ts");
    await expect.poll(() => page.getByTestId("picker-note").textContent()).toBe("Nothing matches");
    await page.getByTestId("picker-input").fill("notesmd:3");
    await expect
      .poll(() => items.first().getAttribute("data-id"))
      .toBe(join(plus.home, "proj/src/notes.md"));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "quick-open.png") });
    await page.keyboard.press("Enter");
    await expect
      .poll(
        () => page.locator("[data-testid=doc-tab][data-active=true]").getAttribute("data-path"),
        {
          timeout: 30_000,
        },
      )
      .toBe(join(plus.home, "proj/src/notes.md"));
    const active = page.locator(
      `[data-testid=doc-body][data-path="${join(plus.home, "proj/src/notes.md")}"] .cm-activeLine`,
    );
    await expect.poll(() => active.textContent(), { timeout: 30_000 }).toBe("No pins; one pin.");
  });

  it("the command palette lists the page's actions with their shortcuts", async () => {
    await page.keyboard.press("Control+Shift+P");
    const palette = page.getByTestId("command-palette");
    await palette.waitFor();
    const go = palette.locator('[data-id="quick-open"]');
    expect(await go.textContent()).toContain("Ctrl+P");
    expect(await palette.locator('[data-id="search"]').textContent()).toContain("Ctrl+Shift+F");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "command-palette.png") });
    await page.getByTestId("picker-input").fill("terminals");
    await page.keyboard.press("Enter");
    await expect
      .poll(() => page.locator("#pane-terminals").isVisible(), { timeout: 30_000 })
      .toBe(true);
    await page.keyboard.press("Control+Shift+P");
    await page.keyboard.press("Escape");
    expect(await page.getByTestId("command-palette").count()).toBe(0);
  });
});
