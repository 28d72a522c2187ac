/**
 * `cocalc-plus ssh stop`, `--upgrade` and `ssh rm` with five tabs of the remote workspace open: the remote plus's whole
 * tree ends by itself (no SIGKILL), nats-server and its terminals' pty host with it; on this
 * side no ssh of the session stays (its ControlMaster, its tunnel); every tab says plus
 * stopped. A real sshd on loopback and a second local user.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { plusCommand as plus, plusEnv, removeHome, tempHome, WEB_BUILT } from "../helpers/plus.js";
import { type Sshd, sshdSkipReason, startSshd } from "../helpers/sshd.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const PACKAGE_JSON = fileURLToPath(new URL("../../package.json", import.meta.url));
const skip =
  sshdSkipReason() ?? (HAVE_CHROMIUM && WEB_BUILT ? undefined : "no Chromium or no web build");
if (skip) console.warn(`skipping the remote stop e2e test: ${skip}`);

/** Processes whose command line matches `pattern` (of `user`, or everyone's), zombies aside. */
function processes(pattern: RegExp, user?: string): string[] {
  let out = "";
  try {
    out = execFileSync("ps", [...(user ? ["-u", user] : ["-e"]), "-o", "pid=,args="], {
      encoding: "utf8",
    });
  } catch {
    return [];
  }
  return out.split("\n").filter((l) => pattern.test(l) && !l.includes("<defunct>"));
}

describe.skipIf(skip !== undefined)("ssh stop with five tabs of the remote open", () => {
  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let browser: Browser;
  let url: string;
  /** This plus's ssh clients: the session's ControlMaster (its socket under the data dir) and what runs over it. */
  const ours = () =>
    new RegExp(`^\\s*\\d+ \\S*ssh .*${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);

  beforeAll(async () => {
    sshd = await startSshd("cocalcstop");
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host"]);
    } catch {
      // nothing ran
    }
    sshd.asUser('rm -rf "$HOME/.local/share/cocalc-plus"');
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

  it("ssh stop: the remote's tree ends by itself, no ssh of the session stays, every tab says stopped", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pages: Page[] = [];
    for (let i = 0; i < 5; i++) {
      const page = await context.newPage();
      await page.goto(i === 0 ? url : new URL(url).origin);
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 60_000 })
        .toBe("connected");
      pages.push(page);
    }
    // A terminal runs on the remote: its pty host is part of what must end.
    await pages[0]!.goto(`${new URL(url).origin}/#terminals`);
    await pages[0]!.click("[data-testid=terminal-new-empty]", { timeout: 30_000 });
    await pages[0]!.waitForSelector("[data-testid=terminal] .xterm", { timeout: 30_000 });
    const remote = /plus\.js|nats-server|pty-host/;
    expect(processes(remote, sshd.user).length).toBeGreaterThan(1);
    expect(processes(ours()).length).toBeGreaterThan(0);

    const began = Date.now();
    const r = await plus(["ssh", "stop", sshd.target, "--data-dir", dataDir], env);
    // How long it took is printed, not asserted (the machine is shared); it ended by itself.
    console.log(`the remote plus stopped with five tabs open in ${Date.now() - began} ms`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stopped cocalc-plus \(pid \d+\)/);
    expect(r.stdout).not.toMatch(/was killed/);
    expect(processes(remote, sshd.user)).toEqual([]);
    await expect.poll(() => processes(ours()), { timeout: 10_000 }).toEqual([]);
    for (const page of pages)
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 15_000 })
        .toBe("plus stopped");
    if (SHOTS) await pages[1]!.screenshot({ path: join(SHOTS, "remote-stopped.png") });
    await context.close();
  }, 180_000);
  it("--upgrade with five tabs open: the other version's whole tree ends by itself, the new one runs, every tab goes on without a reload; then ssh rm stops it as ssh stop does and forgets the session", async () => {
    const version = (JSON.parse(readFileSync(PACKAGE_JSON, "utf8")) as { version: string }).version;
    // An older plus, as if installed by an earlier cocalc-plus, runs on the remote.
    sshd.asUser(
      [
        'c="$HOME/.cache/cocalc/cocalc-plus"',
        `rm -rf "$c/0.0.9" && cp -a "$c/${version}" "$c/0.0.9"`,
        `sed -i 's/"version": "${version}"/"version": "0.0.9"/' "$c/0.0.9/package.json"`,
        's="$HOME/.local/share/cocalc-plus/ssh"',
        'cd "$HOME" && node "$c/0.0.9/dist/bundle/plus.js" --daemon --no-open --bind 127.0.0.1 --data-dir "$HOME/.local/share/cocalc-plus" --token-file "$s/token" --write-connection-info "$s/connection.json" --nats-server "$c/0.0.9/bin/nats-server" > /dev/null',
      ].join("; "),
    );
    const c = await plus(
      ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs],
      env,
    );
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/version mismatch: the remote runs cocalc-plus 0\.0\.9/);
    const at = /ready: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(c.stdout)![1]!;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pages: Page[] = [];
    for (let i = 0; i < 5; i++) {
      const page = await context.newPage();
      await page.goto(i === 0 ? at : new URL(at).origin);
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 60_000 })
        .toBe("connected");
      await page.evaluate(() => {
        (window as unknown as { beforeUpgrade: boolean }).beforeUpgrade = true;
      });
      pages.push(page);
    }
    const old = processes(/0\.0\.9/, sshd.user);
    expect(old.length).toBeGreaterThan(0);

    const began = Date.now();
    const u = await plus(
      ["ssh", sshd.target, "--upgrade", "--no-open", "--data-dir", dataDir, ...sshd.sshArgs],
      env,
    );
    console.log(`the remote plus was upgraded with five tabs open in ${Date.now() - began} ms`);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toMatch(/stopping cocalc-plus 0\.0\.9 on the remote to upgrade it/);
    expect(`${u.stdout}${u.stderr}`).not.toMatch(/was killed/);
    // Nothing of the old version is left; the new one runs.
    expect(processes(/0\.0\.9/, sshd.user)).toEqual([]);
    expect(
      processes(new RegExp(`cocalc-plus/${version.replace(/[.]/g, "\\.")}/`), sshd.user).length,
    ).toBeGreaterThan(0);
    for (const page of pages) {
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 90_000 })
        .toBe("connected");
      expect(
        await page.evaluate(() => (window as unknown as { beforeUpgrade?: boolean }).beforeUpgrade),
      ).toBe(true);
    }
    if (SHOTS) await pages[2]!.screenshot({ path: join(SHOTS, "remote-upgraded.png") });

    // ssh rm with the same five tabs: stopped as by ssh stop, and the session forgotten.
    const rm = await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
    expect(rm.code, rm.stderr).toBe(0);
    expect(`${rm.stdout}${rm.stderr}`).not.toMatch(/was killed/);
    expect(processes(/plus\.js|nats-server|pty-host/, sshd.user)).toEqual([]);
    await expect.poll(() => processes(ours()), { timeout: 10_000 }).toEqual([]);
    for (const page of pages)
      await expect
        .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 15_000 })
        .toBe("plus stopped");
    const list = await plus(["ssh", "list", "--data-dir", dataDir], env);
    expect(list.stdout).not.toContain(sshd.target);
    await context.close();
  }, 240_000);
});
