/**
 * SSH keys on the hub's dashboard in Chromium: a signed-in person adds a public key with a
 * name and sees its fingerprint (the one `ssh-keygen -l` prints), a private key or garbage is
 * refused in words and changes nothing, and a key is removed. A hub in this process without
 * a host of its own (no podman needed).
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { hubPages } from "../helpers/hub-pages.js";
import { startTestHub, TEST_PASSWORD } from "../helpers/launchpad.js";
import { WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const why = !HAVE_CHROMIUM ? "no Chromium" : !WEB_BUILT ? "dist/web is not built" : undefined;
if (why) console.warn(`hub ssh keys e2e skipped: ${why}`);

describe.skipIf(why !== undefined)("hub ssh keys - the dashboard's SSH keys", () => {
  let dir: string;
  let hub: RunningHub;
  let browser: Browser;
  let credential: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-hub-ssh-keys-"));
    hub = await startTestHub(join(dir, "hub"));
    const base = new URL(hub.url).origin;
    const token = new URL(hub.setupUrl!).searchParams.get("token");
    const res = await fetch(`${base}${HUB_PATHS.setup}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({
        setupToken: token,
        email: "keys@example.com",
        password: TEST_PASSWORD,
      }),
    });
    expect(res.status).toBe(200);
    credential = ((await res.json()) as { credential: string }).credential;
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("hub ssh keys - add with a name, see the fingerprint, bad keys refused, remove", async () => {
    const pages = hubPages(browser, new URL(hub.url).origin);
    try {
      const page = await pages.open(credential);
      await page.goto(hub.url);
      const section = page.getByTestId("hub-ssh-keys");
      await section.getByTestId("hub-ssh-keys-none").waitFor();
      expect(await section.textContent()).toContain(`ssh -p ${hub.sshPort} WSID@`);
      // A private key is not a public key: refused, nothing added.
      await section.getByTestId("hub-ssh-key-name").fill("oops");
      await section.getByTestId("hub-ssh-key-text").fill(await readFile(join(dir, "key"), "utf8"));
      await section.getByTestId("hub-ssh-key-add").click();
      const problem = section.getByTestId("hub-ssh-key-problem");
      await problem.waitFor();
      expect(await problem.textContent()).toMatch(/not an SSH public key/);
      expect(await section.getByTestId("hub-ssh-key").count()).toBe(0);

      const pub = (await readFile(join(dir, "key.pub"), "utf8")).trim();
      await section.getByTestId("hub-ssh-key-name").fill("laptop");
      await section.getByTestId("hub-ssh-key-text").fill(pub);
      await section.getByTestId("hub-ssh-key-add").click();
      const row = section.getByTestId("hub-ssh-key");
      await row.waitFor();
      const fp = spawnSync("ssh-keygen", ["-l", "-f", join(dir, "key.pub")], {
        encoding: "utf8",
      }).stdout.split(" ")[1]!;
      expect(await row.textContent()).toContain(fp);
      expect(await row.textContent()).toContain("laptop");
      if (SHOTS) await page.screenshot({ path: join(SHOTS, "hub-ssh-keys.png"), fullPage: true });
      // The same key again: refused in words.
      await section.getByTestId("hub-ssh-key-name").fill("again");
      await section.getByTestId("hub-ssh-key-text").fill(pub);
      await section.getByTestId("hub-ssh-key-add").click();
      await problem.waitFor();
      expect(await problem.textContent()).toMatch(/on the account already/);

      await row.getByTestId("hub-ssh-key-remove").click();
      await section.getByTestId("hub-ssh-keys-none").waitFor();
    } finally {
      await pages.close();
    }
  });
});
