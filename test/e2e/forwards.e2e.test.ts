/**
 * Port forwards in Chromium: a remote session to a real sshd on loopback (a second local user
 * as the remote, serving HTTP on its loopback), its "Port forwards" list on the Remote
 * sessions page: a bad port refused in words, a forward added and shown "up", its "open"
 * link showing the remote's page, and removed.
 */
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { until } from "../helpers/nats.js";
import { plusCommand as plus, plusEnv, removeHome, tempHome, WEB_BUILT } from "../helpers/plus.js";
import { remoteSessionsPage } from "../helpers/remote-sessions.js";
import { nodeMissingReason, type Sshd, sshdSkipReason, startSshd } from "../helpers/sshd.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
let why =
  sshdSkipReason() ?? (HAVE_CHROMIUM && WEB_BUILT ? undefined : "no Chromium or no web build");
if (why) console.warn(`port forwards e2e skipped: ${why}`);

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describe.skipIf(why !== undefined)("port forwards in Chromium", () => {
  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let browser: Browser;
  let remotePort: number;

  beforeAll(async () => {
    sshd = await startSshd("cocalcfwdweb");
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`port forwards e2e skipped: ${why}`);
      return;
    }
    remotePort = await freePort();
    sshd.asUser(
      `cd /tmp && nohup node -e 'require("http").createServer((q, s) => { s.setHeader("content-type", "text/html"); s.end("<h1>served on the remote by " + process.env.USER + "</h1>"); }).listen(${remotePort}, "127.0.0.1")' >/dev/null 2>&1 &`,
    );
    await until("the remote web server", () => listening(remotePort), 20_000);
    home = await tempHome();
    dataDir = join(home, "data");
    env = plusEnv(home);
    const r = await plus(
      ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs],
      env,
    );
    if (r.code !== 0) throw new Error(r.stderr);
    browser = await launchChromium();
  }, 240_000);

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    await browser?.close();
    if (!sshd) return;
    if (dataDir) {
      await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
      await plus(["stop", "--terminals", "--data-dir", dataDir], env);
    }
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host|node -e"]);
    } catch {
      // none left
    }
    await sshd.stop();
    if (home) await removeHome(home);
  }, 90_000);

  it("adds a forward in the page, shows it up, opens it, removes it", async () => {
    const { context, page } = await remoteSessionsPage(browser, dataDir);
    const row = page.locator("[data-testid=remote-row]").filter({ hasText: sshd.target });
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 30_000 }).toBe("running");
    await row.locator("[data-testid=remote-forwards-toggle]").click();
    const list = page.locator("[data-testid=remote-forwards-row] [data-testid=port-forwards]");
    await list.locator("[data-testid=forward-empty]").waitFor();

    // A port out of range: refused in words, nothing added.
    await list.locator("[data-testid=forward-add]").click();
    await list.locator("[data-testid=forward-local]").fill("70000");
    await list.locator("[data-testid=forward-submit]").click();
    await expect
      .poll(() => list.locator("[data-testid=forward-error]").textContent(), { timeout: 30_000 })
      .toMatch(/local port must be a whole number from 1 to 65535/);
    expect(await list.locator("[data-testid=forward]").count()).toBe(0);

    const localPort = await freePort();
    await list.locator("[data-testid=forward-local]").fill(String(localPort));
    await list.locator("[data-testid=forward-remote]").fill(String(remotePort));
    await list.locator("input[placeholder='e.g. jupyter']").fill("demo");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "forwards-form.png") });
    await list.locator("[data-testid=forward-submit]").click();
    const item = list.locator("[data-testid=forward]");
    await expect.poll(() => item.getAttribute("data-status"), { timeout: 60_000 }).toBe("up");
    expect(await item.textContent()).toContain(`localhost:${localPort} ← remote:${remotePort}`);
    const open = item.locator("[data-testid=forward-open]");
    expect(await open.getAttribute("href")).toBe(`http://localhost:${localPort}/`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "forwards.png") });

    const [tab] = await Promise.all([context.waitForEvent("page"), open.click()]);
    await tab.waitForLoadState();
    await expect
      .poll(() => tab.locator("h1").textContent(), { timeout: 30_000 })
      .toBe(`served on the remote by ${sshd.user}`);
    await tab.close();

    await item.locator("[data-testid=forward-remove]").click();
    await list.locator("[data-testid=forward-empty]").waitFor({ timeout: 30_000 });
    await until("the port is closed", async () => !(await listening(localPort)));
    await context.close();
  }, 180_000);
});
