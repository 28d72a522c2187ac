/** Debian's Chromium, driven by playwright-core. Tests skip with a reason where it is missing. */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`skipping browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
