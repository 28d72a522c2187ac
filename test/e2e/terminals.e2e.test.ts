import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ptyHostPid } from "../../services/terminals/host-client.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

/** The text on a page's terminal screen (rows as lines). */
function screen(page: Page): Promise<string> {
  return page.evaluate(() => {
    const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
    return Array.from(rows?.children ?? [])
      .map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd())
      .join("\n");
  });
}

/** The centre of `text` on the terminal screen, for the mouse. */
function positionOf(page: Page, text: string): Promise<{ x: number; y: number } | undefined> {
  return page.evaluate((wanted) => {
    const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
    const walker = document.createTreeWalker(rows!, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const i = (n.textContent ?? "").replace(/\u00a0/g, " ").indexOf(wanted);
      if (i < 0) continue;
      const range = document.createRange();
      range.setStart(n, i);
      range.setEnd(n, i + wanted.length);
      const r = range.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }
    return undefined;
  }, text);
}

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("terminals in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    await writeFile(join(plus.home, "e2e-listed-file.txt"), "hello\n");
    browser = await launchChromium();
    context = await browser.newContext({
      viewport: { width: 1200, height: 760 },
      permissions: ["clipboard-read", "clipboard-write"],
    });
    // Sign in once; later pages of this context share the stored credential.
    const page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    // SIGTERM: plus ends its terminals (and their pty host) as it stops.
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  async function terminalsPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${plus.url}#terminals`);
    await page.getByTestId("terminals").waitFor({ timeout: 30_000 });
    return page;
  }

  async function typeIn(page: Page, text: string) {
    await page.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await page.keyboard.type(text);
  }

  let first: Page;

  it("new terminal, ls shows the home directory; a reload shows the same screen", async () => {
    first = await terminalsPage();
    await first.getByTestId("terminal-new-empty").click();
    await first.locator('[data-testid="terminal-screen"] .xterm-rows').waitFor();
    await expect.poll(() => first.getByTestId("terminal-state").textContent()).toBe("running");
    await typeIn(first, "ls\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("e2e-listed-file.txt");
    // A login shell with the login PATH.
    await typeIn(first, "echo path=$PATH\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toMatch(/path=.*\/usr\/local\/bin/);
    if (SHOTS) await first.screenshot({ path: `${SHOTS}/terminal.png` });

    await first.reload();
    await first.locator('[data-testid="terminal-screen"] .xterm-rows').waitFor({ timeout: 30_000 });
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("e2e-listed-file.txt");
    expect(await screen(first)).toMatch(/path=/);
    expect(await first.getByTestId("terminal-tab").count()).toBe(1);
  });

  it("a second page shows the same terminal live, can type into it, and both count 2 viewers", async () => {
    const second = await terminalsPage();
    await expect.poll(() => screen(second), { timeout: 30_000 }).toContain("e2e-listed-file.txt");
    await typeIn(second, "echo from-second-$((40+2))\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("from-second-42");
    await expect.poll(() => screen(second), { timeout: 30_000 }).toContain("from-second-42");
    for (const p of [first, second]) {
      await expect
        .poll(() => p.getByTestId("terminal-viewers").getAttribute("data-count"), {
          timeout: 30_000,
        })
        .toBe("2");
    }
    if (SHOTS) await second.screenshot({ path: `${SHOTS}/terminal-second.png` });
    await second.close();
    await expect
      .poll(() => first.getByTestId("terminal-viewers").getAttribute("data-count"), {
        timeout: 60_000,
      })
      .toBe("1");
  });

  it("copy from the terminal gives the text; paste types it", async () => {
    const at = await positionOf(first, "e2e-listed-file.txt");
    expect(at).toBeDefined();
    await first.mouse.dblclick(at!.x, at!.y);
    await first.keyboard.press("Control+Shift+C");
    await expect
      .poll(() => first.evaluate(() => navigator.clipboard.readText()), { timeout: 10_000 })
      .toBe("e2e-listed-file.txt");
    await first.evaluate(() => navigator.clipboard.writeText("echo pasted-$((3*3))"));
    await first.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await first.keyboard.press("Control+Shift+V");
    await first.keyboard.press("Enter");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("pasted-9");
  });

  it("search finds text in the scrollback; at the bottom the wheel scrolls the page", async () => {
    await typeIn(first, "seq 1 300 | sed 's/^/row-/'\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toMatch(/^row-300$/m);
    expect(await screen(first)).not.toMatch(/^row-42$/m);
    await first.keyboard.press("Control+Shift+F");
    await first.getByTestId("terminal-search").fill("row-42");
    await first.getByTestId("terminal-search").press("Enter");
    // The match, far up in the scrollback, is scrolled into view.
    await expect.poll(() => screen(first), { timeout: 10_000 }).toMatch(/^row-42$/m);
    await first.getByTestId("terminal-search").press("Escape");

    await first.evaluate(() => {
      const seen: boolean[] = [];
      (window as unknown as { wheels: boolean[] }).wheels = seen;
      // Captured first, judged after the dispatch: did anyone keep the page from scrolling?
      window.addEventListener("wheel", (e) => setTimeout(() => seen.push(e.defaultPrevented)), {
        capture: true,
        passive: false,
      });
    });
    const box = (await first.locator('[data-testid="terminal-screen"]').boundingBox())!;
    await first.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await typeIn(first, "clear; seq 1 200\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toMatch(/^200$/m);
    await first.mouse.wheel(0, 300); // at the bottom already: not the terminal's to take
    await first.mouse.wheel(0, -300); // up: the terminal scrolls its scrollback
    await expect
      .poll(() => first.evaluate(() => (window as unknown as { wheels: boolean[] }).wheels))
      .toEqual([false, true]);
  });

  it("links in the output open in a new tab", async () => {
    const link = `${plus.url}healthz`;
    await typeIn(first, `clear; echo see ${link}\n`);
    await expect.poll(() => screen(first), { timeout: 30_000 }).toMatch(/^see http/m);
    const at = (await positionOf(first, "healthz"))!;
    await first.mouse.move(at.x - 30, at.y);
    await first.mouse.move(at.x, at.y);
    const [opened] = await Promise.all([
      context.waitForEvent("page", { timeout: 10_000 }),
      first.mouse.click(at.x, at.y),
    ]);
    await expect.poll(() => opened.url(), { timeout: 10_000 }).toBe(link);
    await opened.close();
  });

  it("a flood (yes) keeps the page usable: Ctrl+C and the next command show up", async () => {
    await typeIn(first, "yes e2e-flood\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("e2e-flood\ne2e-flood");
    // Let it run a while (not a measurement): far more output than a page could render.
    await first.waitForTimeout(4000);
    await first.keyboard.press("Control+C");
    await typeIn(first, "echo flood-over-$((6*7))\n");
    await expect.poll(() => screen(first), { timeout: 60_000 }).toContain("flood-over-42");
  });

  it("output that flows while the Terminals tab is hidden is all on the screen when it is shown again", async () => {
    await typeIn(
      first,
      "for i in $(seq 1 4000); do echo line$i; done; sleep 1; echo FIN-$((1+1))\n",
    );
    await first.getByTestId("tab-files").click();
    await first.waitForTimeout(3000);
    await first.getByTestId("tab-terminals").click();
    // The end of the output and the prompt after it, without a key pressed.
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("line4000\nFIN-2");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toMatch(/FIN-2\n\S+@\S+:~[#$]/);
  });

  it("an exited shell says so with its code and restarts", async () => {
    await typeIn(first, "exit 5\n");
    await expect
      .poll(() => first.getByTestId("terminal-exited").textContent(), { timeout: 30_000 })
      .toContain("exited (code 5)");
    if (SHOTS) await first.screenshot({ path: `${SHOTS}/terminal-exited.png` });
    await first.getByTestId("terminal-restart").click();
    await expect.poll(() => first.getByTestId("terminal-exited").count()).toBe(0);
    await typeIn(first, "echo restarted-$((5+5))\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("restarted-10");
    expect(ptyHostPid(join(plus.dataDir, "terminals"))).toBeDefined();
  });

  it("keys typed while nats-server restarts reach the shell once it is back, once each", async () => {
    await typeIn(first, "clear\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).not.toContain("restarted-10");
    const pid = Number(readFileSync(join(plus.dataDir, "nats/nats-server.pid"), "utf8"));
    process.kill(pid, "SIGKILL");
    // Typed at once, while the page and the services are cut off.
    await typeIn(first, "echo away-$((6*7))-typed\n");
    await expect.poll(() => screen(first), { timeout: 60_000 }).toContain("away-42-typed");
    await expect.poll(() => first.getByTestId("terminal-keys-waiting").count()).toBe(0);
    // Sent again until acknowledged, written once: the command ran once.
    await typeIn(first, "echo after-$((1+1))\n");
    await expect.poll(() => screen(first), { timeout: 30_000 }).toContain("after-2");
    expect((await screen(first)).split("away-42-typed").length - 1).toBe(1);
  });
});
