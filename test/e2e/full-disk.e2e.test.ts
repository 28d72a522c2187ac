/**
 * A full disk under a real plus's data dir (a small tmpfs, root only): the page says so in
 * words, /healthz is degraded, and both clear by themselves once space is freed.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, open, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

function mountTmpfs(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root: mounting a tmpfs needs root";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", dir]);
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
}

const base = await mkdtemp(join(tmpdir(), "cocalc-e2e-full-"));
const why = !WEB_BUILT ? "dist/web is not built (npm run build)" : mountTmpfs(base);
if (why) console.warn(`full-disk e2e skipped: ${why}`);

async function fill(file: string): Promise<void> {
  const fh = await open(file, "w");
  const chunk = Buffer.alloc(256 * 1024);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    await fh.close();
  }
}

describe.skipIf(!HAVE_CHROMIUM || why !== undefined)("a full disk, in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  beforeAll(async () => {
    plus = await startPlus({
      home: join(base, "home"),
      env: { COCALC_STORE_CHECK_MS: "300", COCALC_STORE_MIN_FREE_MB: "1" },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await plus?.stop();
    if (!why) {
      execFileSync("umount", [base]);
      await rmdir(base);
    }
  });

  const health = async () => {
    const r = await fetch(`${plus.url}healthz`);
    return { code: r.status, body: (await r.json()) as { status: string; reason?: string } };
  };

  it("the page says 'disk full: N MB free on …', /healthz is degraded, and both recover", async () => {
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 600 } })
    ).newPage();
    await page.goto(plus.signInUrl);
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
      .toBe("connected");
    await expect.poll(async () => (await health()).code, { timeout: 30_000 }).toBe(200);

    const filler = join(base, "filler");
    await fill(filler);
    const banner = page.getByTestId("store-banner");
    await expect.poll(() => banner.count(), { timeout: 30_000 }).toBe(1);
    expect(await banner.textContent()).toMatch(
      new RegExp(`^disk full: [\\d.]+ MB free on ${plus.dataDir}/nats: nothing new is saved`),
    );
    const h = await health();
    expect(h.code).toBe(503);
    expect(h.body).toMatchObject({
      status: "degraded",
      reason: expect.stringMatching(/^disk full/),
    });
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/full-disk.png` });

    await rm(filler);
    await expect.poll(() => banner.count(), { timeout: 60_000 }).toBe(0);
    await expect.poll(async () => (await health()).code, { timeout: 60_000 }).toBe(200);
    await expect
      .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 30_000 })
      .toBe("connected");
  }, 180_000);
});
