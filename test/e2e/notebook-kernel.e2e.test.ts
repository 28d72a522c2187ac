import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kernelCommand, kernelView } from "../../services/kernels/test-kit.js";
import { connectServices } from "../../services/runtime/connect.js";
import { kernelIdForPath } from "../../shared/kernels.js";
import {
  cellOutputs,
  emptyNotebook,
  newCell,
  parseNotebook,
  serializeNotebook,
} from "../../shared/notebook.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const IPYKERNEL = "/usr/share/jupyter/kernels/python3/kernel.json";
const why = !HAVE_CHROMIUM
  ? "no Chromium"
  : !WEB_BUILT
    ? "dist/web is not built (npm run build)"
    : !existsSync(IPYKERNEL)
      ? `no ${IPYKERNEL} (apt install python3-ipykernel)`
      : undefined;
if (why) console.warn(`notebook kernel browser tests skipped: ${why}`);

describe.skipIf(why !== undefined)("notebooks run on a real kernel, in Chromium", () => {
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

  const cell = (page: Page, id: string) => page.locator(`[data-testid=nb-cell][data-id="${id}"]`);
  const outputText = (page: Page, id: string) =>
    cell(page, id)
      .locator(".nb-outputs")
      .textContent()
      .then((t) => t ?? "")
      .catch(() => "");
  const prompt = (page: Page, id: string) => cell(page, id).getByTestId("nb-prompt").textContent();
  const kernelState = (page: Page) => page.getByTestId("nb-kernel").getAttribute("data-state");
  /** The cell's outputs as the file on disk has them. */
  const fileOutputs = async (name: string, id: string) => {
    const nb = parseNotebook(await readFile(join(plus.home, name), "utf8"));
    const c = nb.cells.find((x) => x.id === id);
    return c ? { count: c.execution_count, outputs: cellOutputs(c) } : undefined;
  };

  async function writeNotebook(name: string, cells: [string, string][]): Promise<void> {
    const nb = emptyNotebook();
    nb.metadata = JSON.stringify({
      kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
    });
    nb.cells = cells.map(([id, source]) => newCell("code", source, id, true));
    await writeFile(join(plus.home, name), serializeNotebook(nb));
  }

  async function openNotebook(name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(`/files/${encodeURIComponent(name)}#editor`, plus.url).toString());
    await page.getByTestId("notebook").waitFor({ timeout: 30_000 });
    await page.locator("[data-testid=nb-cell]").first().waitFor({ timeout: 30_000 });
    return page;
  }

  /** Selects cell `id` in command mode and presses Shift-Enter. */
  async function runCell(page: Page, id: string): Promise<void> {
    await cell(page, id).getByTestId("nb-prompt").click();
    await page.keyboard.press("Shift+Enter");
  }

  it("cells run on the kernel: outputs, counts, an error, Run all, input(), the file has them", async () => {
    await writeNotebook("run.ipynb", [
      ["c-print", "print('hello from the kernel')"],
      ["c-value", "21 * 2"],
      ["c-error", "1 / 0"],
      ["c-input", "name = input('your name? ')\nprint('hi', name)"],
    ]);
    const page = await openNotebook("run.ipynb");
    expect(await kernelState(page)).toBe("none");
    await runCell(page, "c-print");
    await expect
      .poll(() => outputText(page, "c-print"), { timeout: 60_000 })
      .toContain("hello from the kernel");
    await expect.poll(() => prompt(page, "c-print"), { timeout: 30_000 }).toBe("[1]:");
    await expect.poll(() => kernelState(page), { timeout: 30_000 }).toBe("idle");
    expect(await page.getByTestId("nb-kernel-select").inputValue()).toBe("python3");

    await page.getByTestId("nb-run-all").click();
    await expect.poll(() => outputText(page, "c-value"), { timeout: 30_000 }).toContain("42");
    await expect
      .poll(() => outputText(page, "c-error"), { timeout: 30_000 })
      .toContain("ZeroDivisionError");
    // The error stops the cells queued after it (as Jupyter does); one queued only after the
    // error was over runs, and asks for its input at once.
    const field = cell(page, "c-input").getByTestId("nb-input-field");
    const inputState = async () =>
      (await field.count()) > 0 ? "asking" : await prompt(page, "c-input");
    await expect.poll(inputState, { timeout: 30_000 }).toMatch(/^(asking|\[ \]:)$/);
    if ((await inputState()) !== "asking") await runCell(page, "c-input");
    await field.waitFor({ timeout: 30_000 });
    expect(await cell(page, "c-input").getByTestId("nb-input").textContent()).toContain(
      "your name?",
    );
    expect(await prompt(page, "c-input")).toBe("[*]:");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "notebook-kernel-input.png") });
    await field.fill("Ada");
    await field.press("Enter");
    await expect.poll(() => outputText(page, "c-input"), { timeout: 30_000 }).toContain("hi Ada");
    await expect(cell(page, "c-input").getByTestId("nb-input").count()).resolves.toBe(0);

    // The file has what the page shows, as Jupyter writes it.
    await expect
      .poll(async () => (await fileOutputs("run.ipynb", "c-value"))?.outputs[0], {
        timeout: 30_000,
      })
      .toMatchObject({ output_type: "execute_result", data: { "text/plain": "42" } });
    const printed = await fileOutputs("run.ipynb", "c-print");
    // Run all ran it again: In [2].
    expect(printed).toEqual({
      count: 2,
      outputs: [{ output_type: "stream", name: "stdout", text: "hello from the kernel\n" }],
    });
    expect((await fileOutputs("run.ipynb", "c-error"))?.outputs[0]).toMatchObject({
      output_type: "error",
      ename: "ZeroDivisionError",
    });
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "notebook-kernel-run.png") });
    await page.close();
  });

  it("interrupt stops a loop; restart forgets the kernel's variables; a dead kernel says so", async () => {
    await writeNotebook("control.ipynb", [
      ["c-set", "x = 5\nprint('x is', x)"],
      ["c-loop", "while True: pass"],
      ["c-get", "print(x)"],
      ["c-die", "import os; os._exit(3)"],
      ["c-complete", "prin"],
    ]);
    const page = await openNotebook("control.ipynb");
    await runCell(page, "c-set");
    await expect.poll(() => outputText(page, "c-set"), { timeout: 60_000 }).toContain("x is 5");
    // Tab completes from the kernel; Shift-Tab shows what it knows of the name.
    await cell(page, "c-complete").locator(".cm-content").click();
    await page.keyboard.press("End");
    await page.keyboard.press("Tab");
    const options = page.locator(".cm-tooltip-autocomplete li");
    await expect.poll(() => options.allTextContents(), { timeout: 30_000 }).toContain("print");
    await options.filter({ hasText: /^print$/ }).click();
    await expect
      .poll(() => cell(page, "c-complete").locator(".cm-content").textContent())
      .toBe("print");
    await page.keyboard.press("Shift+Tab");
    await expect
      .poll(() => cell(page, "c-complete").getByTestId("nb-inspect").textContent(), {
        timeout: 30_000,
      })
      .toContain("print(");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "notebook-kernel-inspect.png") });
    await page.keyboard.press("Escape");
    await expect(cell(page, "c-complete").getByTestId("nb-inspect").count()).resolves.toBe(0);
    await runCell(page, "c-loop");
    await expect.poll(() => kernelState(page), { timeout: 30_000 }).toBe("busy");
    expect(await prompt(page, "c-loop")).toBe("[*]:");
    // I I in command mode, as in JupyterLab.
    await cell(page, "c-loop").getByTestId("nb-prompt").click();
    await page.keyboard.press("i");
    await page.keyboard.press("i");
    await expect
      .poll(() => outputText(page, "c-loop"), { timeout: 30_000 })
      .toContain("KeyboardInterrupt");
    await expect.poll(() => kernelState(page), { timeout: 30_000 }).toBe("idle");

    await page.getByTestId("nb-restart").click();
    await expect.poll(() => kernelState(page), { timeout: 30_000 }).toBe("idle");
    await runCell(page, "c-get");
    await expect.poll(() => outputText(page, "c-get"), { timeout: 60_000 }).toContain("NameError");

    await runCell(page, "c-die");
    await page.getByTestId("nb-kernel-died").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("nb-kernel-died").textContent()).toContain("code 3");
    expect(await kernelState(page)).toBe("dead");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "notebook-kernel-died.png") });
    // Running on a dead kernel says what to do; Restart brings it back.
    await runCell(page, "c-set");
    await expect
      .poll(() => page.getByTestId("nb-notice").textContent(), { timeout: 10_000 })
      .toContain("restart it");
    await page.getByTestId("nb-kernel-died").getByRole("button", { name: "Restart it" }).click();
    await expect.poll(() => kernelState(page), { timeout: 60_000 }).toBe("idle");
    await runCell(page, "c-set");
    await expect.poll(() => prompt(page, "c-set"), { timeout: 60_000 }).toBe("[1]:");
    await page.close();
  });

  it("the kernel picker names the kernel in the notebook: the file, another tab and the next open have it", async () => {
    // A second kernelspec where Jupyter looks (plus's XDG data home).
    const dir = join(plus.home, ".local", "share", "jupyter", "kernels", "py-alt");
    await mkdir(dir, { recursive: true });
    const spec = JSON.parse(await readFile(IPYKERNEL, "utf8")) as Record<string, unknown>;
    await writeFile(
      join(dir, "kernel.json"),
      JSON.stringify({ ...spec, display_name: "Python (alt)" }),
    );
    await writeNotebook("pick.ipynb", [["c-one", "print('on', 1 + 1)"]]);
    const page = await openNotebook("pick.ipynb");
    const other = await openNotebook("pick.ipynb");
    const select = page.getByTestId("nb-kernel-select");
    await select.focus();
    await expect
      .poll(() => select.locator("option[value=py-alt]").count(), { timeout: 30_000 })
      .toBe(1);
    await select.selectOption("py-alt");
    const metadata = async () =>
      JSON.parse(parseNotebook(await readFile(join(plus.home, "pick.ipynb"), "utf8")).metadata);
    await expect
      .poll(async () => (await metadata()).kernelspec, { timeout: 60_000 })
      .toEqual({ display_name: "Python (alt)", language: "python", name: "py-alt" });
    expect((await metadata()).language_info).toEqual({ name: "python" });
    await expect
      .poll(() => other.getByTestId("nb-kernel-select").inputValue(), { timeout: 30_000 })
      .toBe("py-alt");
    await page.close();
    await other.close();
    // With no kernel running, the next open starts the one the notebook names.
    const run = JSON.parse(await readFile(join(plus.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(
      await readFile(join(plus.dataDir, "secrets.json"), "utf8"),
    ) as { servicesSeed: string };
    const nc = await connectServices({ url: run.natsUrl, seed: servicesSeed }, "e2e kernels");
    try {
      const kid = kernelIdForPath(join(plus.home, "pick.ipynb"));
      expect((await kernelCommand(nc, run.wsid, "ShutdownKernel", { kid })).ok).toBe(true);
      const next = await openNotebook("pick.ipynb");
      await expect.poll(() => kernelState(next), { timeout: 30_000 }).toBe("none");
      expect(await next.getByTestId("nb-kernel-select").textContent()).toContain("Python (alt)");
      await runCell(next, "c-one");
      await expect.poll(() => outputText(next, "c-one"), { timeout: 60_000 }).toContain("on 2");
      await expect
        .poll(async () => (await kernelView(nc, run.wsid, kid))?.kernelspec, { timeout: 10_000 })
        .toBe("py-alt");
      if (SHOTS) await next.screenshot({ path: `${SHOTS}/notebook-kernel-picked.png` });
      await next.close();
    } finally {
      await nc.close();
    }
  });

  it("a display updated in place, and two tabs showing the same outputs", async () => {
    await writeNotebook("two.ipynb", [
      [
        "c-bar",
        "import time\nfrom IPython.display import display\nh = display('step 0', display_id=True)\nfor i in range(1, 6):\n    time.sleep(0.2)\n    h.update(f'step {i}')",
      ],
    ]);
    const one = await openNotebook("two.ipynb");
    const two = await openNotebook("two.ipynb");
    await runCell(one, "c-bar");
    for (const page of [one, two]) {
      await expect.poll(() => outputText(page, "c-bar"), { timeout: 60_000 }).toBe("'step 5'");
      await expect.poll(() => prompt(page, "c-bar"), { timeout: 30_000 }).toBe("[1]:");
    }
    await one.close();
    await two.close();
  });

  it("outputs made while no page is open are kept: closed during a 60 s loop, opened at 40 s, every line is there and it goes on", async () => {
    await writeNotebook("loop.ipynb", [
      [
        "c-loop",
        "import time\nfor i in range(60):\n    print('line', i, flush=True)\n    time.sleep(1)",
      ],
    ]);
    let page = await openNotebook("loop.ipynb");
    await runCell(page, "c-loop");
    await expect.poll(() => outputText(page, "c-loop"), { timeout: 60_000 }).toContain("line 2");
    const started = Date.now();
    await page.close();
    // No page open for the next ~37 s.
    await new Promise((r) => setTimeout(r, 40_000 - (Date.now() - started) - 3000));
    page = await openNotebook("loop.ipynb");
    const lines = async () =>
      (await outputText(page, "c-loop")).split("\n").filter((l) => l.startsWith("line"));
    await expect.poll(async () => (await lines()).length, { timeout: 30_000 }).toBeGreaterThan(35);
    const seen = await lines();
    expect(seen).toEqual(seen.map((_, i) => `line ${i}`));
    // And it goes on, in the page, to its end.
    await expect.poll(async () => (await lines()).length, { timeout: 60_000 }).toBe(60);
    expect(await lines()).toEqual(Array.from({ length: 60 }, (_, i) => `line ${i}`));
    await expect.poll(() => prompt(page, "c-loop"), { timeout: 30_000 }).toBe("[1]:");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "notebook-kernel-kept.png") });
    await page.close();
  }, 180_000);
});
