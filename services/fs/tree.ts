/**
 * Recursive delete and copy that walk through pinned directories: every directory on the
 * way is opened without following symlinks, so a tree swapped under us cannot lead the walk
 * out of it. Symlinks are deleted and copied as links, never followed.
 */
import { constants } from "node:fs";
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rmdir,
  symlink,
  unlink,
} from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { type PinnedDir, pinChild } from "../runtime/paths.js";

/** What an entry is, for events. */
export type EntryKind = "file" | "dir" | "other";

export async function kindAt(path: string): Promise<EntryKind> {
  const st = await lstat(path);
  return st.isDirectory() ? "dir" : st.isFile() || st.isSymbolicLink() ? "file" : "other";
}

/** Deletes entry `name` of `dir` and, for a directory, everything in it. */
export async function removeEntry(dir: PinnedDir, name: string): Promise<EntryKind> {
  const path = dir.at(name);
  const st = await lstat(path);
  if (!st.isDirectory()) {
    await unlink(path);
    return st.isFile() || st.isSymbolicLink() ? "file" : "other";
  }
  const child = await pinChild(dir, name);
  try {
    for (const n of await readdir(child.dirPath)) await removeEntry(child, n);
  } finally {
    await child.close();
  }
  await rmdir(path);
  return "dir";
}

export interface CopyOptions {
  /** Use copy_file_range / reflinks (copyFile); only where a swapped symlink cannot matter. */
  fast: boolean;
}

/**
 * Copies entry `srcName` of `src` to `dstName` in `dst` (which must not exist). Directories
 * are copied recursively, symlinks as symlinks; sockets, fifos and devices are skipped.
 */
export async function copyEntry(
  src: PinnedDir,
  srcName: string,
  dst: PinnedDir,
  dstName: string,
  opts: CopyOptions,
): Promise<EntryKind> {
  const from = src.at(srcName);
  const to = dst.at(dstName);
  const st = await lstat(from);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    return "file";
  }
  if (st.isDirectory()) {
    await mkdir(to, { mode: (st.mode & 0o777) | 0o700 });
    const s = await pinChild(src, srcName);
    try {
      const d = await pinChild(dst, dstName);
      try {
        for (const n of await readdir(s.dirPath)) await copyEntry(s, n, d, n, opts);
      } finally {
        await d.close();
      }
    } finally {
      await s.close();
    }
    return "dir";
  }
  if (!st.isFile()) return "other";
  if (opts.fast) {
    await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    return "file";
  }
  const input = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  let output: Awaited<ReturnType<typeof open>>;
  try {
    output = await open(
      to,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      st.mode & 0o777,
    );
  } catch (err) {
    await input.close();
    throw err;
  }
  try {
    // The streams close their handles when done (close() before that would wait forever).
    await pipeline(
      input.createReadStream({ autoClose: true }),
      output.createWriteStream({ autoClose: true }),
    );
  } catch (err) {
    await unlink(to).catch(() => undefined);
    throw err;
  } finally {
    await input.close().catch(() => undefined);
    await output.close().catch(() => undefined);
  }
  return "file";
}
