import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeRedirectPage } from "../../cli/plus/open-browser.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("workspace shell in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  async function borderColor(page: Page): Promise<string> {
    return page.evaluate(() => getComputedStyle(document.body).borderLeftColor);
  }

  it("opens the printed URL: connected, every service healthy, token gone from the URL", async () => {
    const page = await context.newPage();
    await page.goto(plus.signInUrl);
    await expect.poll(() => page.url()).toBe(plus.url);
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
      .toBe("connected");
    const health = page.getByTestId("service-health");
    await expect.poll(() => health.count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect
      .poll(
        async () =>
          (
            await health.evaluateAll((els) => els.map((e) => e.getAttribute("data-liveness")))
          ).every((l) => l === "healthy"),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    expect(
      await health.evaluateAll((els) => els.map((e) => e.getAttribute("data-service"))),
    ).toContain("workspace");
    for (const tab of ["files", "editor", "terminals", "agents", "settings"]) {
      expect(await page.getByTestId(`tab-${tab}`).count(), tab).toBe(1);
    }
    await expect.poll(() => page.title()).not.toBe("");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/shell.png` });
    await page.close();
  });

  it("a colour changed in one tab shows in the second without reload", async () => {
    const a = await context.newPage();
    const b = await context.newPage();
    await a.goto(`${plus.url}#settings`);
    await b.goto(plus.url);
    for (const p of [a, b])
      await expect
        .poll(() => p.getByTestId("connection-state").textContent(), { timeout: 30_000 })
        .toBe("connected");
    const input = a.getByTestId("settings-color");
    await input.waitFor({ timeout: 30_000 });
    const before = await borderColor(b);
    const next = before === "rgb(170, 51, 102)" ? "#33aa66" : "#aa3366";
    const expected = next === "#aa3366" ? "rgb(170, 51, 102)" : "rgb(51, 170, 102)";
    await input.fill(next);
    await expect.poll(() => borderColor(a), { timeout: 30_000 }).toBe(expected);
    await expect.poll(() => borderColor(b), { timeout: 30_000 }).toBe(expected);
    if (SHOTS) {
      await a.screenshot({ path: `${SHOTS}/settings.png` });
      await b.screenshot({ path: `${SHOTS}/second-tab.png` });
    }

    // The title follows the workspace title in every tab.
    const title = a.getByTestId("settings-title");
    await title.fill("e2e workspace");
    await title.press("Enter");
    await expect.poll(() => b.title(), { timeout: 30_000 }).toContain("e2e workspace");
    await a.close();
    await b.close();
  });

  it("theme and font sizes are workspace settings: a second tab follows without reload", async () => {
    const a = await context.newPage();
    const b = await context.newPage();
    await a.goto(`${plus.url}#settings`);
    await b.goto(plus.url);
    for (const p of [a, b])
      await expect
        .poll(() => p.getByTestId("connection-state").textContent(), { timeout: 30_000 })
        .toBe("connected");
    const theme = (p: Page) => p.evaluate(() => document.documentElement.dataset.theme);
    const background = (p: Page) =>
      p.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--bg").trim());
    // Headless Chromium prefers light: "system" is light.
    await expect.poll(() => theme(b), { timeout: 30_000 }).toBe("light");
    await a.getByTestId("settings-theme").selectOption("dark");
    await expect.poll(() => theme(b), { timeout: 30_000 }).toBe("dark");
    expect(await background(b)).toBe("#111317");

    const size = a.getByTestId("settings-terminal-font");
    await size.fill("99");
    await size.dispatchEvent("change");
    await expect.poll(() => a.getByTestId("settings-error").count()).toBeGreaterThan(0);
    await expect.poll(() => size.inputValue()).toBe("14");
    await size.fill("18");
    await size.dispatchEvent("change");
    await b.goto(`${plus.url}#settings`);
    await expect
      .poll(() => b.getByTestId("settings-terminal-font").inputValue(), { timeout: 30_000 })
      .toBe("18");
    if (SHOTS) await b.screenshot({ path: `${SHOTS}/settings-dark.png` });
    await a.getByTestId("settings-theme").selectOption("system");
    await expect.poll(() => theme(b), { timeout: 30_000 }).toBe("light");
    await a.close();
    await b.close();
  });

  it("shows reconnecting while nats-server restarts, then works again", async () => {
    const page = await context.newPage();
    await page.goto(`${plus.url}#settings`);
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
      .toBe("connected");
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenStates: string[] }).seenStates = seen;
      const el = document.querySelector('[data-testid="connection-state"]')!;
      new MutationObserver(() => seen.push(el.textContent ?? "")).observe(el, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const pid = Number(readFileSync(join(plus.dataDir, "nats/nats-server.pid"), "utf8"));
    process.kill(pid, "SIGKILL");
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates), {
        timeout: 60_000,
      })
      .toContain("reconnecting");
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 60_000 })
      .toBe("connected");
    // The page reconnects on its own; the settings service may still be reconnecting (its
    // command then fails with "no responders" and the page says so): the change is made
    // again until it takes, as a person would.
    await expect
      .poll(
        async () => {
          const color = await borderColor(page);
          if (color !== "rgb(34, 85, 170)") {
            await page.getByTestId("settings-color").fill("#000000");
            await page.getByTestId("settings-color").fill("#2255aa");
          }
          return color;
        },
        { timeout: 60_000, interval: 3000 },
      )
      .toBe("rgb(34, 85, 170)");
    await page.close();
  });

  it("the page plus opens the browser with (its path is all the opener's argv holds) signs in", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cocalc-open-"));
    const file = await writeRedirectPage(plus.signInUrl, dir);
    expect(file).not.toContain(plus.token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const fresh = await browser.newContext();
    const page = await fresh.newPage();
    await page.goto(`file://${file}`);
    await expect.poll(() => page.url(), { timeout: 30_000 }).toBe(plus.url);
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
      .toBe("connected");
    // A second open replaces the first page instead of piling them up.
    await writeRedirectPage(plus.signInUrl, dir);
    expect(readdirSync(dir)).toHaveLength(1);
    await fresh.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("without the token the page says how to sign in", async () => {
    const fresh = await browser.newContext();
    const page = await fresh.newPage();
    const res = await page.goto(plus.url);
    // The app shell holds no secret; the page itself says it is not signed in.
    expect(res?.status()).toBe(200);
    await page.getByTestId("signed-out").waitFor({ timeout: 30_000 });
    expect(await page.textContent("body")).toContain("?token=");
    // A wrong token says so.
    await page.goto(`${plus.url}?token=wrong-token-0123456789`);
    await page.getByTestId("signed-out").waitFor({ timeout: 30_000 });
    expect(await page.textContent("body")).toContain("token in this URL is wrong");
    expect(page.url()).toBe(plus.url);
    await fresh.close();
  });
});
