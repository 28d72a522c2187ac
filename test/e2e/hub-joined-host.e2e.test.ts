/**
 * A workspace on a host that joined the hub over its leaf listener (a second process with its
 * own nats-server, btrfs and podman; the hub runs no host of its own), used in Chromium through
 * the hub: created, started and opened from the dashboard; a terminal in its container; the
 * host stops answering → the page says so → the host is back → the page goes on.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePortRange } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type HostMachine, hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { WEB_BUILT } from "../helpers/plus.js";

const LAUNCHPAD = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubjoin2";
const unsupported =
  (await hostUnsupported()) ??
  (!HAVE_CHROMIUM ? "no Chromium" : undefined) ??
  (!WEB_BUILT || !existsSync(LAUNCHPAD) ? "not built (npm run build)" : undefined);
if (unsupported) console.warn(`joined host e2e skipped: ${unsupported}`);

/** Runs `args` of cocalc-launchpad to the end; its output, or a failure with it. */
function launchpad(args: string[], timeout = 120_000): string {
  const r = spawnSync(process.execPath, [LAUNCHPAD, ...args], { encoding: "utf8", timeout });
  if (r.status !== 0) throw new Error(`cocalc-launchpad ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Starts a long-running cocalc-launchpad; resolves once `ready` shows in its output. */
async function started(
  args: string[],
  ready: RegExp,
): Promise<{ p: ChildProcess; out: () => string }> {
  let out = "";
  const p = spawn(process.execPath, [LAUNCHPAD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 120_000);
    const check = () => {
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    p.stdout!.on("data", check);
    p.stderr!.on("data", check);
    p.once("exit", (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { p, out: () => out };
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await gone;
}

describe.skipIf(unsupported !== undefined)("a workspace on a joined host, through the hub", () => {
  let m: HostMachine;
  let hub: { p: ChildProcess; out: () => string } | undefined;
  let host: { p: ChildProcess; out: () => string } | undefined;
  let hubDir: string;
  let hostDir: string;
  let browser: Browser;

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hubDir = join(m.dir, "hub");
    hostDir = join(m.dir, "host");
    const port = await freePortRange([2, 3]);
    hub = await started(
      ["--port", String(port), "--no-local-host", "--offline-after", "10s", "--data-dir", hubDir],
      /setup\?token=/,
    );
    const tokenFile = join(m.dir, "host.token");
    launchpad(["hub", "token", HOST, "--out", tokenFile, "--data-dir", hubDir]);
    host = await started(
      ["host", "--btrfs", m.root, "--host-id", HOST, "--data-dir", hostDir, "--join", tokenFile],
      /host \S+ ready:/,
    );
    // The operator imports an image onto the joined host, through the hub (once the hub has
    // heard from it).
    const rootfs = await m.rootfs("bb");
    for (let tries = 0; ; tries++) {
      try {
        launchpad(["image", "import", "bb", rootfs, "--host", HOST, "--data-dir", hubDir]);
        break;
      } catch (err) {
        if (tries >= 30) throw err;
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stop(host?.p);
    await stop(hub?.p);
    await m?.cleanup();
  });

  const row = (page: Page) => page.getByTestId("hub-ws").first();
  const statusOf = (page: Page) => row(page).getAttribute("data-status");
  const screen = (page: Page) =>
    page.evaluate(() => {
      const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
      return Array.from(rows?.children ?? [])
        .map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd())
        .join("\n");
    });

  it("created on the joined host, opened through the hub, a terminal in its container; the host away and back", async () => {
    const setupUrl = /open (http:\/\/\S+\/setup\?token=\S+)/.exec(hub!.out())![1]!;
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
    await expect.poll(() => screen(owner), { timeout: 30_000 }).toContain("me=user on=bb");
    if (SHOTS) await owner.screenshot({ path: `${SHOTS}/hub-joined-terminal.png` });

    // The joined host stops answering (its nats-server frozen): the page says so, the
    // workspace stays on screen; the host is back: the terminal answers again.
    const pid = Number((await readFile(join(hostDir, "nats", "nats-server.pid"), "utf8")).trim());
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
    await expect.poll(() => screen(owner), { timeout: 60_000 }).toContain("back=42");
    await ctx.close();
  });
});
