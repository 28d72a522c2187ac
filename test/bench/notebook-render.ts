/**
 * Time to first render of a 1000-cell notebook with outputs, in Chromium signed in to a real
 * cocalc-plus: from the page's navigation to its first cells drawn with their outputs. Each
 * run opens the notebook in a new page (the docs service has it open after the first).
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { emptyNotebook, newCell, outputForFile, serializeNotebook } from "../../shared/notebook.js";
import { launchChromium } from "../helpers/browser.js";
import { median, num } from "./stats.js";

export const RENDER_TARGET_MS = 1000;

/**
 * A notebook of `n` code cells, each with a few lines of text and a printed output (about
 * 310 KB for 1000: notebooks open up to the documents' size limit, 384 KiB).
 */
function bigNotebook(n: number): string {
  const nb = emptyNotebook();
  nb.metadata = JSON.stringify({ kernelspec: { name: "python3", display_name: "Python 3" } });
  nb.cells = Array.from({ length: n }, (_, i) => {
    const c = newCell("code", `# cell ${i}\nx = ${i}\nprint(x * 2)\nx`, `cell-${i}`, true);
    c.execution_count = i + 1;
    c.outputs = JSON.stringify([
      outputForFile({ output_type: "stream", name: "stdout", text: `${i * 2}\n` }),
    ]);
    return c;
  });
  return serializeNotebook(nb);
}

/**
 * Opens `home/render.ipynb` (written here) `runs` times; the milliseconds of each run from
 * navigation to the first cell's output on screen.
 */
export async function notebookFirstRender(o: {
  url: string;
  tokenFile: string;
  home: string;
  runs: number;
}): Promise<{ ms: number[]; line: string }> {
  await writeFile(join(o.home, "render.ipynb"), bigNotebook(1000));
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const signIn = await context.newPage();
    const token = (await readFile(o.tokenFile, "utf8")).trim();
    await signIn.goto(`${o.url}?token=${token}`);
    await signIn.waitForURL(o.url);
    await signIn.close();
    const target = new URL("/files/render.ipynb#editor", o.url).toString();
    const ms: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(target);
      // Looked for at every frame: a locator's wait polls at up to 500 ms apart, which once
      // added as much as 400 ms to what was measured.
      await page.waitForFunction(
        () => {
          const el = document.querySelector(
            '[data-testid=nb-cell][data-id="cell-0"] [data-testid=nb-outputs]',
          );
          return el !== null && el.getBoundingClientRect().height > 0 && el.checkVisibility();
        },
        undefined,
        { polling: "raf", timeout: 60_000 },
      );
      ms.push(performance.now() - t0);
      await page.close();
    }
    return {
      ms,
      line: `  1000-cell notebook with outputs, first render: median ${num(median(ms))} ms over ${ms.length} opens (target <= ${RENDER_TARGET_MS} ms)`,
    };
  } finally {
    await browser.close();
  }
}
