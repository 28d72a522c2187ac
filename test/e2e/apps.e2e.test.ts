/**
 * Supervised apps from the Apps tab in Chromium against a real plus: a command app
 * (`python3 -m http.server`) started, shown running once its port answers, opened through
 * `/proxy/<n>/`, its log shown, stopped (its process group gone); Debian's jupyter-notebook
 * started from its launcher with its base path and no token, opened through `/port/<n>/`, its
 * log shown; a launcher whose program is missing says how to install it; plus stopping leaves
 * no app process.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findProgram } from "../../services/apps/runner.js";
import { freePort } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { until } from "../helpers/nats.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";
import { groupMembers } from "../helpers/procs.js";

const HAVE_JUPYTER = existsSync("/usr/bin/jupyter-notebook");
if (!HAVE_JUPYTER)
  console.warn(
    "skipping the supervised Jupyter test: no jupyter-notebook (apt-get install jupyter-notebook)",
  );
if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");
const shots = process.env.E2E_SCREENSHOTS;

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("supervised apps in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pids: number[] = [];

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="connection-state"]')?.textContent === "connected",
      undefined,
      { timeout: 30_000 },
    );
    await page.goto(`${plus.url}#apps`);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  /** Starts launcher `kind` on port `p`; resolves with its row once it shows running. */
  async function start(kind: string, p: number, command?: string): Promise<Locator> {
    const card = page.locator(`[data-launcher="${kind}"]`);
    await card.locator('[data-testid="apps-launcher-port"]').fill(String(p));
    if (command) await card.locator('[data-testid="apps-command"]').fill(command);
    await card.locator('[data-testid="apps-start"]').click();
    const row = page.locator(`[data-testid="apps-row"][data-app="a${p}"]`);
    await row.waitFor();
    await page.waitForSelector(
      `[data-testid="apps-row"][data-app="a${p}"][data-status="running"]`,
      {
        timeout: 150_000,
      },
    );
    const pid = Number(await row.getAttribute("data-pid"));
    expect(pid).toBeGreaterThan(0);
    pids.push(pid);
    return row;
  }

  /** Opens a running app's row; resolves with the tab once it left the signed link. */
  async function open(row: Locator, prefix: string): Promise<Page> {
    const [tab] = await Promise.all([
      context.waitForEvent("page"),
      row.locator('[data-testid="apps-row-open"]').click(),
    ]);
    await tab.waitForURL((u) => u.pathname.startsWith(prefix) && !u.search.includes("token"));
    await tab.waitForLoadState();
    return tab;
  }

  it("a command app starts supervised, opens through /proxy/<n>/, shows its log and stops", async () => {
    const p = await freePort();
    const row = await start("command", p, "python3 -m http.server {port} --bind 127.0.0.1");
    const pid = pids.at(-1)!;
    const tab = await open(row, `/proxy/${p}/`);
    expect(await tab.textContent("h1")).toContain("Directory listing");
    await tab.close();
    await row.locator('[data-testid="apps-row-logs"]').click();
    await page.waitForFunction(
      () =>
        document
          .querySelector('[data-testid="apps-log"] pre')
          ?.textContent?.includes('"GET / HTTP'),
      undefined,
      { timeout: 30_000, polling: 250 },
    );
    if (shots)
      await page
        .locator('[data-testid="apps-running"]')
        .screenshot({ path: join(shots, "apps-running-command.png") });
    await row.locator('[data-testid="apps-row-stop"]').click();
    await page.waitForSelector(`[data-testid="apps-row"][data-app="a${p}"][data-status="stopped"]`);
    expect(groupMembers(pid)).toEqual([]);
    expect(await row.locator('[data-testid="apps-row-restart"]').isVisible()).toBe(true);
  });

  it.skipIf(findProgram("code-server") !== undefined)(
    "a launcher whose program is missing says how to install it (code-server is not installed here)",
    async () => {
      const card = page.locator('[data-launcher="code-server"]');
      await card.locator('[data-testid="apps-missing"]').waitFor();
      expect(await card.getAttribute("data-installed")).toBe("no");
      expect(await card.locator('[data-testid="apps-missing"]').textContent()).toContain(
        "code-server.dev/install.sh",
      );
      expect(await card.locator('[data-testid="apps-start"]').isDisabled()).toBe(true);
      if (shots) await card.screenshot({ path: join(shots, "apps-missing.png") });
    },
  );

  it.skipIf(!HAVE_JUPYTER)(
    "Debian's jupyter-notebook starts supervised with its base path, opens through /port/<n>/, shows its log",
    async () => {
      const p = await freePort();
      const row = await start("jupyter-notebook", p);
      const tab = await open(row, `/port/${p}/`);
      // The notebook's file list: no token asked (plus's sign-in is in front of it).
      await tab.waitForSelector("#notebook_list", { timeout: 60_000 });
      expect(await tab.title()).toContain("Home");
      if (shots) await tab.screenshot({ path: join(shots, "apps-jupyter.png") });
      await tab.close();
      await row.locator('[data-testid="apps-row-logs"]').click();
      await page.waitForFunction(
        () =>
          document
            .querySelector('[data-testid="apps-log"] pre')
            ?.textContent?.includes(`NotebookApp.base_url=/port/`),
        undefined,
        { timeout: 30_000, polling: 250 },
      );
      if (shots) {
        await page.screenshot({ path: join(shots, "apps-pane.png") });
        await page
          .locator('[data-testid="apps-running"]')
          .screenshot({ path: join(shots, "apps-running-jupyter.png") });
      }
    },
  );

  it("plus stopping leaves no app process", async () => {
    const p = await freePort();
    await start("command", p, "python3 -m http.server {port} --bind 127.0.0.1");
    expect(pids.some((pid) => groupMembers(pid).length > 0)).toBe(true);
    // With the page still open (as a person stops plus from its terminal): a clean stop, not
    // the forced exit after 20 s.
    expect(await plus.stop()).toBe(0);
    expect(plus.output()).not.toContain("did not stop");
    await until("no app process left", async () =>
      pids.every((pid) => groupMembers(pid).length === 0),
    );
  });
});
