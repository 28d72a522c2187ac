/**
 * The hub's pages in Chromium: contexts signed in as a hub account (its credential in the hub
 * origin's storage, where the web app keeps it), and what tests do on a workspace's page.
 */
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";

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
