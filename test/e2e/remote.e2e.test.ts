/**
 * Remote mode in Chromium: `cocalc-plus ssh` to a second local user over a real sshd, open
 * the printed URL, and the workspace is the remote user's: its home in the explorer, its
 * name from `whoami` in a terminal. Then the local Remote sessions page shows the session.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { plusCommand as plus, plusEnv, removeHome, tempHome, WEB_BUILT } from "../helpers/plus.js";
import { remoteSessionsPage } from "../helpers/remote-sessions.js";
import { askingSshConfig, type Sshd, sshdSkipReason, startSshd } from "../helpers/sshd.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const skip =
  sshdSkipReason() ?? (HAVE_CHROMIUM && WEB_BUILT ? undefined : "no Chromium or no web build");
if (skip) console.warn(`skipping the remote e2e test: ${skip}`);

describe.skipIf(skip !== undefined)("remote workspace in Chromium", () => {
  /** The local plus's Remote sessions page, signed in, in a context of its own. */
  const localRemotePage = () => remoteSessionsPage(browser, dataDir);

  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    sshd = await startSshd("cocalcweb");
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host"]);
    } catch {
      // nothing ran
    }
    // A clean remote: no state of an earlier run (its terminals, its sessions).
    sshd.asUser('rm -rf "$HOME/.local/share/cocalc-plus"; touch "$HOME/remote-marker.txt"');
    home = await tempHome();
    dataDir = join(home, "data");
    env = plusEnv(home);
    const r = await plus(
      ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs],
      env,
    );
    if (r.code !== 0) throw new Error(r.stderr);
    url = /ready: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(r.stdout)![1]!;
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (!sshd) return;
    await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
    await plus(["stop", "--terminals", "--data-dir", dataDir], env);
    await sshd.stop();
    await removeHome(home);
  }, 90_000);

  it("the printed URL opens the remote user's workspace", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForURL((u) => !u.search.includes("token"));
    await page.waitForSelector('[data-testid=file-row][data-name="remote-marker.txt"]', {
      timeout: 30_000,
    });
    // Still the target once the workspace's settings (with their own title) have loaded.
    await expect
      .poll(() => page.getByTestId("workspace-title").textContent(), { timeout: 20_000 })
      .toBe(sshd.target);
    expect(await page.title()).toBe(sshd.target);
    // The window says it is a remote, and whose.
    const badge = page.getByTestId("remote-badge");
    expect(await badge.textContent()).toBe("remote");
    expect(await badge.getAttribute("title")).toContain(`cocalc-plus on ${sshd.target}`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-files.png") });
    // Its Sync tab says where its synced folders are managed.
    await page.goto(`${new URL(url).origin}/#sync`);
    await expect
      .poll(() => page.getByTestId("sync-remote-side").textContent(), { timeout: 20_000 })
      .toContain(`remote side of a cocalc-plus ssh session (${sshd.target})`);

    await page.goto(`${new URL(url).origin}/#terminals`);
    await page.click("[data-testid=terminal-new-empty]", { timeout: 30_000 });
    await page.waitForSelector("[data-testid=terminal] .xterm", { timeout: 30_000 });
    await page.click("[data-testid=terminal] .xterm");
    await page.keyboard.type("whoami\n");
    await expect
      .poll(() => page.locator("[data-testid=terminal] .xterm").innerText(), { timeout: 30_000 })
      .toMatch(new RegExp(`^${sshd.user}$`, "m"));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-terminal.png") });
    await context.close();
  }, 120_000);

  it("the local Remote sessions page lists the session live", async () => {
    const { context, page } = await localRemotePage();
    const row = page.locator("[data-testid=remote-row]").filter({ hasText: sshd.target });
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 30_000 }).toBe("running");
    // This window is not a remote: no badge.
    expect(await page.getByTestId("remote-badge").count()).toBe(0);
    // Bad input is refused in the page, before any command.
    await page.fill("[data-testid=remote-add-input]", "-oProxyCommand=x");
    await page.click("button:has-text('Connect')");
    await page.waitForSelector(".remote-invalid");
    // Star it, filter, and open it by its target: the remote workspace opens in a new tab.
    await row.locator(".remote-star").click();
    await expect.poll(() => row.locator(".remote-star").getAttribute("aria-pressed")).toBe("true");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-sessions.png") });
    // The session's synced folders open under its row.
    await row.locator("[data-testid=remote-sync-toggle]").click();
    const syncRow = page.locator("[data-testid=remote-sync-row]");
    await syncRow.locator("[data-testid=sync-pairs]").waitFor();
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-sessions-sync.png") });
    await row.locator("[data-testid=remote-sync-toggle]").click();
    await syncRow.waitFor({ state: "detached" });
    await page.fill(".remote-filter", "no-such-target");
    await page.waitForSelector("text=No session matches the filter.");
    await page.fill(".remote-filter", sshd.user);
    await row.waitFor();
    const [remote] = await Promise.all([
      context.waitForEvent("page"),
      row.locator(".remote-target .link").click(),
    ]);
    const tunnel = new URL(url).origin;
    await remote.waitForURL((u) => u.origin === tunnel && !u.search.includes("token"));
    await expect.poll(() => remote.title(), { timeout: 20_000 }).toBe(sshd.target);
    await remote.close();
    // A target added in the page that cannot be reached: its row says why, with ssh's words.
    await page.fill(".remote-filter", "");
    await page.fill("[data-testid=remote-add-input]", "nobody@127.0.0.1:1");
    await page.click("button:has-text('Connect')");
    const bad = page.locator("[data-testid=remote-row]").filter({ hasText: "nobody@127.0.0.1:1" });
    await expect.poll(() => bad.getAttribute("data-status"), { timeout: 30_000 }).toBe("failed");
    await expect
      .poll(() => bad.locator("[data-testid=remote-row-error]").innerText())
      .toMatch(/host unreachable/);
    await bad.locator("summary").click();
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-sessions-failed.png") });
    page.once("dialog", (d) => void d.accept());
    await bad.locator("button:has-text('Remove')").click();
    await bad.waitFor({ state: "detached", timeout: 30_000 });
    // Stop from the page: the row turns stopped, live.
    await row.locator("button:has-text('Stop')").click();
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 60_000 }).toBe("stopped");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-sessions-stopped.png") });
    await context.close();
  }, 120_000);

  it("Connect in the page takes the CLI's options, asks what ssh asks (a new host key, a key's passphrase) in the row, and connects", async () => {
    const passphrase = "page passphrase 42";
    const { config, knownHosts } = askingSshConfig(sshd, "pp", passphrase);
    const { context, page } = await localRemotePage();
    const row = page.locator("[data-testid=remote-row]").filter({ hasText: sshd.target });
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 30_000 }).toBe("stopped");
    // Connected from the add field with the CLI's options: here an ssh config of its own.
    await page.fill("[data-testid=remote-add-input]", sshd.target);
    await page.getByTestId("remote-add-options-toggle").click();
    await page.getByTestId("remote-opt-ssh-args").fill(`-F${config}`);
    await page.getByTestId("remote-opt-local-port").fill("70000");
    await page.locator(".remote-add button:has-text('Connect')").click();
    await expect.poll(() => page.locator(".remote-invalid").textContent()).toMatch(/1 to 65535/);
    await page.getByTestId("remote-opt-local-port").fill("");
    await page.locator(".remote-add button:has-text('Connect')").click();
    const ask = row.getByTestId("remote-ask");
    await expect
      .poll(() => ask.getByTestId("remote-ask-prompt").textContent(), { timeout: 30_000 })
      .toMatch(/continue connecting \(yes\/no/);
    expect(await ask.getByTestId("remote-ask-input").getAttribute("type")).toBe("text");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-ask-host-key.png") });
    await ask.getByTestId("remote-ask-input").fill("yes");
    await ask.getByTestId("remote-ask-send").click();
    await expect
      .poll(() => ask.getByTestId("remote-ask-prompt").textContent(), { timeout: 30_000 })
      .toMatch(/Enter passphrase for key/);
    expect(await ask.getByTestId("remote-ask-input").getAttribute("type")).toBe("password");
    await ask.getByTestId("remote-ask-input").fill(passphrase);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "remote-ask-passphrase.png") });
    await ask.getByTestId("remote-ask-send").click();
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 60_000 }).toBe("running");
    expect(await ask.count()).toBe(0);
    expect(readFileSync(knownHosts, "utf8")).toContain("ssh-ed25519");
    await context.close();
  }, 120_000);
});
