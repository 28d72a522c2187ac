/**
 * A workspace's app in Chromium runs on an origin of its own: a collaborator's app page, opened
 * by the workspace's owner, finds nothing of the owner's hub sign-in (the credential the hub's
 * pages keep in their origin's storage), cannot read the hub's API with the owner's browser,
 * and cannot read another app of the workspace. A real hub and host (btrfs, podman): the app is
 * busybox httpd in the container serving a page that tries all of it.
 */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { HUB_PROXY_TOKEN_PATH } from "../../services/gateway/hub-app-proxy.js";
import { containerName } from "../../shared/launchpad.js";
import { launchChromium } from "../helpers/browser.js";
import { hubBrowser } from "../helpers/hub-browser.js";
import { hubPages, hubPagesUnsupported } from "../helpers/hub-pages.js";
import {
  createHubAccount,
  type HostMachine,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "apporigin1";
const SHOTS = process.env.E2E_SCREENSHOTS;
const why = await hubPagesUnsupported();
if (why) console.warn(`hub app origin e2e skipped: ${why}`);

/**
 * What the app's page finds out (the hub's origin is 127.0.0.1 on the same port; the other app
 * is port 18091 of the same workspace); its title says when it is done.
 */
const ATTACK = `<!doctype html><title>working</title>
<p>an app of the workspace</p>
<script>
const found = { origin: location.origin, storage: Object.keys(localStorage), cookie: document.cookie };
const read = (url) =>
  fetch(url, { credentials: "include" }).then(
    async (r) => "read " + r.status + ": " + (await r.text()).slice(0, 80),
    () => "blocked",
  );
const hub = "http://127.0.0.1:" + location.port + "/api/hub/nats";
const other = location.origin.replace("//p18090-", "//p18091-") + "/";
Promise.all([read(hub), read(other), read("/secret.txt")]).then(([hubApi, otherApp, own]) => {
  Object.assign(found, { hubApi, otherApp, own });
  document.title = "done";
  document.body.dataset.found = JSON.stringify(found);
});
</script>`;

describe.skipIf(why !== undefined)(
  "hub app origin - a workspace's app is an origin of its own",
  () => {
    let m: HostMachine;
    let hub: RunningHub;
    let base: string;
    let wsid: string;
    let browser: Browser;
    const servers: ReturnType<typeof spawn>[] = [];
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      m = await setupHostMachine(HOST, 2048);
      hub = await startTestHub(join(m.dir, "hub"), {
        localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
      });
      base = new URL(hub.url).origin;
      ids.ann = await createHubAccount(hub.nc, "ann@example.com", "admin");
      ids.bob = await createHubAccount(hub.nc, "bob@example.com");
      const rootfs = await m.rootfs("o");
      await mkdir(join(rootfs, "srv", "a"), { recursive: true });
      await mkdir(join(rootfs, "srv", "b"), { recursive: true });
      await writeFile(join(rootfs, "srv", "a", "index.html"), ATTACK);
      await writeFile(join(rootfs, "srv", "a", "secret.txt"), "own\n");
      await writeFile(join(rootfs, "srv", "b", "index.html"), "the other app's secret\n");
      wsid = await runningHubWorkspace(hub.nc, {
        hostId: HOST,
        owner: ids.ann!,
        rootfs,
        image: "origin",
        title: "Origins",
        quota: { diskMb: 400, memoryMb: 256 },
        members: [["bob@example.com", "collaborator"]],
      });
      // Bob, a collaborator, serves the page (ann opens it); another app answers on 18091.
      const inside = (cmd: string) =>
        servers.push(
          spawn("podman", ["exec", containerName(HOST, wsid), "sh", "-c", cmd], {
            stdio: "ignore",
          }),
        );
      inside("exec httpd -f -p 127.0.0.1:18090 -h /srv/a");
      inside("exec httpd -f -p 127.0.0.1:18091 -h /srv/b");
      browser = await launchChromium();
    }, 400_000);

    afterAll(async () => {
      for (const p of servers) p.kill();
      await browser?.close();
      await hub?.stop();
      await m?.cleanup();
    }, 120_000);

    it("hub app origin - the app's page finds no hub sign-in and reads neither the hub nor another app", async () => {
      const ann = await hubBrowser(base, "ann@example.com");
      const pages = hubPages(browser, base);
      try {
        const page = await pages.open(ann.credential);
        // The owner is signed in on the hub's origin: the dashboard shows, its storage holds it.
        await page.goto(hub.url);
        await page.getByTestId("hub-workspaces").waitFor({ timeout: 60_000 });
        expect(await page.evaluate(() => Object.keys(localStorage))).toContain(
          "cocalc-plus.credential",
        );
        // The owner opens the app by a link the hub makes (as the Apps tab does).
        const res = await ann.api("POST", HUB_PROXY_TOKEN_PATH, { wsid, port: 18090 });
        expect(res.status).toBe(200);
        const { url } = (await res.json()) as { url: string };
        expect(new URL(url).hostname).toBe(`p18090-${wsid}.localhost`);
        await until("httpd answers", async () => {
          await page.goto(url);
          return (await page.title()) === "working" || (await page.title()) === "done"
            ? true
            : undefined;
        });
        await page.waitForFunction(() => document.title === "done", null, { timeout: 30_000 });
        // The token is gone from the address: a cookie of this origin holds it now.
        expect(page.url()).toBe(`${new URL(url).origin}/`);
        const found = JSON.parse(
          (await page.locator("body").getAttribute("data-found")) ?? "{}",
        ) as Record<string, unknown>;
        if (SHOTS) await page.screenshot({ path: join(SHOTS, "hub-app-origin.png") });
        expect(found.origin).toBe(new URL(url).origin);
        // Nothing of the hub's sign-in: its storage is this origin's own, the cookie HttpOnly.
        expect(found.storage).toEqual([]);
        expect(found.cookie).toBe("");
        // The hub's API answers another origin's page nothing it can read.
        expect(found.hubApi).toBe("blocked");
        // Another app of the same workspace: another origin, no cookie of it sent or readable.
        expect(found.otherApp).toBe("blocked");
        // Its own files it reads, as any app does.
        expect(found.own).toBe("read 200: own\n");
      } finally {
        await pages.close();
      }
    }, 180_000);

    it("hub app origin - the owner makes a public link in the Share panel; a stranger opens it until it is revoked", async () => {
      const ann = await hubBrowser(base, "ann@example.com");
      const pages = hubPages(browser, base);
      try {
        const owner = await pages.open(ann.credential);
        await owner.goto(`${base}/ws/${wsid}/`);
        await owner.getByTestId("hub-ws-share").click();
        const panel = owner.getByTestId("hub-share-public");
        await panel.getByTestId("hub-share-port").fill("18091");
        await panel.getByTestId("hub-share-port-submit").click();
        const link = (await panel.getByTestId("hub-share-port-link").textContent())!;
        expect(new URL(link).hostname).toBe(`p18091-${wsid}.localhost`);
        await panel
          .locator('[data-testid="hub-share-public-port"][data-port="18091"]')
          .waitFor({ timeout: 30_000 });
        if (SHOTS) await owner.screenshot({ path: join(SHOTS, "hub-share-public.png") });

        // Someone signed in nowhere opens the link.
        const stranger = await pages.open();
        await stranger.goto(link);
        expect(await stranger.locator("body").textContent()).toContain("the other app's secret");
        expect(new URL(stranger.url()).search).toBe("");

        await panel.getByTestId("hub-share-port-revoke").click();
        await panel.getByTestId("hub-share-public-ports").waitFor({ state: "detached" });
        await until("the stranger refused", async () => {
          await stranger.reload();
          return (await stranger.title()) === "ERR_PROXY_TOKEN" ? true : undefined;
        });
        if (SHOTS) await stranger.screenshot({ path: join(SHOTS, "hub-share-revoked.png") });
      } finally {
        await pages.close();
      }
    }, 180_000);
  },
);
