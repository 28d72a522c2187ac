import { spawn } from "node:child_process";
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomId } from "../../shared/base64url.js";

const PAGE_PREFIX = "open-";

/**
 * Opens `url` in the desktop's browser; false when there is no way to. The URL carries the
 * sign-in token, and an opener's argv can be read by every user (ps), so the opener gets the
 * path of a 0600 page in `dir` that sends the browser on to the URL.
 */
export async function openBrowser(url: string, dir: string): Promise<boolean> {
  const opener =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  let page: string;
  try {
    page = await writeRedirectPage(url, dir);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    try {
      const child = spawn(opener, [page], { stdio: "ignore", detached: true });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

/** Writes the redirect page (and removes the ones earlier opens left); returns its path. */
export async function writeRedirectPage(url: string, dir: string): Promise<string> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(PAGE_PREFIX) && name.endsWith(".html"))
      await rm(join(dir, name), { force: true });
  }
  const page = join(dir, `${PAGE_PREFIX}${randomId()}.html`);
  const target = JSON.stringify(url).replaceAll("<", "\\u003c");
  const attr = url.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");
  await writeFile(
    page,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${attr}">` +
      `<title>cocalc-plus</title><script>location.replace(${target})</script>` +
      `<p><a href="${attr}">Open cocalc-plus</a></p>\n`,
    { mode: 0o600 },
  );
  return page;
}
