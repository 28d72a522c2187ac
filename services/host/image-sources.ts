/**
 * What an admin on the web may import as an image: only rootfs directories of the hub's
 * images directory (`--images DIR`, the same ones placement imports). An admin account is not
 * root on the hub machine: an import of any path would copy it into an image a workspace can
 * read (an import of `/` would hand out the machine's keys), so a path is checked where it
 * really leads, symlinks resolved. The console (root) may name any path.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import type { ImageSource } from "../../shared/launchpad.js";

/** At most this many sources are listed (the page shows them a page at a time). */
export const MAX_IMAGE_SOURCES = 1000;

const noDir = () =>
  new CocalcError(
    "ERR_HOST_IMAGE_SOURCE",
    "this hub has no images directory: start it with --images DIR (rootfs directories DIR/NAME) to import images from the admin pages",
  );

async function isRootfs(dir: string): Promise<boolean> {
  const [d, bin] = await Promise.all([
    stat(dir).catch(() => undefined),
    stat(join(dir, "bin")).catch(() => undefined),
  ]);
  return d?.isDirectory() === true && bin?.isDirectory() === true;
}

/** The rootfs directories (those with `bin/`) in `imagesDir`, by name. */
export async function listImageSources(imagesDir: string | undefined): Promise<ImageSource[]> {
  if (imagesDir === undefined) throw noDir();
  const real = await realpath(imagesDir).catch(() => {
    throw new CocalcError("ERR_HOST_IMAGE_SOURCE", `the images directory ${imagesDir} is missing`);
  });
  const out: ImageSource[] = [];
  const names = (await readdir(real)).filter((n) => !n.startsWith(".")).sort();
  for (const name of names) {
    if (out.length >= MAX_IMAGE_SOURCES) break;
    const path = join(imagesDir, name);
    if ((await checkedSource(real, path)) !== undefined) out.push({ name, path });
  }
  return out;
}

/**
 * `source` as an admin may import it: a rootfs directory right inside `imagesDir`, where it
 * leads with symlinks resolved (the path to send the host). ERR_HOST_IMAGE_SOURCE says why not.
 */
export async function adminImageSource(
  imagesDir: string | undefined,
  source: string,
): Promise<string> {
  if (imagesDir === undefined) throw noDir();
  const real = await realpath(imagesDir).catch(() => {
    throw new CocalcError("ERR_HOST_IMAGE_SOURCE", `the images directory ${imagesDir} is missing`);
  });
  const checked = await checkedSource(real, source);
  if (checked === undefined)
    throw new CocalcError(
      "ERR_HOST_IMAGE_SOURCE",
      `${source} is not a root file system directory of the hub's images directory ${imagesDir} (a directory NAME there with bin/ in it)`,
    );
  return checked;
}

async function checkedSource(realImagesDir: string, source: string): Promise<string | undefined> {
  const real = await realpath(source).catch(() => undefined);
  if (real === undefined || dirname(real) !== realImagesDir) return undefined;
  return (await isRootfs(real)) ? real : undefined;
}
