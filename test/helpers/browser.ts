/** Debian's Chromium, driven by playwright-core. Tests skip with a reason where it is missing. */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { WEB_BUILT } from "./plus.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`skipping browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

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
