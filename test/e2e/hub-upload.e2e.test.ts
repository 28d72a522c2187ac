/**
 * A hosted workspace's page in Chromium uploads through the hub: 200 files dropped as a folder
 * on its Files tab arrive in the container workspace, owned by its user, with the same
 * uploads panel as plus; the folder downloads again (as tar) through a signed link.
 * The hub runs as its own process with the host it runs joined to itself (real btrfs, podman).
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UID_BASE, workspacePaths } from "../../services/host/index.js";
import { WORKSPACE_UID } from "../../shared/launchpad.js";
import { dropFiles, HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { hubPages } from "../helpers/hub-pages.js";
import { type HubProcess, startHubProcess } from "../helpers/hub-process.js";
import { type HostMachine, hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubupload1";
const N = 200;
const unsupported =
  (await hostUnsupported()) ??
  (!HAVE_CHROMIUM ? "no Chromium" : undefined) ??
  (!WEB_BUILT ? "not built (npm run build)" : undefined);
if (unsupported) console.warn(`hub upload e2e skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)(
  "a hosted workspace's page uploads through the hub",
  () => {
    let m: HostMachine;
    let hub: HubProcess;
    let browser: Browser;

    beforeAll(async () => {
      m = await setupHostMachine(HOST, 2048);
      hub = await startHubProcess(m, HOST);
      browser = await launchChromium();
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await hub?.stop();
      await m?.cleanup();
    });

    it("200 files uploaded into the container workspace", async () => {
      // The admin's browser, signed in.
      const pages = hubPages(browser, hub.base);
      const page = await pages.open(hub.credential);
      await page.goto(`${hub.base}/ws/${hub.wsid}/`);
      await page.getByTestId("workspace-shell").waitFor({ timeout: 60_000 });
      await expect
        .poll(() => page.getByTestId("breadcrumb").getAttribute("data-path"), { timeout: 60_000 })
        .toBe("/home/user");
      await dropFiles(
        page,
        "[data-testid=explorer]",
        Array.from({ length: N }, (_, i) => ({ path: `batch/f${i}.txt`, size: 100 + i })),
      );
      await expect
        .poll(() => page.getByTestId("uploads").locator(".uploads-header > span").textContent(), {
          timeout: 180_000,
        })
        .toBe(`${N} uploaded`);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/hub-ws-uploaded.png` });
      const dir = join(workspacePaths(m.root, hub.wsid).home, "batch");
      const names = await readdir(dir);
      expect(names.length).toBe(N);
      const st = await stat(join(dir, "f7.txt"));
      expect(st.size).toBe(107);
      expect(st.uid).toBe(UID_BASE + WORKSPACE_UID);
      // The folder shows in the explorer (the upload's events refreshed it).
      await page.locator('[data-testid=file-row][data-name="batch"]').waitFor({ timeout: 30_000 });

      // The explorer's Download goes through a signed link to the hub's route: a folder as tar.
      await page.locator('[data-testid=file-row][data-name="batch"] input[type=checkbox]').check();
      const folder = page.waitForEvent("download");
      await page.getByTestId("action-download").click();
      const got = await folder;
      expect(got.suggestedFilename()).toBe("batch.tar");
      expect((await stat((await got.path())!)).size).toBeGreaterThan(N * 512);
      await pages.close();
    });
  },
);
