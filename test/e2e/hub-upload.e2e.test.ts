/**
 * A hosted workspace's page in Chromium uploads through the hub: 200 files dropped as a folder
 * on its Files tab arrive in the container workspace, owned by its user, with the same
 * uploads panel as plus; the folder downloads again (as tar) through a signed link.
 * The hub runs as its own process with the host it runs joined to itself (real btrfs, podman).
 */
import { stat } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workspacePaths } from "../../services/host/index.js";
import { launchChromium } from "../helpers/browser.js";
import { hubPages, hubPagesUnsupported, openFiles, uploadBatch } from "../helpers/hub-pages.js";
import { type HubProcess, startHubProcess } from "../helpers/hub-process.js";
import { type HostMachine, setupHostMachine } from "../helpers/launchpad.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubupload1";
const N = 200;
const unsupported = await hubPagesUnsupported();
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
      await openFiles(page, `${hub.base}/ws/${hub.wsid}/`);
      await uploadBatch(page, workspacePaths(m.root, hub.wsid).home, N);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/hub-ws-uploaded.png` });
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
