import { copyFile, readFile, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docsCommand } from "../../services/docs/test-kit.js";
import { connectServices } from "../../services/runtime/connect.js";
import {
  emptyNotebook,
  NOTEBOOK_MAX_BYTES,
  newCell,
  parseNotebook,
  serializeNotebook,
} from "../../shared/notebook.js";
import { notebookIdForPath } from "../../shared/notebook-doc.js";
import { Buckets, Keys } from "../../shared/subjects.js";
import { bigNotebook } from "../helpers/big-notebook.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const FIXTURES = join(import.meta.dirname, "..", "fixtures", "notebooks");

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("notebooks in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  const disk = (name: string) => readFile(join(plus.home, name), "utf8");
  const cells = (page: Page) => page.getByTestId("nb-cell");
  const cell = (page: Page, id: string) => page.locator(`[data-testid=nb-cell][data-id="${id}"]`);
  /** A cell's text: its lines, without others' cursor labels. */
  const cellText = (page: Page, id: string) =>
    cell(page, id)
      .locator(".cm-content")
      .evaluate((el) =>
        Array.from(el.querySelectorAll(".cm-line"))
          .map((line) => {
            const copy = line.cloneNode(true) as Element;
            for (const c of Array.from(copy.querySelectorAll(".cm-remote-cursor"))) c.remove();
            return copy.textContent ?? "";
          })
          .join("\n"),
      );
  const ids = (page: Page) =>
    cells(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-id") ?? ""));

  /** A services connection to plus's NATS, as the e2e tests of the editor make one. */
  async function services() {
    const run = JSON.parse(await readFile(join(plus.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(
      await readFile(join(plus.dataDir, "secrets.json"), "utf8"),
    ) as { servicesSeed: string };
    const nc = await connectServices({ url: run.natsUrl, seed: servicesSeed }, "e2e notebook");
    return { nc, wsid: run.wsid };
  }

  async function openNotebook(name: string, height = 900): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height });
    await page.goto(new URL(`/files/${encodeURIComponent(name)}#editor`, plus.url).toString());
    await page.getByTestId("notebook").waitFor({ timeout: 30_000 });
    return page;
  }

  it("every output kind is drawn; hostile HTML and SVG run no script", async () => {
    await copyFile(join(FIXTURES, "every-output.ipynb"), join(plus.home, "every-output.ipynb"));
    const original = await disk("every-output.ipynb");
    const page = await openNotebook("every-output.ipynb", 2600);
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(9);
    // Markdown with math, rendered.
    await expect.poll(() => cell(page, "md-intro").locator(".katex").count()).toBeGreaterThan(1);
    expect(await cell(page, "md-intro").locator("h1").textContent()).toBe("Every output");
    // Streams, with stderr marked.
    expect(await cell(page, "c-stream").locator("[data-name=stdout]").textContent()).toContain(
      "hello from stdout",
    );
    expect(await cell(page, "c-stream").locator("[data-name=stderr]").count()).toBe(1);
    // Execute result: HTML (sanitised) chosen over plain text; the prompt shows the count.
    expect(await cell(page, "c-result").locator(".nb-html td").first().textContent()).toBe("html");
    expect(await cell(page, "c-result").getByTestId("nb-prompt").textContent()).toBe("[2]:");
    // Images: PNG, JPEG and SVG drawn from blob URLs.
    const images = cell(page, "c-images").getByTestId("nb-image");
    await expect.poll(() => images.count()).toBe(3);
    for (const mime of ["image/png", "image/jpeg", "image/svg+xml"]) {
      const img = cell(page, "c-images").locator(`img[data-mime="${mime}"]`);
      await expect
        .poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
      expect(await img.getAttribute("src")).toMatch(/^blob:/);
    }
    expect(await cell(page, "c-json").getByTestId("nb-json").textContent()).toContain(
      '"answer": 42',
    );
    expect(await cell(page, "c-plain").getByTestId("nb-plain").textContent()).toBe("42");
    // The traceback keeps its colours.
    const error = cell(page, "c-error").getByTestId("nb-error");
    expect(await error.textContent()).toContain("ZeroDivisionError: division by zero");
    expect(await error.locator("span[style*='color']").count()).toBeGreaterThan(2);
    expect(await cell(page, "raw-1").locator(".cm-content").textContent()).toContain("Raw *text*");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-outputs.png`, fullPage: true });
    // Opening wrote nothing.
    expect(await disk("every-output.ipynb")).toBe(original);
    // Typing in a cell leaves its outputs as they are drawn (the same image, not a new one).
    const png = cell(page, "c-images").locator('img[data-mime="image/png"]');
    const src = await png.getAttribute("src");
    await cell(page, "c-images").locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("  # typed");
    await expect
      .poll(() => disk("every-output.ipynb"), { timeout: 30_000 })
      .toContain("show_images()  # typed");
    expect(await png.getAttribute("src")).toBe(src);
    await page.close();

    // Hostile content in a file with a hostile name.
    const name = `h"<img src=x onerror=window.__namePwned=1>' $(touch x).ipynb`;
    await copyFile(join(FIXTURES, "hostile.ipynb"), join(plus.home, name));
    const hostile = await openNotebook(name);
    await expect
      .poll(() => hostile.locator("#hostile-html").textContent(), { timeout: 30_000 })
      .toBe("bold survives");
    const svg = hostile.locator('img[data-mime="image/svg+xml"]');
    await expect
      .poll(() => svg.evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => cell(hostile, "h-md").getByTestId("nb-markdown").count()).toBe(1);
    expect(
      await hostile.locator(".nb-html script, .nb-html iframe, .nb-markdown script").count(),
    ).toBe(0);
    expect(await hostile.locator("[onerror], [onload]").count()).toBe(0);
    const flags = await hostile.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      return [w.__htmlPwned, w.__svgPwned, w.__mdPwned, w.__namePwned, w.__katexPwned];
    });
    expect(flags).toEqual([undefined, undefined, undefined, undefined, undefined]);
    // Math goes into text only: a placeholder inside an attribute stays text there.
    await expect.poll(() => cell(hostile, "h-math").locator(".katex").count()).toBeGreaterThan(0);
    expect(await hostile.locator("#math-attr").getAttribute("title")).toBe("$x$");
    expect(await hostile.locator("#math-attr .katex, [href^='javascript']").count()).toBe(0);
    expect(await hostile.getByTestId("doc-path").textContent()).toContain("onerror=");
    if (SHOTS) await hostile.screenshot({ path: `${SHOTS}/notebook-hostile.png` });
    await hostile.close();
  });

  it("two pages edit one notebook and see each other's edits; the file follows", async () => {
    await copyFile(join(FIXTURES, "every-output.ipynb"), join(plus.home, "pair.ipynb"));
    const a = await openNotebook("pair.ipynb");
    const b = await openNotebook("pair.ipynb");
    for (const p of [a, b])
      await expect.poll(() => cell(p, "c-stream").count(), { timeout: 30_000 }).toBe(1);
    await cell(a, "c-stream").locator(".cm-content").click();
    await a.keyboard.press("Control+End");
    await cell(b, "c-stream").locator(".cm-content").click();
    await b.keyboard.press("Control+Home");
    await Promise.all([
      a.keyboard.type("\n# typed in a", { delay: 15 }),
      b.keyboard.type("# typed in b\n", { delay: 15 }),
    ]);
    for (const p of [a, b]) {
      await expect
        .poll(() => cellText(p, "c-stream"), { timeout: 30_000 })
        .toContain("# typed in a");
      await expect
        .poll(() => cellText(p, "c-stream"), { timeout: 30_000 })
        .toContain("# typed in b");
    }
    expect(await cellText(a, "c-stream")).toBe(await cellText(b, "c-stream"));
    // Each page shows the other's cursor, with its name, in that cell.
    for (const p of [a, b])
      await expect
        .poll(() => cell(p, "c-stream").locator(".cm-remote-cursor").count(), { timeout: 30_000 })
        .toBe(1);
    await expect
      .poll(() => a.getByTestId("nb-save-state").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("saved");
    await expect.poll(() => disk("pair.ipynb"), { timeout: 30_000 }).toContain("# typed in a");
    const nb = parseNotebook(await disk("pair.ipynb"));
    const source = nb.cells.find((c) => c.id === "c-stream")!.source;
    expect(source.startsWith("# typed in b\n")).toBe(true);
    expect(source.endsWith("\n# typed in a")).toBe(true);
    if (SHOTS) await a.screenshot({ path: `${SHOTS}/notebook-two-pages.png` });
    // Past 200 events the service keeps a snapshot: a page opened then starts from it.
    await cell(a, "c-plain").locator(".cm-content").click();
    await a.keyboard.press("Control+End");
    await a.keyboard.type(" # typed");
    const typed = "6 * 7 # typed";
    await expect.poll(() => cellText(b, "c-plain"), { timeout: 30_000 }).toBe(typed);
    const { nc, wsid } = await services();
    const path = join(plus.home, "pair.ipynb");
    try {
      for (let i = 0; i < 220; i++) {
        const r = await docsCommand(nc, wsid, "ChangeNotebook", {
          path,
          change: { op: "type", id: "raw-1", cell_type: i % 2 === 0 ? "markdown" : "raw" },
          client: "e2e-types",
          pid: `e2e-type-${i}`,
        });
        if (!r.ok) throw new Error(r.error.message);
      }
      const kv = await new Kvm(nc).open(Buckets.docSnapshots);
      const e = await kv.get(Keys.docSnapshot(wsid, notebookIdForPath(path), "head"));
      expect(e?.operation).toBe("PUT");
    } finally {
      await nc.close();
    }
    const c = await openNotebook("pair.ipynb");
    await expect.poll(() => cellText(c, "c-plain"), { timeout: 30_000 }).toBe(typed);
    expect(await cellText(c, "c-stream")).toBe(await cellText(a, "c-stream"));
    await cell(c, "c-plain").locator(".cm-content").click();
    await c.keyboard.press("Control+End");
    await c.keyboard.type("!");
    await expect.poll(() => cellText(a, "c-plain"), { timeout: 30_000 }).toBe(`${typed}!`);
    await a.close();
    await b.close();
    await c.close();
  });

  it("cells are inserted, retyped, moved, deleted and restored by keys; the file stays nbformat", async () => {
    await copyFile(join(FIXTURES, "every-output.ipynb"), join(plus.home, "keys.ipynb"));
    const page = await openNotebook("keys.ipynb", 2600);
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(9);
    const before = await ids(page);
    // Click a cell's prompt: command mode on it.
    await cell(page, "c-plain").getByTestId("nb-prompt").click();
    await expect.poll(() => cell(page, "c-plain").getAttribute("data-mode")).toBe("command");
    await page.keyboard.press("b");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(10);
    const added = (await ids(page))[before.indexOf("c-plain") + 1]!;
    expect(before).not.toContain(added);
    await expect.poll(() => cell(page, added).getAttribute("data-selected")).toBe("true");
    await page.keyboard.press("Enter");
    await expect.poll(() => cell(page, added).getAttribute("data-mode")).toBe("edit");
    await page.keyboard.type("print('added by keys')");
    await page.keyboard.press("Escape");
    await expect.poll(() => cell(page, added).getAttribute("data-mode")).toBe("command");
    await page.keyboard.press("m");
    await expect.poll(() => cell(page, added).getAttribute("data-type")).toBe("markdown");
    await page.keyboard.press("y");
    await expect.poll(() => cell(page, added).getAttribute("data-type")).toBe("code");
    // Shift-Enter runs it, which starts the notebook's kernel (notebook-kernel.e2e runs cells).
    await page.keyboard.press("Shift+Enter");
    await expect
      .poll(() => page.getByTestId("nb-kernel").getAttribute("data-state"), { timeout: 30_000 })
      .not.toBe("none");
    await expect.poll(() => cell(page, "c-error").getAttribute("data-selected")).toBe("true");
    // Up to the added cell, move it up one with the toolbar.
    await page.keyboard.press("k");
    await expect.poll(() => cell(page, added).getAttribute("data-selected")).toBe("true");
    await page.getByTestId("nb-move-up").click();
    await expect.poll(async () => (await ids(page)).indexOf(added)).toBe(before.indexOf("c-plain"));
    // D D deletes it, Z brings it back.
    await cell(page, added).getByTestId("nb-prompt").click();
    await page.keyboard.press("d");
    await page.keyboard.press("d");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(9);
    await page.keyboard.press("z");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(10);
    await expect
      .poll(() => page.locator("[data-testid=nb-cell] .cm-content").allTextContents())
      .toContain("print('added by keys')");
    // A markdown cell: Enter edits its source, Shift-Enter renders it again.
    await cell(page, "md-intro").getByTestId("nb-prompt").click();
    await page.keyboard.press("Enter");
    await expect.poll(() => cell(page, "md-intro").locator(".cm-content").count()).toBe(1);
    await expect.poll(() => cell(page, "md-intro").getAttribute("data-mode")).toBe("edit");
    await page.keyboard.press("Control+End");
    await page.keyboard.type("\n\n**typed in markdown**");
    await page.keyboard.press("Shift+Enter");
    await expect
      .poll(() => cell(page, "md-intro").locator("strong").allTextContents(), { timeout: 30_000 })
      .toContain("typed in markdown");
    // A: a new cell above the first.
    await cell(page, "md-intro").getByTestId("nb-prompt").click();
    await page.keyboard.press("a");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(11);
    await expect.poll(async () => before.includes((await ids(page))[0]!)).toBe(false);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-keys.png` });
    await expect
      .poll(() => page.getByTestId("nb-save-state").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("saved");
    await expect
      .poll(async () => parseNotebook(await disk("keys.ipynb")).cells.length, { timeout: 30_000 })
      .toBe(11);
    const text = await disk("keys.ipynb");
    const nb = parseNotebook(text);
    expect(serializeNotebook(nb)).toBe(text);
    const restored = nb.cells.find((c) => c.source === "print('added by keys')");
    expect(restored?.cell_type).toBe("code");
    expect(nb.cells.indexOf(restored!)).toBe(before.indexOf("c-plain") + 1);
    // The cell that has the focus is deleted by someone else: keys still reach the list.
    await cell(page, "c-empty").getByTestId("nb-prompt").click();
    await expect.poll(() => cell(page, "c-empty").getAttribute("data-mode")).toBe("command");
    const { nc, wsid } = await services();
    try {
      const r = await docsCommand(nc, wsid, "ChangeNotebook", {
        path: join(plus.home, "keys.ipynb"),
        change: { op: "delete", ids: ["c-empty"] },
        client: "e2e-other",
        pid: "e2e-delete-focused",
      });
      expect(r.ok).toBe(true);
    } finally {
      await nc.close();
    }
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(10);
    await page.keyboard.press("b");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(11);
    await page.close();
  });

  it("a long output shows its start and all of it on asking; Ctrl-Shift-- splits, Shift-M merges", async () => {
    const nb = emptyNotebook();
    const long = newCell("code", "for i in range(3000): print(i)", "long", true);
    const lines = Array.from({ length: 3000 }, (_, i) => `${i}\n`);
    long.outputs = JSON.stringify([{ name: "stdout", output_type: "stream", text: lines }]);
    const many = newCell("code", "for i in range(120): display(i)", "many", true);
    many.outputs = JSON.stringify(
      Array.from({ length: 120 }, (_, i) => ({
        data: { "text/plain": [`out ${i}`] },
        metadata: {},
        output_type: "display_data",
      })),
    );
    nb.cells.push(newCell("code", "a = 1\nb = 2", "pair", true), long, many);
    await writeFile(join(plus.home, "long.ipynb"), serializeNotebook(nb));
    const page = await openNotebook("long.ipynb");
    const stream = cell(page, "long").getByTestId("nb-stream");
    await expect.poll(() => stream.count(), { timeout: 30_000 }).toBe(1);
    expect(await stream.textContent()).not.toContain("2999");
    await cell(page, "long").getByTestId("nb-show-all").click();
    await expect.poll(() => stream.textContent()).toContain("2999");
    // Many outputs: the first 50, then all on asking.
    const plain = cell(page, "many").getByTestId("nb-plain");
    await expect.poll(() => plain.count(), { timeout: 30_000 }).toBe(50);
    await cell(page, "many").getByTestId("nb-show-all-outputs").click();
    await expect.poll(() => plain.count()).toBe(120);
    // Split "a = 1\nb = 2" after its first line, then merge it back.
    await cell(page, "pair").locator(".cm-content").click();
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Control+Shift+Minus");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(4);
    expect(await cellText(page, "pair")).toBe("a = 1\n");
    const second = (await ids(page))[1]!;
    expect(await cellText(page, second)).toBe("b = 2");
    await page.keyboard.press("Escape");
    await cell(page, "pair").getByTestId("nb-prompt").click();
    await page.keyboard.press("Shift+M");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBe(3);
    expect(await cellText(page, "pair")).toBe("a = 1\n\nb = 2");
    // The file deleted under the page: the page says so and writes it again when asked.
    await expect
      .poll(() => disk("long.ipynb"), { timeout: 30_000 })
      .toContain('"a = 1\\n",\n    "\\n",\n    "b = 2"');
    await unlink(join(plus.home, "long.ipynb"));
    await expect
      .poll(() => page.getByTestId("nb-save-state").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("deleted");
    await page.getByTestId("nb-save-again").click();
    await expect
      .poll(async () => parseNotebook(await disk("long.ipynb").catch(() => "{}")).cells.length, {
        timeout: 30_000,
      })
      .toBe(3);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-long.png` });
    await page.close();
  });

  it("history shows past versions, and one is restored", async () => {
    await copyFile(join(FIXTURES, "every-output.ipynb"), join(plus.home, "history.ipynb"));
    const original = await disk("history.ipynb");
    const page = await openNotebook("history.ipynb");
    await expect.poll(() => cell(page, "c-stream").count(), { timeout: 30_000 }).toBe(1);
    await cell(page, "c-stream").locator(".cm-content").click();
    await page.keyboard.press("Control+Home");
    await page.keyboard.type("# a later edit\n");
    await cell(page, "c-stream").getByTestId("nb-prompt").click();
    await page.keyboard.press("b");
    await expect.poll(() => cells(page).count(), { timeout: 30_000 }).toBeGreaterThan(2);
    // The whole edit is saved (its line break too) before a version is restored.
    await expect
      .poll(() => disk("history.ipynb"), { timeout: 30_000 })
      .toContain('"# a later edit\\n",');
    await page.getByTestId("nb-history-toggle").click();
    const versions = page.getByTestId("nb-version");
    await expect.poll(() => versions.count(), { timeout: 30_000 }).toBeGreaterThan(2);
    // The oldest version: the notebook as opened.
    await versions.last().click();
    await expect
      .poll(() => page.getByTestId("nb-history-cell").nth(1).textContent())
      .toBe(
        "print('hello from stdout')\nprint('second line')\nimport sys; print('a warning on stderr', file=sys.stderr)",
      );
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-history.png` });
    await page.getByTestId("nb-restore").click();
    await expect
      .poll(() => cellText(page, "c-stream"), { timeout: 30_000 })
      .not.toContain("# a later edit");
    await expect.poll(() => disk("history.ipynb"), { timeout: 30_000 }).toBe(original);
    await page.close();
  });

  it("a 1000-cell notebook opens with only the cells in view mounted", async () => {
    const nb = emptyNotebook();
    nb.metadata = JSON.stringify({ language_info: { name: "python" } });
    for (let i = 0; i < 1000; i++)
      nb.cells.push(
        newCell(i % 10 === 0 ? "markdown" : "code", `# cell ${i}\nx = ${i}`, `cell-${i}`, true),
      );
    await writeFile(join(plus.home, "big.ipynb"), serializeNotebook(nb));
    const page = await openNotebook("big.ipynb");
    await expect
      .poll(() => page.getByTestId("nb-cells").getAttribute("data-count"), { timeout: 60_000 })
      .toBe("1000");
    await expect.poll(() => cell(page, "cell-1").count(), { timeout: 30_000 }).toBe(1);
    const mounted = await cells(page).count();
    expect(mounted).toBeGreaterThan(3);
    expect(mounted).toBeLessThan(40);
    expect(await page.locator(".cm-editor").count()).toBeLessThan(40);
    await page.getByTestId("nb-cells").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await expect.poll(() => cell(page, "cell-999").count(), { timeout: 30_000 }).toBe(1);
    expect(await cell(page, "cell-1").count()).toBe(0);
    expect(await page.locator(".cm-editor").count()).toBeLessThan(40);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-1000.png` });
    await page.close();
  });

  it("a 5 MiB notebook with images opens: its images and its last cell are drawn; one over the limit says so", async () => {
    const text = bigNotebook({ cells: 20, imageBytes: 190_000, hugeImageBytes: 700_000 });
    await writeFile(join(plus.home, "images.ipynb"), text);
    const page = await openNotebook("images.ipynb");
    await expect
      .poll(() => page.getByTestId("nb-cells").getAttribute("data-count"), { timeout: 60_000 })
      .toBe("22");
    // The image larger than a message, drawn whole.
    const img = cell(page, "c0").locator('img[data-mime="image/png"]');
    await expect
      .poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalHeight), { timeout: 30_000 })
      .toBe(Math.ceil(700_000 / (256 * 3)));
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-images.png` });
    // Rows are measured as they are drawn (images take their height when loaded): scrolled
    // to the end until the end stays in view, as a person scrolls on.
    const lastInView = async () => {
      await page.getByTestId("nb-cells").evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      if ((await cell(page, "last").count()) === 0) return false;
      // The row may be drawn away again as rows are measured: then it is not in view yet.
      return cell(page, "last")
        .evaluate(
          (el) => {
            const r = el.getBoundingClientRect();
            return r.bottom > 0 && r.top < innerHeight;
          },
          undefined,
          { timeout: 1000 },
        )
        .catch(() => false);
    };
    await expect.poll(lastInView, { timeout: 30_000 }).toBe(true);
    expect(await cell(page, "last").textContent()).toContain("The last cell.");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-images-end.png` });
    const lastImage = cell(page, "c19").locator('img[data-mime="image/png"]');
    await expect
      .poll(() => lastImage.evaluate((el) => (el as HTMLImageElement).naturalWidth), {
        timeout: 30_000,
      })
      .toBe(256);
    expect(await disk("images.ipynb")).toBe(text);
    await page.close();

    const huge = join(plus.home, "huge.ipynb");
    await writeFile(huge, "");
    await truncate(huge, NOTEBOOK_MAX_BYTES + 1);
    const refused = await openNotebook("huge.ipynb");
    await expect
      .poll(() => refused.getByTestId("nb-refused").textContent(), { timeout: 30_000 })
      .toContain("more than the 32 MB a notebook may be");
    await refused.close();
  });

  it("a broken notebook shows its error and text, and the file is left as it was", async () => {
    const text =
      '{\n "cells": [\n  {"cell_type": "code", "source": 5}\n ],\n "nbformat": 4, "nbformat_minor": 5, "metadata": {}\n}\n';
    await writeFile(join(plus.home, "broken.ipynb"), text);
    const page = await openNotebook("broken.ipynb");
    await expect
      .poll(() => page.getByTestId("nb-invalid-reason").textContent(), { timeout: 30_000 })
      .toContain("cell 1's source is neither text nor a list of lines");
    expect(await page.getByTestId("nb-raw").textContent()).toBe(text);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/notebook-broken.png` });
    expect(await disk("broken.ipynb")).toBe(text);
    await page.close();
  });
});
