/**
 * The hub's pages in Chromium: contexts signed in as a hub account (its credential in the hub
 * origin's storage, where the web app keeps it), and what tests do on a workspace's page.
 */
import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";
import { UID_BASE } from "../../services/host/index.js";
import { WORKSPACE_UID } from "../../shared/launchpad.js";
import { dropFiles, HAVE_CHROMIUM, terminalScreen } from "./browser.js";
import { LAUNCHPAD_BUNDLE } from "./hub-process.js";
import { hostUnsupported } from "./launchpad.js";
import { WEB_BUILT } from "./plus.js";

/** Why the hub's pages with a real host cannot run here, or undefined when they can. */
export async function hubPagesUnsupported(): Promise<string | undefined> {
  return (
    (await hostUnsupported()) ??
    (!HAVE_CHROMIUM ? "no Chromium" : undefined) ??
    (!WEB_BUILT || !existsSync(LAUNCHPAD_BUNDLE) ? "not built (npm run build)" : undefined)
  );
}

export interface HubPages {
  /** A new page of its own context, signed in with `credential` (signed out without). */
  open(credential?: string): Promise<Page>;
  /** Closes every context it opened. */
  close(): Promise<void>;
}

export function hubPages(browser: Browser, base: string): HubPages {
  const contexts: Awaited<ReturnType<Browser["newContext"]>>[] = [];
  return {
    async open(credential) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.push(ctx);
      if (credential)
        await ctx.addInitScript(
          ([origin, c]) => {
            if (location.origin === origin) localStorage.setItem("cocalc-plus.credential", c!);
          },
          [base, credential],
        );
      return ctx.newPage();
    },
    async close() {
      for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    },
  };
}

/** The document editor's text area on `page`. */
export const editorOf = (page: Page) => page.locator("[data-testid=code-editor] .cm-content");

/** `page` at the workspace's address `url` (its Files tab), once its home is listed. */
export async function openFiles(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId("workspace-shell").waitFor({ timeout: 60_000 });
  await expect
    .poll(() => page.getByTestId("breadcrumb").getAttribute("data-path"), { timeout: 60_000 })
    .toBe("/home/user");
}

/** The Terminals tab, once its terminal runs. */
export async function openTerminals(page: Page): Promise<void> {
  await page.getByTestId("tab-terminals").click();
  await expect
    .poll(() => page.getByTestId("terminal-state").textContent(), { timeout: 60_000 })
    .toBe("running");
}

/** Keystrokes into the terminal on `page`'s screen. */
export async function typeInTerminal(page: Page, text: string): Promise<void> {
  await page.locator('[data-testid="terminal-screen"] .xterm-screen').click();
  await page.keyboard.type(text);
}

/**
 * A terminal of the workspace on three members' pages: the owner opens it, owner and
 * collaborator run `whoami` in the container (the workspace user), the viewer sees both and
 * what it types reaches neither screen.
 */
export async function terminalOfThree(pages: {
  owner: Page;
  collaborator: Page;
  viewer: Page;
}): Promise<void> {
  const { owner, collaborator, viewer } = pages;
  await owner.getByTestId("tab-terminals").click();
  await owner.getByTestId("terminal-new-empty").click();
  await openTerminals(owner);
  await typeInTerminal(owner, "echo owner=$(whoami)\n");
  await expect.poll(() => terminalScreen(owner), { timeout: 30_000 }).toContain("owner=user");
  await openTerminals(collaborator);
  await typeInTerminal(collaborator, "echo collaborator=$(whoami)\n");
  await expect
    .poll(() => terminalScreen(owner), { timeout: 30_000 })
    .toContain("collaborator=user");
  await openTerminals(viewer);
  await expect
    .poll(() => terminalScreen(viewer), { timeout: 30_000 })
    .toContain("collaborator=user");
  await typeInTerminal(viewer, "echo viewer-typed\n");
  // Once what the owner types next is on the viewer's screen, what it typed would be too.
  await typeInTerminal(owner, "echo owner-after\n");
  await expect.poll(() => terminalScreen(viewer), { timeout: 30_000 }).toContain("owner-after");
  expect(await terminalScreen(viewer)).not.toContain("viewer-typed");
  expect(await terminalScreen(owner)).not.toContain("viewer-typed");
}

/** The owner removes the member with `role` in the Share panel (left open). */
export async function removeMember(owner: Page, role: string): Promise<void> {
  await owner.getByTestId("hub-ws-share").click();
  await owner
    .locator(`[data-testid="hub-share-member"][data-role="${role}"]`)
    .getByTestId("hub-share-remove")
    .click();
}

/**
 * `n` files dropped as folder `batch` on the Files tab of `page`, uploaded (the uploads panel
 * says so) into `home` on the host's disk, each with its size and owned by the workspace user.
 */
export async function uploadBatch(page: Page, home: string, n: number): Promise<void> {
  await dropFiles(
    page,
    "[data-testid=explorer]",
    Array.from({ length: n }, (_, i) => ({ path: `batch/f${i}.txt`, size: 100 + i })),
  );
  await expect
    .poll(() => page.getByTestId("uploads").locator(".uploads-header > span").textContent(), {
      timeout: 180_000,
    })
    .toBe(`${n} uploaded`);
  const dir = join(home, "batch");
  expect((await readdir(dir)).length).toBe(n);
  const st = await stat(join(dir, "f7.txt"));
  expect(st.size).toBe(107);
  expect(st.uid).toBe(UID_BASE + WORKSPACE_UID);
}
