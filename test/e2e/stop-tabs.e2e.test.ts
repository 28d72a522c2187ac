/**
 * Stopping plus with five tabs open: the whole process tree ends (nats-server included), and
 * every tab says that plus stopped; started again, plus takes the same port and the tabs go on
 * by themselves.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import {
  PLUS_BIN,
  plusEnv,
  type RunningPlus,
  removeHome,
  startPlus,
  WEB_BUILT,
} from "../helpers/plus.js";

/** Pids of `pid`'s descendants (ps, as a person would look). */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of rows)
      if (pp === p) {
        out.push(c);
        walk(c);
      }
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SHOTS = process.env.E2E_SCREENSHOTS;

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("stopping plus with tabs open", () => {
  let plus: RunningPlus;
  let browser: Browser;
  const pages: Page[] = [];
  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await plus?.stop("SIGKILL");
    if (plus) await removeHome(plus.home);
  });

  it("SIGTERM with five tabs: every process ends, without SIGKILL", async () => {
    const context = await browser.newContext();
    for (let i = 0; i < 5; i++) {
      const page = await context.newPage();
      await page.goto(i === 0 ? plus.signInUrl : plus.url);
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
        .toBe("connected");
      pages.push(page);
    }
    const tree = descendants(plus.child.pid!);
    expect(tree.length).toBeGreaterThan(0);
    const began = Date.now();
    const code = await plus.stop("SIGTERM");

    // How long it took is printed, not asserted (the machine is shared); it ended by itself.
    console.log(`plus stopped with five tabs open in ${Date.now() - began} ms`);
    expect(code).toBe(0);
    expect(plus.output()).not.toMatch(/did not stop/);
    await expect.poll(() => tree.filter(alive), { timeout: 10_000 }).toEqual([]);
    for (const page of pages)
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 10_000 })
        .toBe("plus stopped");
    if (SHOTS) await pages[0]!.screenshot({ path: `${SHOTS}/plus-stopped.png` });
  }, 120_000);

  it("the stopped tabs say how to find plus; started again, it takes the same port and every tab goes on without a reload", async () => {
    for (const page of pages)
      await expect
        .poll(() => page.getByTestId("away-banner").textContent(), { timeout: 30_000 })
        .toMatch(/cocalc-plus stopped.*cocalc-plus open/);
    if (SHOTS) await pages[0]!.screenshot({ path: `${SHOTS}/plus-away.png` });
    // A mark in each page: still there afterwards means the page was never reloaded.
    for (const page of pages)
      await page.evaluate(() => {
        (window as unknown as { beforeRestart: boolean }).beforeRestart = true;
      });
    const before = plus.port;
    plus = await startPlus({ home: plus.home, dataDir: plus.dataDir, port: "last" });
    expect(plus.port).toBe(before);
    for (const page of pages) {
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 60_000 })
        .toBe("connected");
      await expect.poll(() => page.getByTestId("away-banner").count()).toBe(0);
    }
    for (const page of pages)
      expect(
        await page.evaluate(() => (window as unknown as { beforeRestart?: boolean }).beforeRestart),
      ).toBe(true);
    if (SHOTS) await pages[0]!.screenshot({ path: `${SHOTS}/plus-back.png` });
  }, 120_000);
  it("uninstall with the five tabs open: plus is stopped first, every process ends without SIGKILL, the tabs say so, the data stays", async () => {
    const tree = descendants(plus.child.pid!);
    expect(tree.length).toBeGreaterThan(0);
    const cache = join(plus.home, ".cache", "cocalc", "cocalc-plus", "0.0.1");
    await mkdir(cache, { recursive: true });
    const began = Date.now();
    // spawnSync: plus (this process's child) stays a zombie until uninstall has returned, as
    // under a parent that does not reap it at once; an exited plus counts as stopped.
    const r = spawnSync(process.execPath, [PLUS_BIN, "uninstall", "--data-dir", plus.dataDir], {
      env: plusEnv(plus.home),
      encoding: "utf8",
      timeout: 60_000,
    });
    console.log(`uninstall stopped plus with five tabs open in ${Date.now() - began} ms`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed the installed bundles and cache/);
    expect(r.stdout).toMatch(/kept the data/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/did not stop|SIGKILL/);
    const code =
      plus.child.exitCode ??
      (await new Promise<number | null>((res) => plus.child.once("exit", (c) => res(c))));
    expect(code).toBe(0);
    await expect.poll(() => tree.filter(alive), { timeout: 10_000 }).toEqual([]);
    expect(existsSync(cache)).toBe(false);
    expect(existsSync(plus.dataDir)).toBe(true);
    for (const page of pages)
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 10_000 })
        .toBe("plus stopped");
  }, 120_000);
});
