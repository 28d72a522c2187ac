/**
 * A cocalc-plus for the file benchmarks: started from the bundle with its own temp HOME and
 * data dir, signed in with the token it wrote to its 0600 connection-info token file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { freePort } from "../../services/runtime/ports.js";
import { launchChromium } from "../helpers/browser.js";
import { signIn } from "../helpers/plus.js";
import { type Spawned, spawnServer, stopServer, waitForFile, waitForHttp200 } from "./proc.js";

const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));

export interface BenchPlus {
  server: Spawned;
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  /** The URL with ?token=, for a browser. */
  signInUrl(): Promise<string>;
  /** Headers of a signed-in browser, for plain HTTP clients. */
  auth(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startBenchPlus(dir: string, home: string): Promise<BenchPlus> {
  const port = await freePort();
  const info = join(dir, "connection.json");
  const server = spawnServer(
    process.execPath,
    [
      PLUS_CLI,
      "--no-open",
      "--port",
      String(port),
      "--data-dir",
      join(dir, "data"),
      "--write-connection-info",
      info,
    ],
    {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "share"),
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp200(`${url}healthz`, server);
  // It answers before it writes the token file; the connection-info file comes last.
  await waitForFile(info, server);
  const token = async () => (await readFile(join(dir, "connection.token"), "utf8")).trim();
  return {
    server,
    url,
    port,
    signInUrl: async () => `${url}?token=${await token()}`,
    auth: async () => (await signIn(port, await token())).headers,
    stop: () => stopServer(server),
  };
}

/**
 * Chromium with one 1280x800 page signed in to `plus`, its explorer showing `home` (the
 * page's shortcuts work from then on); close() ends the browser.
 */
export async function signedInPage(
  plus: BenchPlus,
  home: string,
): Promise<{ page: Page; close(): Promise<void> }> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(await plus.signInUrl());
    await page.waitForURL(plus.url);
    await explorerReady(page, home);
    return { page, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** Resolves once the explorer shows `dir`, listed. */
export async function explorerReady(page: Page, dir: string): Promise<void> {
  await page.waitForSelector(`[data-testid="explorer"][data-dir="${dir}"][data-phase="ready"]`, {
    timeout: 60_000,
  });
}
