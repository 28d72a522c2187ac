/**
 * A damaged store under a real plus: the WORKSPACES stream's block file cut in half while
 * plus is stopped. The restarted plus finds the loss, the page says what was lost, settings
 * work again.
 */
import { open, readdir, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPlus, sendCommand } from "../../cli/plus/client.js";
import { Streams } from "../../shared/subjects.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, tempHome, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const N = 200;

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("a damaged store, in Chromium", () => {
  let home: string;
  let plus: RunningPlus | undefined;
  let browser: Browser;
  beforeAll(async () => {
    home = await tempHome();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await plus?.stop();
    await removeHome(home);
  });

  it("the page says which events were lost; the workspace takes settings again", async () => {
    plus = await startPlus({ home });
    const { nc, run } = await connectPlus(plus.dataDir, "e2e damage");
    for (let i = 1; i <= N; i++)
      await sendCommand(nc, run.wsid, "workspace", "ChangeSettings", { title: `title ${i}` });
    await nc.close();
    expect(await plus.stop()).toBe(0);

    const msgs = join(plus.dataDir, "nats", "jetstream", "jetstream", "$G", "streams");
    const dir = join(msgs, Streams.WORKSPACES, "msgs");
    const block = join(
      dir,
      (await readdir(dir))
        .filter((f) => f.endsWith(".blk"))
        .sort()
        .at(-1)!,
    );
    await truncate(block, Math.floor((await stat(block)).size / 2));

    plus = await startPlus({ home });
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 500 } })
    ).newPage();
    await page.goto(`${plus.signInUrl}`);
    const losses = page.getByTestId("store-losses");
    await expect.poll(() => losses.count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByTestId("store-loss").first().textContent()).toMatch(
      /^\d+ events? of WORKSPACES lost \(sequences \d+\.\.\d+\)$/,
    );
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/damaged-store.png` });

    const again = await connectPlus(plus.dataDir, "e2e damage after");
    await sendCommand(again.nc, again.run.wsid, "workspace", "ChangeSettings", {
      title: "after the damage",
    });
    await expect
      .poll(() => page.getByTestId("workspace-title").textContent(), { timeout: 30_000 })
      .toBe("after the damage");
    await again.nc.close();

    await page.getByTestId("store-losses-dismiss").click();
    await expect.poll(() => losses.count()).toBe(0);
    await page.context().close();
    await plus.stop();
  }, 180_000);

  it("garbage inside a block: the page names the message that cannot be read", async () => {
    const other = await tempHome();
    try {
      plus = await startPlus({ home: other });
      const { nc, run } = await connectPlus(plus.dataDir, "e2e garbage");
      for (let i = 1; i <= N; i++)
        await sendCommand(nc, run.wsid, "workspace", "ChangeSettings", { title: `title ${i}` });
      await nc.close();
      expect(await plus.stop()).toBe(0);

      const dir = join(
        plus.dataDir,
        "nats",
        "jetstream",
        "jetstream",
        "$G",
        "streams",
        Streams.WORKSPACES,
        "msgs",
      );
      const block = join(dir, (await readdir(dir)).filter((f) => f.endsWith(".blk")).sort()[0]!);
      const fh = await open(block, "r+");
      const garbage = Buffer.from("GARBAGE".repeat(3));
      await fh.write(garbage, 0, garbage.length, Math.floor((await stat(block)).size / 2));
      await fh.close();

      plus = await startPlus({ home: other });
      const page = await (
        await browser.newContext({ viewport: { width: 1280, height: 500 } })
      ).newPage();
      await page.goto(plus.signInUrl);
      await expect.poll(() => page.getByTestId("store-loss").count(), { timeout: 30_000 }).toBe(1);
      expect(await page.getByTestId("store-loss").textContent()).toMatch(
        /^1 event of WORKSPACES unreadable \(sequence \d+\)$/,
      );
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/unreadable-event.png` });
      await page.context().close();
      await plus.stop();
    } finally {
      await removeHome(other);
    }
  }, 180_000);
});
