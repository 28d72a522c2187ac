import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The installed package's root: the nearest folder up from this file whose package.json is ours. */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "cocalc-ai") return dir;
    } catch {
      // not here
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the cocalc-ai package root");
    dir = up;
  }
})();

/** The package version. */
export const VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }
).version;

/** The built web app. */
export const WEB_ROOT = join(PACKAGE_ROOT, "dist", "web");
