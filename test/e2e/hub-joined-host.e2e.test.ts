/**
 * A workspace on a host that joined the hub over its leaf listener (a second process with its
 * own nats-server, btrfs and podman; the hub runs no host of its own), used in Chromium through
 * the hub: created, started and opened from the dashboard; a terminal in its container; the
 * host stops answering → the page says so → the host is back → the page goes on.
 */
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePortRange } from "../../services/runtime/ports.js";
import { launchChromium, terminalScreen } from "../helpers/browser.js";
import { hubPagesUnsupported } from "../helpers/hub-pages.js";
import {
  importImage,
  type JoinedHost,
  joinHost,
  type LaunchpadProcess,
  startLaunchpad,
} from "../helpers/hub-process.js";
import { type HostMachine, setupHostMachine } from "../helpers/launchpad.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubjoin2";
const unsupported = await hubPagesUnsupported();
if (unsupported) console.warn(`joined host e2e skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("a workspace on a joined host, through the hub", () => {
  let m: HostMachine;
  let hub: LaunchpadProcess | undefined;
  let host: JoinedHost | undefined;
  let hubDir: string;
  let browser: Browser;

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hubDir = join(m.dir, "hub");
    const port = await freePortRange([1, 2, 3]);
    hub = await startLaunchpad(
      ["--port", String(port), "--no-local-host", "--offline-after", "10s", "--data-dir", hubDir],
      /setup\?token=/,
    );
    host = await joinHost(m, HOST, hubDir);
    await importImage(m, HOST, hubDir);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
    await hub?.stop();
    await m?.cleanup();
  });

  const row = (page: Page) => page.getByTestId("hub-ws").first();
  const statusOf = (page: Page) => row(page).getAttribute("data-status");

  it("created on the joined host, opened through the hub, a terminal in its container; the host away and back", async () => {
    const setupUrl = /open (http:\/\/\S+\/setup\?token=\S+)/.exec(hub!.output())![1]!;
    const ctx = await browser.newContext();
    const owner = await ctx.newPage();
    await owner.goto(setupUrl);
    await owner.getByTestId("hub-email").fill("owner@example.com");
    await owner.getByTestId("hub-password").fill("the owner's long password");
    await owner.getByRole("button", { name: "Create the admin account" }).click();
    await owner.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
    await expect
      .poll(() => owner.getByTestId("hub-ws-image").inputValue(), { timeout: 60_000 })
      .toBe("bb");
    await owner.getByTestId("hub-ws-title").fill("On the second host");
    await owner.getByTestId("hub-ws-disk").fill("300");
    await owner.getByTestId("hub-ws-memory").fill("256");
    await owner.getByTestId("hub-ws-create").click();
    await expect.poll(() => statusOf(owner), { timeout: 90_000 }).toBe("Stopped");
    expect(await row(owner).getByTestId("hub-ws-host").textContent()).toContain(HOST);
    await row(owner).getByTestId("hub-ws-start").click();
    await expect.poll(() => statusOf(owner), { timeout: 90_000 }).toBe("Running");

    await row(owner).getByTestId("hub-ws-open").click();
    await owner.getByTestId("workspace-shell").waitFor({ timeout: 60_000 });
    await owner.getByTestId("tab-terminals").click();
    await owner.getByTestId("terminal-new-empty").click();
    await expect
      .poll(() => owner.getByTestId("terminal-state").textContent(), { timeout: 60_000 })
      .toBe("running");
    await owner.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await owner.keyboard.type("echo me=$(whoami) on=$(cat /etc/image-name)\n");
    await expect.poll(() => terminalScreen(owner), { timeout: 30_000 }).toContain("me=user on=bb");
    if (SHOTS) await owner.screenshot({ path: `${SHOTS}/hub-joined-terminal.png` });

    // The joined host stops answering (its nats-server frozen): the page says so, the
    // workspace stays on screen; the host is back: the terminal answers again.
    const pid = await host!.natsPid();
    process.kill(pid, "SIGSTOP");
    try {
      await expect
        .poll(() => owner.getByTestId("hub-ws-page-state").textContent(), { timeout: 60_000 })
        .toBe("Host offline");
      if (SHOTS) await owner.screenshot({ path: `${SHOTS}/hub-joined-offline.png` });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await owner.getByTestId("hub-ws-page-banner").waitFor({ state: "detached", timeout: 60_000 });
    await owner.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await owner.keyboard.type("echo back=$((6*7))\n");
    await expect.poll(() => terminalScreen(owner), { timeout: 60_000 }).toContain("back=42");
    await ctx.close();
  });
});
