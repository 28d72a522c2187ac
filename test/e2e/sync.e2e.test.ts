/**
 * The Sync tab in Chromium against a running plus that syncs with a real sshd on loopback
 * (a second local user as the remote, through a session `cocalc-plus ssh` made): add a folder,
 * see "all files synced", see a conflict listed with both versions kept, and a bad pattern and
 * a session that does not exist refused in words.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import {
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  startPlus,
  tempHome,
  WEB_BUILT,
} from "../helpers/plus.js";
import { connectSession } from "../helpers/remote-sessions.js";
import {
  endRemotePlus,
  nodeMissingReason,
  type Sshd,
  SYNC_E2E_REMOTE_USER,
  sshdSkipReason,
  startSshd,
} from "../helpers/sshd.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
let why =
  sshdSkipReason() ??
  (HAVE_CHROMIUM ? undefined : "no Chromium") ??
  (WEB_BUILT ? undefined : "the web app is not built");
if (why) console.warn(`sync e2e skipped: ${why}`);

describe.skipIf(why !== undefined)("sync pairs in Chromium", () => {
  let sshd: Sshd;
  let plus: RunningPlus;
  let browser: Browser;
  let session: string;

  beforeAll(async () => {
    sshd = await startSshd(SYNC_E2E_REMOTE_USER);
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`sync e2e skipped: ${why}`);
      return;
    }
    endRemotePlus(sshd.user);
    const home = await tempHome();
    plus = await startPlus({ home });
    session = sshd.target;
    connectSession(sshd, plus.dataDir, plusEnv(home));
    browser = await launchChromium();
  }, 120_000);

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    await browser?.close();
    if (plus && sshd)
      runPlus(["ssh", "rm", session, "--data-dir", plus.dataDir], plusEnv(plus.home));
    await plus?.stop();
    if (sshd) endRemotePlus(sshd.user);
    await sshd?.stop();
    if (plus) await removeHome(plus.home);
    if (sshd) rmSync(join(sshd.home, "e2e"), { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(plus.signInUrl);
    await expect.poll(() => page.url()).toBe(plus.url);
    await page.goto(`${plus.url}#sync`);
    await page.getByTestId("sync-pairs").waitFor({ timeout: 30_000 });
    return page;
  }

  it("adds a folder, shows it synced with a check mark, lists a conflict, refuses bad input", async () => {
    const local = join(plus.home, "e2e/notes");
    const remote = join(sshd.home, "e2e/notes");
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, "todo.md"), "- write tests\n");
    const page = await open();
    await page.getByTestId("sync-empty").waitFor();

    // A session that was never connected: refused, nothing added.
    await page.getByTestId("sync-add").click();
    await page.getByPlaceholder("user@host:port").fill(`nobody@127.0.0.1:${sshd.port}`);
    await page.getByTestId("sync-local").fill("~/e2e/notes");
    await page.getByTestId("sync-submit").click();
    await expect
      .poll(() => page.getByTestId("sync-error").textContent(), { timeout: 30_000 })
      .toMatch(/no remote session .*connect it first with `?cocalc-plus ssh nobody@127\.0\.0\.1/);
    expect(await page.getByTestId("sync-pair").count()).toBe(0);

    // A pattern that does not parse: refused, nothing added.
    await page.getByPlaceholder("user@host:port").fill(session);
    await page.getByTestId("sync-ignore").fill("*.log\n[oops");
    await page.getByTestId("sync-submit").click();
    await expect
      .poll(() => page.getByTestId("sync-error").textContent(), { timeout: 30_000 })
      .toMatch(/\[oops.*line 2/);
    expect(await page.getByTestId("sync-pair").count()).toBe(0);

    await page.getByTestId("sync-ignore").fill("*.log");
    await page.getByText("syntax", { exact: true }).click();
    await page.getByTestId("sync-ignore-help").waitFor();
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/sync-form.png` });
    await page.getByTestId("sync-submit").click();
    const row = page.getByTestId("sync-pair");
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 60_000 }).toBe("synced");
    expect(await page.getByTestId("sync-status").textContent()).toContain("all files synced");
    expect(existsSync(join(remote, "todo.md"))).toBe(true);

    // A conflict: the same file changed on both sides while paused.
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => row.getAttribute("data-status")).toBe("paused");
    writeFileSync(join(local, "todo.md"), "- write tests\n- local line\n");
    writeFileSync(join(remote, "todo.md"), "- write tests\n- remote line!\n");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByText(/1 conflict/).click({ timeout: 60_000 });
    await expect
      .poll(() => page.getByTestId("sync-conflicts").textContent())
      .toMatch(/todo\.md.*todo\.conflict-remote-/);
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 60_000 }).toBe("synced");

    // Compared: this machine's version is at the path (the default preference), the remote's
    // in the copy, which the cycle after the conflict brought here.
    const conflict = page.getByTestId("sync-conflict");
    const copy = /todo\.conflict-remote-\S+\.md/.exec((await conflict.textContent()) ?? "")![0];
    await expect.poll(() => existsSync(join(local, copy)), { timeout: 60_000 }).toBe(true);
    await conflict.getByTestId("conflict-compare").click();
    const diff = conflict.getByTestId("conflict-diff");
    await expect.poll(() => diff.textContent(), { timeout: 10_000 }).toContain("- - local line");
    expect(await diff.textContent()).toContain("+ - remote line!");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/sync.png` });

    // Settled: the remote's version on both sides, the copy gone from both.
    await conflict.getByTestId("conflict-keep-remote").click();
    await expect.poll(() => page.getByTestId("sync-conflict").count(), { timeout: 30_000 }).toBe(0);
    await expect
      .poll(() => existsSync(join(local, copy)) || existsSync(join(remote, copy)), {
        timeout: 30_000,
      })
      .toBe(false);
    await expect
      .poll(() => readFileSync(join(local, "todo.md"), "utf8"), { timeout: 30_000 })
      .toBe("- write tests\n- remote line!\n");

    // Why is a file different: what sync knows of it, in words.
    await row.getByTestId("sync-why-toggle").click();
    await row.getByTestId("sync-why-path").fill("todo.md");
    await expect
      .poll(
        async () => {
          await row.getByTestId("sync-why-look").click();
          return row.getByTestId("sync-why-answer").textContent();
        },
        { timeout: 30_000 },
      )
      .toMatch(/Last decided in cycle \d+.*copied from the remote.*Both sides agree now/);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/sync-why.png` });
    await page.close();
  });

  it("a mirror pair from the page: the arrow says which way, the note what it does", async () => {
    const local = join(plus.home, "e2e/site");
    const remote = join(sshd.home, "e2e/site");
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, "index.html"), "<h1>hi</h1>\n");
    const page = await open();
    await page.getByTestId("sync-add").click();
    await page.getByPlaceholder("user@host:port").fill(session);
    await page.getByTestId("sync-local").fill("~/e2e/site");
    await page.getByTestId("sync-direction-field").selectOption("to-remote");
    expect(await page.getByTestId("sync-direction-note").textContent()).toMatch(
      /remote folder becomes a copy/,
    );
    // A dry run first: what the mirror would do, nothing done.
    mkdirSync(remote, { recursive: true });
    writeFileSync(join(remote, "old.html"), "old\n");
    await sshd.chownRemote("e2e/site");
    await page.getByTestId("sync-preview").click();
    await expect
      .poll(() => page.getByTestId("sync-preview-summary").textContent(), { timeout: 30_000 })
      .toMatch(/1 entry copied to the remote, 1 entry deleted on the remote; 12 B to move/);
    expect(await page.getByTestId("sync-preview-result").textContent()).toMatch(
      /delete on the remote\s*old\.html/,
    );
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/sync-preview.png` });
    expect(existsSync(join(remote, "old.html"))).toBe(true);
    expect(await page.getByTestId("sync-pair").count()).toBe(1);
    await page.getByTestId("sync-submit").click();
    const row = page.getByTestId("sync-pair").filter({ hasText: "~/e2e/site" });
    await expect.poll(() => row.getAttribute("data-status"), { timeout: 60_000 }).toBe("synced");
    expect(await row.getByTestId("sync-direction").textContent()).toBe("→");
    expect(readFileSync(join(remote, "index.html"), "utf8")).toBe("<h1>hi</h1>\n");
    expect(existsSync(join(remote, "old.html"))).toBe(false);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/sync-mirror.png` });
    await page.close();
  });
});
