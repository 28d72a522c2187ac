/** Debian's Chromium, driven by playwright-core. Tests skip with a reason where it is missing. */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`skipping browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  await retryNetworkChanged(browser);
  return browser;
}

let navigationsRetried = false;

/**
 * Chromium cuts a navigation with ERR_NETWORK_CHANGED when the machine's network interfaces
 * change under it, as they do while tests beside this one make and remove podman networks;
 * such a navigation (and only such) is made again, twice at most. Pages of every browser of
 * this process share the one prototype patched here.
 */
async function retryNetworkChanged(browser: Browser): Promise<void> {
  if (navigationsRetried) return;
  navigationsRetried = true;
  const page = await browser.newPage();
  const proto = Object.getPrototypeOf(page) as Pick<Page, "goto" | "reload">;
  await page.close();
  for (const name of ["goto", "reload"] as const) {
    const original = proto[name] as (...args: unknown[]) => Promise<unknown>;
    (proto as Record<string, unknown>)[name] = async function (this: Page, ...args: unknown[]) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await original.apply(this, args);
        } catch (err) {
          if (attempt >= 2 || !/ERR_NETWORK_CHANGED/.test(String(err))) throw err;
        }
      }
    };
  }
}

/** Files as the drop builds them: a path with '/' is a file inside a dropped folder. */
export interface DropFile {
  path: string;
  size: number;
}

/**
 * A drop as the browser delivers it, synthesised with a DataTransfer. Files inside a dropped
 * folder carry their path in webkitRelativePath, as the file list of a real folder drop does.
 */
export async function dropFiles(page: Page, selector: string, files: DropFile[]): Promise<void> {
  const dt = await page.evaluateHandle((list: DropFile[]) => {
    const transfer = new DataTransfer();
    for (const f of list) {
      const file = new File([new Uint8Array(f.size).fill(97)], f.path.split("/").pop()!);
      if (f.path.includes("/")) {
        Object.defineProperty(file, "webkitRelativePath", { value: f.path });
      }
      transfer.items.add(file);
    }
    return transfer;
  }, files);
  for (const type of ["dragenter", "dragover", "drop"]) {
    await page.dispatchEvent(selector, type, { dataTransfer: dt });
  }
  await dt.dispose();
}

/** The text on the page's terminal screen, row by row. */
export function terminalScreen(page: Page): Promise<string> {
  return page.evaluate(() => {
    const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
    return Array.from(rows?.children ?? [])
      .map((r) => (r.textContent ?? "").replace(/\u00a0/g, " ").trimEnd())
      .join("\n");
  });
}
