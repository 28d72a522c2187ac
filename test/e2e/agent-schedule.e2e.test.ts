/**
 * Scheduled prompts in Chromium: a schedule made in the thread's header (its next runs shown
 * as it is typed, a bad cron expression refused before it is sent), the next run in the
 * thread list, a run that comes as a turn marked as scheduled, pause and remove. The run waits
 * for the next whole minute of the real clock ("* * * * *").
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bubblewrapAvailable } from "../../services/agents/sandbox.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const AGENT = new URL("../fixtures/scripted-agent.mjs", import.meta.url).pathname;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("scheduled prompts in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    plus = await startPlus();
    await mkdir(join(plus.home, "project"));
    await writeFile(join(plus.home, "project", "cron.chat"), '{"type":"cocalc-chat","v":1}\n');
    browser = await launchChromium();
    context = await browser.newContext({
      viewport: { width: 1280, height: 860 },
      timezoneId: "Europe/Berlin",
    });
    page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  it("a schedule made in the header runs its prompt as a turn; pause and remove", async () => {
    await page.goto(`${plus.url}files/project/cron.chat`);
    await page.getByTestId("new-thread").click({ timeout: 30_000 });
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await page.getByTestId("thread-settings-toggle").click();
    const settings = page.getByTestId("thread-settings");
    await settings.locator("select").first().selectOption("custom");
    await page.getByTestId("agent-command").fill(`${process.execPath} ${AGENT}`);
    if (!bubblewrapAvailable()) await settings.locator("select").nth(1).selectOption("full-access");
    await page.getByTestId("save-settings").click();
    await expect.poll(() => page.locator(".agents-summary").textContent()).toContain("custom");

    await page.getByTestId("schedule-toggle").click();
    const form = page.getByTestId("schedule-form");
    // The page's time zone is the default.
    expect(await page.getByTestId("schedule-zone").inputValue()).toBe("Europe/Berlin");
    await page.getByTestId("schedule-prompt").fill("say scheduled hello");
    await page.getByTestId("schedule-kind").selectOption("cron");
    await page.getByTestId("schedule-cron").fill("every minute please");
    await expect
      .poll(() => page.getByTestId("schedule-preview").textContent())
      .toMatch(/is not valid: .*five fields/);
    expect(await page.getByTestId("schedule-save").isDisabled()).toBe(true);
    await page.getByTestId("schedule-cron").fill("* * * * *");
    await expect
      .poll(() => page.getByTestId("schedule-preview").textContent())
      .toMatch(/^Next runs: .+ · .+ · .+/);
    if (SHOTS) await form.screenshot({ path: `${SHOTS}/agents-schedule-form.png` });
    await page.getByTestId("schedule-save").click();
    await expect.poll(() => form.count(), { timeout: 10_000 }).toBe(0);

    const chip = page.getByTestId("schedule-summary");
    await expect
      .poll(() => chip.textContent(), { timeout: 10_000 })
      .toMatch(/cron \* \* \* \* \* · next /);
    await expect.poll(() => page.getByTestId("thread-next-run").count()).toBe(1);
    expect(await page.getByTestId("thread-next-run").textContent()).toMatch(/\d\d:\d\d/);

    // The next whole minute: the run is a turn of this thread, marked as scheduled.
    const turn = page.getByTestId("turn").first();
    await turn.waitFor({ timeout: 90_000 });
    expect(await turn.getByTestId("turn-scheduled").textContent()).toMatch(/^Scheduled run for /);
    await expect
      .poll(async () => (await turn.getByTestId("turn-log").textContent()) ?? "", {
        timeout: 30_000,
      })
      .toContain("scheduled hello");
    await expect.poll(() => turn.getAttribute("data-status"), { timeout: 30_000 }).toBe("finished");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-scheduled-run.png` });

    await page.getByTestId("schedule-toggle").click();
    await page.getByTestId("schedule-pause").click();
    await expect.poll(() => chip.getAttribute("data-paused")).toBe("yes");
    expect(await chip.textContent()).toContain("paused");
    await expect.poll(() => page.getByTestId("thread-next-run").count()).toBe(0);

    await page.getByTestId("schedule-toggle").click();
    await page.getByTestId("schedule-remove").click();
    await expect.poll(() => chip.count()).toBe(0);
  }, 180_000);
});
