/**
 * The hub's dashboard in Chromium with the host the hub runs joined to itself (real btrfs,
 * podman): the admin (first-run setup link) creates a workspace and starts it, and the row
 * follows its status live; an invited second account sees none of it; the host stops
 * answering (its nats-server frozen) → the row says so → the host is back → it recovers;
 * snapshots; delete, confirmed. The hosts admin page: drain (the row says draining and what is
 * still on it), undrain, and an image imported from the hub's images directory with its
 * progress shown.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePortRange } from "../../services/runtime/ports.js";
import { launchChromium } from "../helpers/browser.js";
import { hubPagesUnsupported } from "../helpers/hub-pages.js";
import { type HostMachine, setupHostMachine } from "../helpers/launchpad.js";

const LAUNCHPAD = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubdash1";
const unsupported = await hubPagesUnsupported();
if (unsupported) console.warn(`hub dashboard e2e skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("the hub dashboard runs workspaces", () => {
  let m: HostMachine;
  let hub: ChildProcess;
  let out = "";
  let hubDir: string;
  let imagesDir: string;
  let browser: Browser;

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hubDir = join(m.dir, "hub");
    // What admins may import from the pages: the hub's images directory.
    imagesDir = join(m.dir, "images");
    await mkdir(imagesDir);
    await rename(await m.rootfs("pages"), join(imagesDir, "bb2"));
    const port = await freePortRange([1, 2, 3]);
    hub = spawn(
      process.execPath,
      [
        LAUNCHPAD,
        "--port",
        String(port),
        "--btrfs",
        m.root,
        "--host-id",
        HOST,
        // Beats come every 5 s: a host unheard for 10 s is offline.
        "--offline-after",
        "10s",
        "--images",
        imagesDir,
        "--data-dir",
        hubDir,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    hub.stdout!.on("data", (d) => (out += d));
    hub.stderr!.on("data", (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the hub did not start:\n${out}`)), 90_000);
      hub.stdout!.on("data", () => {
        if (/hub ready: (\S+)/.test(out) && /setup\?token=/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      hub.once("exit", (code) => reject(new Error(`the hub exited with ${code}:\n${out}`)));
    });
    expect(out).toContain(`starting the local host ${HOST}`);
    // The operator imports an image onto the hub's own host.
    const imported = spawnSync(
      process.execPath,
      [
        LAUNCHPAD,
        "image",
        "import",
        "bb",
        await m.rootfs("dash"),
        "--host",
        HOST,
        "--data-dir",
        hubDir,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    expect(imported.status, imported.stderr).toBe(0);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (hub && hub.exitCode === null) {
      const gone = new Promise((r) => hub.once("exit", r));
      hub.kill("SIGTERM");
      await gone;
    }
    await m?.cleanup();
  });

  const row = (page: Page) => page.getByTestId("hub-ws").first();
  /** The text on the terminal's screen. */
  const screen = (page: Page) =>
    page.evaluate(() => {
      const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
      return Array.from(rows?.children ?? [])
        .map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd())
        .join("\n");
    });
  const statusOf = (page: Page) => row(page).getAttribute("data-status");

  it("create, start, live status, host away and back, snapshots, delete", async () => {
    const setupUrl = /open (http:\/\/\S+\/setup\?token=\S+)/.exec(out)![1]!;
    const ctx = await browser.newContext();
    const admin = await ctx.newPage();
    await admin.goto(setupUrl);
    await admin.getByTestId("hub-email").fill("admin@example.com");
    await admin.getByTestId("hub-password").fill("the admin's long password");
    await admin.getByRole("button", { name: "Create the admin account" }).click();
    await admin.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
    await admin.getByTestId("hub-no-workspaces").waitFor();

    // The image the host has is offered; create a workspace.
    await expect
      .poll(() => admin.getByTestId("hub-ws-image").inputValue(), { timeout: 30_000 })
      .toBe("bb");
    await admin.getByTestId("hub-ws-title").fill("Thesis");
    await admin.getByTestId("hub-ws-disk").fill("300");
    await admin.getByTestId("hub-ws-memory").fill("256");
    await admin.getByTestId("hub-ws-create").click();
    // Its status in words, with the details when it is not what it should be.
    await expect
      .poll(
        async () =>
          (await statusOf(admin)) === "Stopped"
            ? "Stopped"
            : `${await statusOf(admin)}: ${await row(admin).getByTestId("hub-ws-detail").textContent()}`,
        { timeout: 60_000 },
      )
      .toBe("Stopped");
    // Its host's state too, once the page's new JWT reaches that host.
    await expect
      .poll(() => row(admin).getByTestId("hub-ws-host").textContent(), { timeout: 30_000 })
      .toContain(`${HOST} (ready)`);
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-stopped.png` });

    // Start: the row follows the host's view (starting, then running) by itself.
    await row(admin).getByTestId("hub-ws-start").click();
    await expect.poll(() => statusOf(admin), { timeout: 90_000 }).toBe("Running");
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-running.png` });

    // Open: the workspace's own page, plus's app, reaching its services on the host through
    // the hub with the page's JWT for this workspace.
    const opened = (await row(admin).getAttribute("data-wsid"))!;
    await row(admin).getByTestId("hub-ws-open").click();
    await admin.waitForURL(`**/ws/${opened}/`);
    await admin.getByTestId("workspace-shell").waitFor({ timeout: 60_000 });
    // Files: the workspace's home as the workspace sees it.
    await expect
      .poll(() => admin.getByTestId("breadcrumb").getAttribute("data-path"), { timeout: 60_000 })
      .toBe("/home/user");
    // Its title is the hub's; plus's own services are not there: no remote sessions or sync.
    await expect.poll(() => admin.getByTestId("workspace-title").textContent()).toBe("Thesis");
    expect(await admin.getByTestId("tab-remote").count()).toBe(0);
    expect(await admin.getByTestId("tab-sync").count()).toBe(0);
    // A terminal in the container, as the workspace user; what it makes shows in Files live.
    await admin.getByTestId("tab-terminals").click();
    await admin.getByTestId("terminal-new-empty").click();
    await expect
      .poll(() => admin.getByTestId("terminal-state").textContent(), { timeout: 60_000 })
      .toBe("running");
    await admin.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await admin.keyboard.type("echo me=$(whoami) sum=$((40+2)); echo hi > note.txt\n");
    await expect.poll(() => screen(admin), { timeout: 30_000 }).toContain("me=user sum=42");
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-page-terminal.png` });
    await admin.getByTestId("tab-files").click();
    await admin
      .locator('[data-testid="file-row"][data-name="note.txt"]')
      .waitFor({ timeout: 30_000 });
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-page-files.png` });
    // A reload opens the same place: a deep link into the workspace.
    await admin.reload();
    await admin.getByTestId("workspace-shell").waitFor({ timeout: 60_000 });
    await admin
      .locator('[data-testid="file-row"][data-name="note.txt"]')
      .waitFor({ timeout: 30_000 });
    // The editor, by a deep link: a document of the container, through its host's docs
    // service; what is typed is in the file inside.
    await admin.goto(new URL(`/ws/${opened}/files/note.txt#editor`, admin.url()).href);
    const editor = admin.locator("[data-testid=code-editor] .cm-content");
    await editor.waitFor({ timeout: 60_000 });
    await expect.poll(() => editor.textContent(), { timeout: 30_000 }).toContain("hi");
    await editor.click();
    await admin.keyboard.press("Control+End");
    await admin.keyboard.type("typed in the hub");
    await expect
      .poll(() => admin.getByTestId("save-state").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("saved");
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-page-editor.png` });
    await admin.getByTestId("tab-terminals").click();
    await admin.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await admin.keyboard.type("cat note.txt; touch keys.chat\n");
    await expect.poll(() => screen(admin), { timeout: 30_000 }).toContain("typed in the hub");
    // Agents' API keys of a hosted workspace are the account's (and, for an owner, the
    // workspace's), kept by the hub: the settings store them there and show only names.
    await admin.goto(new URL(`/ws/${opened}/files/keys.chat`, admin.url()).href);
    await admin
      .getByTestId("agents")
      .waitFor({ timeout: 60_000 })
      .catch(async (err) => {
        if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-agents-missing.png` });
        throw err;
      });
    await admin.getByTestId("new-thread").click();
    await admin.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await admin.getByTestId("thread-settings-toggle").click();
    const keys = admin.getByTestId("agent-keys");
    await expect.poll(() => keys.getByTestId("account-keys").textContent()).toBe("Yours: none");
    await keys.getByLabel("Key name").fill("OPENAI_API_KEY");
    await keys.getByLabel("Key value").fill("sk-e2e-account");
    await keys.getByRole("button", { name: "Store key" }).click();
    await expect
      .poll(() => keys.getByTestId("account-keys").textContent(), { timeout: 30_000 })
      .toBe("Yours: OPENAI_API_KEY");
    await keys.getByLabel("Key for").selectOption("workspace");
    await keys.getByLabel("Key name").fill("ANTHROPIC_API_KEY");
    await keys.getByLabel("Key value").fill("sk-e2e-workspace");
    await keys.getByRole("button", { name: "Store key" }).click();
    await expect
      .poll(() => keys.getByTestId("workspace-keys").textContent(), { timeout: 30_000 })
      .toContain("ANTHROPIC_API_KEY");
    expect(await admin.content()).not.toContain("sk-e2e-");
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-agent-keys.png` });
    await admin.getByTestId("to-dashboard").click();
    await admin.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });

    // A second account (invited) sees none of it.
    await admin.getByTestId("hub-create-invite").click();
    const link = (await admin.getByTestId("hub-invite-link").textContent())!;
    const bobCtx = await browser.newContext();
    const bob = await bobCtx.newPage();
    await bob.goto(link);
    await bob.getByTestId("hub-email").fill("bob@example.com");
    await bob.getByTestId("hub-password").fill("bob's own password");
    await bob.getByRole("button", { name: "Create my account" }).click();
    await bob.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
    await bob.getByTestId("hub-no-workspaces").waitFor();
    const wsid = (await row(admin).getAttribute("data-wsid"))!;
    const forged = await bob.evaluate(async (id) => {
      const cred = localStorage.getItem("cocalc-plus.credential");
      const r = await fetch(`/api/hub/workspaces/${id}/stop`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${cred}` },
        body: "{}",
      });
      return { status: r.status, body: await r.json() };
    }, wsid);
    expect(forged.status).toBe(404);
    expect(await statusOf(admin)).toBe("Running");
    // Nor any admin page: accounts, hosts, tokens.
    const asBob = await bob.evaluate(async (host) => {
      const cred = localStorage.getItem("cocalc-plus.credential");
      const headers = { "content-type": "application/json", authorization: `Bearer ${cred}` };
      const get = (p: string) => fetch(p, { headers }).then((r) => r.status);
      const post = (p: string, body: object) =>
        fetch(p, { method: "POST", headers, body: JSON.stringify(body) }).then((r) => r.status);
      return [
        await get("/api/hub/admin/accounts"),
        await get("/api/hub/admin/hosts"),
        await get("/api/hub/admin/tokens"),
        await post("/api/hub/admin/tokens", { hostId: "evil", ttlSeconds: 600 }),
        await post(`/api/hub/admin/hosts/${host}/drain`, {}),
        await get(`/api/hub/admin/hosts/${host}/images`),
        await post(`/api/hub/admin/hosts/${host}/images`, { name: "x", source: "/" }),
      ];
    }, HOST);
    expect(asBob).toEqual([403, 403, 403, 403, 403, 403, 403]);

    // The admin's pages: the accounts, found by email, one disabled (signed out at once).
    await admin.reload();
    await admin.getByTestId("hub-admin-search").fill("bob@");
    const bobRow = admin.locator('[data-testid="hub-admin-account"][data-email="bob@example.com"]');
    await bobRow.waitFor({ timeout: 30_000 });
    // The search's page replaces the unfiltered one.
    await expect.poll(() => admin.getByTestId("hub-admin-account").count()).toBe(1);
    await bobRow.getByRole("button", { name: "Disable" }).click();
    await expect.poll(() => bobRow.locator("td").nth(2).textContent()).toBe("disabled");
    await bob.reload();
    await bob.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
    await bobCtx.close();
    // Hosts: the hub's own, ready, with the workspace; a registration token issued, revoked.
    const hostRow = admin.locator(`[data-testid="hub-admin-host"][data-host="${HOST}"]`);
    await expect.poll(() => hostRow.getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    await admin.getByTestId("hub-admin-token-host").fill("extra1");
    await admin.getByTestId("hub-admin-token-issue").click();
    const tokenText = await admin.getByTestId("hub-admin-token").locator("textarea").inputValue();
    const token = JSON.parse(tokenText) as { tokenId: string; hostId: string; v: number };
    expect(token).toMatchObject({ hostId: "extra1", v: 2 });
    const tokenRow = admin.locator(
      `[data-testid="hub-admin-token-row"][data-token="${token.tokenId}"]`,
    );
    await expect.poll(() => tokenRow.getAttribute("data-status")).toBe("issued");
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-admin.png`, fullPage: true });
    await tokenRow.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => tokenRow.getAttribute("data-status")).toBe("revoked");
    // Drain the host: the row says so, with the workspace still running on it.
    await hostRow.getByTestId("hub-admin-drain").click();
    await expect.poll(() => hostRow.getAttribute("data-draining")).toBe("true");
    expect(await hostRow.locator("td").nth(1).textContent()).toBe("ready, draining");
    expect(await hostRow.getByTestId("hub-admin-host-workspaces").textContent()).toMatch(
      /^1 \(1\) still on it; they run until stopped$/,
    );
    expect(await statusOf(admin)).toBe("Running");
    // Its images, and one imported from the images directory, its progress on the page.
    await hostRow.getByTestId("hub-admin-images").click();
    const images = admin.getByTestId("hub-host-images");
    await images.locator('[data-testid="hub-host-image"][data-name="bb"]').waitFor();
    await expect
      .poll(() => images.getByTestId("hub-image-source").locator("option").count())
      .toBe(2);
    await images.getByTestId("hub-image-source").selectOption(join(imagesDir, "bb2"));
    await images.getByTestId("hub-image-import").click();
    const result = images.getByTestId("hub-image-result");
    await result.waitFor({ timeout: 60_000 });
    expect(await result.getAttribute("data-ok"), (await result.textContent()) ?? "").toBe("true");
    expect(await images.getByTestId("hub-image-progress").textContent()).toContain(
      "making the image read-only",
    );
    await images.locator('[data-testid="hub-host-image"][data-name="bb2"]').waitFor();
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-admin-hosts.png`, fullPage: true });
    // The same again: refused, in words.
    await images.getByTestId("hub-image-import").click();
    await expect.poll(() => result.getAttribute("data-ok"), { timeout: 60_000 }).toBe("false");
    expect(await result.textContent()).toMatch(/the import failed: image bb2 already exists/);
    await hostRow.getByTestId("hub-admin-drain").click();
    await expect.poll(() => hostRow.getAttribute("data-draining")).toBe("false");
    // The activity page: each of these actions, with the admin as who did it.
    await admin.reload();
    const adminId = await admin.evaluate(async () => {
      const cred = localStorage.getItem("cocalc-plus.credential");
      const r = await fetch("/api/hub/me", { headers: { authorization: `Bearer ${cred}` } });
      return ((await r.json()) as { account: { id: string } }).account.id;
    });
    const activity = admin.getByTestId("hub-activity");
    await activity.first().waitFor({ timeout: 30_000 });
    const seen = async () =>
      (await activity.evaluateAll((rows) =>
        rows.map((r) => `${r.getAttribute("data-type")} ${r.getAttribute("data-actor")}`),
      )) as string[];
    for (const type of [
      "AccountDisabled",
      "HostTokenIssued",
      "HostTokenRevoked",
      "HostDrained",
      "HostUndrained",
      "HostImageImported",
      "HubWorkspaceCreated",
      "InviteCreated",
    ])
      expect(await seen()).toContain(`${type} ${adminId}`);

    // Registration tokens are shown a page at a time, newest first: with 21 more, the revoked
    // one is on the next page.
    await admin.evaluate(async () => {
      const cred = localStorage.getItem("cocalc-plus.credential");
      for (let i = 0; i < 21; i++)
        await fetch("/api/hub/admin/tokens", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${cred}` },
          body: JSON.stringify({ hostId: `more${i}`, ttlSeconds: 600 }),
        });
    });
    await admin.reload();
    const tokensPager = admin.getByTestId("hub-admin-tokens-pager");
    // 21 and extra1, and any the hub's own host joined with.
    const total = async () =>
      Number(/(\d+) registration tokens/.exec((await tokensPager.textContent()) ?? "")?.[1] ?? 0);
    await expect.poll(total).toBeGreaterThanOrEqual(22);
    const n = await total();
    expect(await admin.getByTestId("hub-admin-token-row").count()).toBe(20);
    expect(await tokenRow.count()).toBe(0);
    await tokensPager.getByRole("button", { name: "Next" }).click();
    await expect.poll(() => tokenRow.getAttribute("data-status")).toBe("revoked");
    expect(await admin.getByTestId("hub-admin-token-row").count()).toBe(Math.min(20, n - 20));

    // The workspace's page while it is stopped says so, with Start; started from there, the
    // workspace opens by itself.
    await row(admin).getByTestId("hub-ws-stop").click();
    await expect.poll(() => statusOf(admin), { timeout: 60_000 }).toBe("Stopped");
    const wsPage = await ctx.newPage();
    await wsPage.goto(new URL(`/ws/${opened}/`, admin.url()).href);
    await expect
      .poll(() => wsPage.getByTestId("hub-ws-page-state").textContent(), { timeout: 30_000 })
      .toBe("Stopped");
    if (SHOTS) await wsPage.screenshot({ path: `${SHOTS}/hub-ws-page-stopped.png` });
    await wsPage.getByTestId("hub-ws-page-start").click();
    await wsPage.getByTestId("workspace-shell").waitFor({ timeout: 90_000 });
    await wsPage
      .locator('[data-testid="file-row"][data-name="note.txt"]')
      .waitFor({ timeout: 30_000 });
    await expect.poll(() => statusOf(admin), { timeout: 60_000 }).toBe("Running");

    // The host stops answering: its nats-server frozen, so its beats stop.
    const pid = Number(
      (await readFile(join(hubDir, "local-host", "nats", "nats-server.pid"), "utf8")).trim(),
    );
    process.kill(pid, "SIGSTOP");
    try {
      await expect.poll(() => statusOf(admin), { timeout: 60_000 }).toBe("Host offline");
      expect(await row(admin).getByTestId("hub-ws-detail").textContent()).toMatch(
        /comes back by itself when the host does/,
      );
      if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-host-offline.png` });
      // The open workspace page says so too, above the workspace, which stays.
      await expect
        .poll(() => wsPage.getByTestId("hub-ws-page-state").textContent(), { timeout: 30_000 })
        .toBe("Host offline");
      expect(await wsPage.getByTestId("workspace-shell").count()).toBe(1);
      if (SHOTS) await wsPage.screenshot({ path: `${SHOTS}/hub-ws-page-host-offline.png` });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await expect.poll(() => statusOf(admin), { timeout: 60_000 }).toBe("Running");
    // Back: the banner goes, and the workspace answers again (a new folder made from it).
    await wsPage.getByTestId("hub-ws-page-banner").waitFor({ state: "detached", timeout: 60_000 });
    await wsPage.getByTestId("new-folder").click();
    await wsPage.getByTestId("new-folder-dialog-input").fill("after the outage");
    await wsPage.getByTestId("new-folder-dialog-submit").click();
    await wsPage
      .locator('[data-testid="file-row"][data-name="after the outage"]')
      .waitFor({ timeout: 60_000 });
    await wsPage.close();

    // Stop, snapshot, restore.
    await row(admin).getByTestId("hub-ws-stop").click();
    await expect.poll(() => statusOf(admin), { timeout: 60_000 }).toBe("Stopped");
    await row(admin).getByTestId("hub-ws-snapshots").click();
    await admin.getByTestId("hub-snapshot-name").fill("before-edits");
    await admin.getByTestId("hub-snapshot-create").click();
    await admin
      .locator('[data-testid="hub-snapshot"][data-name="before-edits"]')
      .waitFor({ timeout: 30_000 });
    if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-ws-snapshots.png` });
    await admin.locator('[data-testid="hub-snapshot"][data-name="before-edits"] button').click();
    await expect
      .poll(() => admin.getByTestId("hub-snapshots").locator(".hub-problem").count())
      .toBe(0);

    // Delete, confirmed: the list is empty again.
    await row(admin).getByTestId("hub-ws-delete").click();
    await admin.getByTestId("hub-confirm-delete-yes").click();
    await admin.getByTestId("hub-no-workspaces").waitFor({ timeout: 60_000 });
    await ctx.close();
  });
});
