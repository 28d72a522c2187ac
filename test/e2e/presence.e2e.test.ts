import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

/** The names on a page's avatars in `testid` (the top bar's, or the agents thread's). */
async function names(page: Page, testid: string): Promise<string[]> {
  const row = page.getByTestId(testid);
  if ((await row.count()) === 0) return [];
  return row
    .getByTestId("presence-avatar")
    .evaluateAll((els) => els.map((e) => e.getAttribute("data-name") ?? ""));
}

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("workspace presence in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let first: Page;
  let second: Page;

  beforeAll(async () => {
    plus = await startPlus();
    await mkdir(join(plus.home, "project"));
    await writeFile(join(plus.home, "project", "e2e.chat"), '{"type":"cocalc-chat","v":1}\n');
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // Sign in once; later pages of this context share the stored credential.
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

  async function chatPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${plus.url}files/project/e2e.chat`);
    await page.getByTestId("agents").waitFor({ timeout: 30_000 });
    return page;
  }

  it("presence - two pages on one agents thread show each other in the header and the thread", async () => {
    first = await chatPage();
    await first.getByTestId("new-thread").click();
    await first.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    second = await chatPage();
    // The newest thread is the one selected, so the second page opens the same thread.
    await second.getByTestId("thread-pane").waitFor({ timeout: 30_000 });

    await expect
      .poll(() => names(first, "workspace-presence"), { timeout: 30_000 })
      .toHaveLength(1);
    await expect
      .poll(() => names(second, "workspace-presence"), { timeout: 30_000 })
      .toHaveLength(1);
    const [secondName] = await names(first, "workspace-presence");
    const [firstName] = await names(second, "workspace-presence");
    expect(secondName).toMatch(/^Chrome \S{3}$/);
    expect(firstName).toMatch(/^Chrome \S{3}$/);
    expect(firstName).not.toBe(secondName);

    await expect
      .poll(() => names(first, "thread-presence"), { timeout: 30_000 })
      .toEqual([secondName]);
    await expect
      .poll(() => names(second, "thread-presence"), { timeout: 30_000 })
      .toEqual([firstName]);
    // The tooltip says where: the Agents tab, in this chat file.
    const title = await first
      .getByTestId("workspace-presence")
      .getByTestId("presence-avatar")
      .getAttribute("title");
    expect(title).toBe(`${secondName}: Agents: ${join(plus.home, "project", "e2e.chat")}`);
    if (SHOTS) await first.screenshot({ path: `${SHOTS}/presence-agents.png` });
  });

  it("presence - a page that moves to another tab leaves the thread's list, not the header", async () => {
    await second.getByTestId("tab-files").click();
    await expect.poll(() => names(first, "thread-presence"), { timeout: 30_000 }).toEqual([]);
    expect(await names(first, "workspace-presence")).toHaveLength(1);
    await expect
      .poll(
        () =>
          first
            .getByTestId("workspace-presence")
            .getByTestId("presence-avatar")
            .getAttribute("title"),
        { timeout: 30_000 },
      )
      .toMatch(/: Files: /);
  });

  it("presence - a page closed disappears from the others", async () => {
    await second.close({ runBeforeUnload: true });
    await expect.poll(() => names(first, "workspace-presence"), { timeout: 30_000 }).toEqual([]);
    if (SHOTS) await first.screenshot({ path: `${SHOTS}/presence-alone.png` });
  });
});
