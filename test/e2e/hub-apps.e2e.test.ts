/**
 * The Apps tab of a launchpad workspace in Chromium: the owner starts a web app from a
 * launcher; it runs inside the container as the workspace's user, shows "running" once its
 * port answers there, and opens at an origin of its own behind the hub's sign-in; a program
 * the image lacks says so; a viewer sees the app and its log and can neither open nor stop it
 * (the hub's proxy refuses the viewer too); Stop ends everything the app started inside. And
 * Jupyter Notebook from its launcher: served from `/` at its origin, a notebook's kernel runs
 * code over the WebSocket through the hub. A real hub and host (btrfs, podman); the apps are
 * busybox httpd and this machine's Debian jupyter-notebook put into the image.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { HUB_PROXY_TOKEN_PATH } from "../../services/gateway/hub-app-proxy.js";
import { UID_BASE, workspacePaths } from "../../services/host/index.js";
import { containerName, WORKSPACE_UID } from "../../shared/launchpad.js";
import { launchChromium } from "../helpers/browser.js";
import { hubBrowser } from "../helpers/hub-browser.js";
import { hubPages, hubPagesUnsupported } from "../helpers/hub-pages.js";
import {
  addPython,
  createHubAccount,
  type HostMachine,
  pythonUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
} from "../helpers/launchpad.js";

const run = promisify(execFile);
const HOST = "hubapps1";
const PORT = 18097;
const SHOTS = process.env.E2E_SCREENSHOTS;
const JUPYTER = "/usr/bin/jupyter-notebook";
const why = await hubPagesUnsupported();
if (why) console.warn(`hub apps e2e skipped: ${why}`);
const noJupyter =
  (await pythonUnsupported()) ??
  (existsSync(JUPYTER) ? undefined : `no ${JUPYTER} (apt-get install jupyter-notebook)`);
if (!why && noJupyter) console.warn(`Jupyter in a hub workspace's Apps tab skipped: ${noJupyter}`);
const NOTEBOOK = {
  cells: [
    { cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: ["6 * 7"] },
  ],
  metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  nbformat: 4,
  nbformat_minor: 5,
};

describe.skipIf(why !== undefined)("hub apps - web apps of a launchpad workspace", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let base: string;
  let wsid: string;
  let browser: Browser;
  const ids: Record<string, string> = {};
  /** What `cmd` prints inside the container, as root. */
  const inside = async (cmd: string) =>
    (await run("podman", ["exec", containerName(HOST, wsid), "sh", "-c", cmd])).stdout;

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    base = new URL(hub.url).origin;
    ids.ann = await createHubAccount(hub.nc, "ann@example.com", "admin");
    ids.val = await createHubAccount(hub.nc, "val@example.com");
    const rootfs = await m.rootfs("apps");
    await mkdir(join(rootfs, "srv", "site"), { recursive: true });
    await writeFile(
      join(rootfs, "srv", "site", "index.html"),
      "<!doctype html><title>app inside</title><p>served from the container</p>",
    );
    if (!noJupyter) {
      await addPython(rootfs);
      await copyFile(JUPYTER, join(rootfs, JUPYTER));
    }
    wsid = await runningHubWorkspace(hub.nc, {
      hostId: HOST,
      owner: ids.ann!,
      rootfs,
      image: "apps",
      title: "Apps",
      quota: { diskMb: 400, memoryMb: 256 },
      members: [["val@example.com", "viewer"]],
    });
    // A notebook in the workspace's home, the user's.
    const home = workspacePaths(m.root, wsid).home;
    await writeFile(join(home, "t.ipynb"), JSON.stringify(NOTEBOOK));
    await chown(join(home, "t.ipynb"), UID_BASE + WORKSPACE_UID, UID_BASE + WORKSPACE_UID);
    browser = await launchChromium();
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
    await m?.cleanup();
  }, 120_000);

  const appsTab = async (page: Page) => {
    await page.goto(`${base}/ws/${wsid}/#apps`);
    await page.getByTestId("apps").waitFor({ timeout: 60_000 });
  };
  const row = (page: Page) => page.locator(`[data-testid="apps-row"][data-app="a${PORT}"]`);

  it("hub apps - the owner starts an app inside the container and opens it at its own origin; the viewer only looks", async () => {
    const ann = await hubBrowser(base, "ann@example.com");
    const val = await hubBrowser(base, "val@example.com");
    const pages = hubPages(browser, base);
    try {
      const owner = await pages.open(ann.credential);
      await appsTab(owner);
      // The image has no Jupyter: its launcher says so and how to install it.
      const jupyter = owner.locator('[data-testid="apps-launcher"][data-launcher="jupyterlab"]');
      await expect
        .poll(() => jupyter.getAttribute("data-installed"), { timeout: 60_000 })
        .toBe("no");
      await expect
        .poll(() => jupyter.getByTestId("apps-missing").textContent())
        .toContain("pip install");

      // Any command: busybox httpd on a port of the container, started from its launcher.
      const launcher = owner.locator('[data-testid="apps-launcher"][data-launcher="command"]');
      await launcher.getByTestId("apps-command").fill("httpd -f -p 127.0.0.1:{port} -h /srv/site");
      await launcher.getByTestId("apps-launcher-port").fill(String(PORT));
      await launcher.getByTestId("apps-start").click();
      await expect
        .poll(() => row(owner).getAttribute("data-status"), { timeout: 60_000 })
        .toBe("running");
      // It runs inside, as the workspace's user; the pid shown is the one the user sees there.
      const pid = Number(await row(owner).getAttribute("data-pid"));
      expect(pid).toBeGreaterThan(0);
      expect(await inside(`cat /proc/${pid}/cmdline | tr '\\0' ' '`)).toContain("httpd -f -p");
      expect(await inside(`awk '/^Uid:/ {print $2}' /proc/${pid}/status`)).toBe("1000\n");
      if (SHOTS) await owner.screenshot({ path: join(SHOTS, "hub-apps-owner.png") });

      // Open: a new tab at the app's own origin, signed in by the hub's link.
      const [tab] = await Promise.all([
        owner.context().waitForEvent("page"),
        row(owner).getByTestId("apps-row-open").click(),
      ]);
      await tab.waitForFunction(() => document.title === "app inside", null, { timeout: 30_000 });
      expect(new URL(tab.url()).hostname).toBe(`p${PORT}-${wsid}.localhost`);
      expect(await tab.locator("p").textContent()).toBe("served from the container");
      if (SHOTS) await tab.screenshot({ path: join(SHOTS, "hub-apps-opened.png") });
      await tab.close();

      // The viewer sees the app and its log; nothing opens or changes it.
      const viewer = await pages.open(val.credential);
      await appsTab(viewer);
      await viewer.getByTestId("apps-read-only").waitFor();
      await expect
        .poll(
          () =>
            viewer
              .locator('[data-testid="apps-launcher"][data-launcher="jupyterlab"]')
              .getAttribute("data-installed"),
          { timeout: 60_000 },
        )
        .toBe("no");
      await expect
        .poll(() => row(viewer).getAttribute("data-status"), { timeout: 60_000 })
        .toBe("running");
      expect(await row(viewer).getByTestId("apps-row-open").isDisabled()).toBe(true);
      expect(await row(viewer).getByTestId("apps-row-stop").isDisabled()).toBe(true);
      expect(
        await viewer
          .locator('[data-testid="apps-launcher"][data-launcher="command"]')
          .getByTestId("apps-start")
          .isDisabled(),
      ).toBe(true);
      await row(viewer).getByTestId("apps-row-logs").click();
      await expect
        .poll(() => viewer.getByTestId("apps-running").textContent(), { timeout: 30_000 })
        .toContain("httpd -f -p");
      // Nor does the hub make the viewer a link.
      const refused = await val.api("POST", HUB_PROXY_TOKEN_PATH, { wsid, port: PORT });
      expect(refused.status).toBe(403);
      if (SHOTS) await viewer.screenshot({ path: join(SHOTS, "hub-apps-viewer.png") });

      // Stop ends it inside: the viewer's page says so too, and nothing is left in the container.
      await row(owner).getByTestId("apps-row-stop").click();
      await expect
        .poll(() => row(viewer).getAttribute("data-status"), { timeout: 60_000 })
        .toBe("stopped");
      expect(await inside(`test -e /proc/${pid} && echo alive || echo gone`)).toBe("gone\n");
      expect(await inside("ps -o args | grep '[h]ttpd -f' || true")).toBe("");
    } finally {
      await pages.close();
    }
  }, 300_000);
  it.skipIf(noJupyter !== undefined)(
    "hub apps - Jupyter Notebook from its launcher opens at its origin and its kernel runs code over the WebSocket",
    async () => {
      const ann = await hubBrowser(base, "ann@example.com");
      const pages = hubPages(browser, base);
      try {
        const owner = await pages.open(ann.credential);
        await appsTab(owner);
        const launcher = owner.locator(
          '[data-testid="apps-launcher"][data-launcher="jupyter-notebook"]',
        );
        await expect
          .poll(() => launcher.getAttribute("data-installed"), { timeout: 60_000 })
          .toBe("yes");
        // Its base path is the origin's root.
        expect(await launcher.locator(".apps-cmd").textContent()).toContain(
          "--NotebookApp.base_url=/",
        );
        await launcher.getByTestId("apps-start").click();
        const jupyter = owner.locator('[data-testid="apps-row"]', { hasText: "Jupyter Notebook" });
        await expect
          .poll(() => jupyter.getAttribute("data-status"), { timeout: 120_000 })
          .toBe("running");
        const port = Number((await jupyter.getAttribute("data-app"))?.slice(1));
        const [tab] = await Promise.all([
          owner.context().waitForEvent("page"),
          jupyter.getByTestId("apps-row-open").click(),
        ]);
        await tab.waitForURL((u) => u.hostname === `p${port}-${wsid}.localhost`, {
          timeout: 30_000,
        });
        await tab.goto(`${new URL(tab.url()).origin}/notebooks/t.ipynb`);
        await tab.waitForFunction(
          () =>
            (
              window as unknown as {
                Jupyter?: { notebook?: { kernel?: { is_connected?: () => boolean } } };
              }
            ).Jupyter?.notebook?.kernel?.is_connected?.() === true,
          undefined,
          // Polled on a timer: a tab in the background gets no animation frames.
          { timeout: 120_000, polling: 250 },
        );
        await tab.evaluate(() =>
          (
            window as unknown as { Jupyter: { notebook: { execute_all_cells: () => void } } }
          ).Jupyter.notebook.execute_all_cells(),
        );
        await tab.waitForFunction(
          () => document.querySelector(".output_area .output_result")?.textContent?.trim() === "42",
          undefined,
          { timeout: 60_000, polling: 250 },
        );
        if (SHOTS) await tab.screenshot({ path: join(SHOTS, "hub-apps-jupyter.png") });
        await tab.close();
        await jupyter.getByTestId("apps-row-stop").click();
        await expect
          .poll(() => jupyter.getAttribute("data-status"), { timeout: 60_000 })
          .toBe("stopped");
        expect(await inside("ps -o args | grep '[j]upyter-notebook' || true")).toBe("");
      } finally {
        await pages.close();
      }
    },
    300_000,
  );
});
