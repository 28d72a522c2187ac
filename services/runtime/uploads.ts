/**
 * What an upload and a folder download do on disk, whoever carries the bytes (plus's HTTP
 * gateway, or the fs service for the hub's gateway over NATS):
 *
 * - An upload enters (or makes) the folders of its relative name, pinned one by one, writes a
 *   hidden temp file (UPLOAD_TEMP_PREFIX) beside its target, and only once every byte is
 *   there puts it at its name by the conflict rule (fail, replace, rename to a free name),
 *   then FileUploaded is published. Discarded, it leaves nothing.
 * - A folder download is a tar archive, walked through pinned directories: symlinks are
 *   stored as links, never followed.
 */
import { constants, type Stats } from "node:fs";
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  unlink,
} from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Pack } from "tar-stream";
import { randomId } from "../../shared/base64url.js";
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import type { UploadConflict, UploadResult } from "../../shared/file-transfer.js";
import { type FsEvent, nextFreeName, UPLOAD_TEMP_PREFIX } from "../../shared/files.js";
import { checkRelativePath, joinPath, nameOf } from "../../shared/paths.js";
import type { Logger } from "./logger.js";
import { fsError, type PathResolver, type PinnedDir, pinChild } from "./paths.js";

export type PublishFileEvent = (event: Uncommitted<FsEvent>) => Promise<void>;

export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** An upload's temp file, open for writing, and what becomes of it. */
export interface UploadTarget {
  /** The target, as people see it (for messages). */
  readonly shown: string;
  /** The temp file's canonical path (for a journal of uploads in progress). */
  readonly tempPath: string;
  readonly handle: FileHandle;
  /** Puts the complete temp file at its name and publishes FileUploaded. */
  place(size: number): Promise<UploadResult>;
  /** Removes the temp file (an upload that did not complete). */
  discard(): Promise<void>;
}

export interface UploadInput {
  dir: string;
  /** A relative path: `file`, or `folder/sub/file`. */
  name: string;
  conflict: UploadConflict;
  /** A document saved: a replaced file keeps its mode; FileWritten (or FileCreated), not FileUploaded. */
  save?: boolean;
}

/**
 * Checks an upload's name, makes its folders and opens its temp file. `beforeTemp` runs with
 * the temp file's path before it is made (a journal records it there).
 */
export async function openUpload(
  resolver: PathResolver,
  input: UploadInput,
  publish: PublishFileEvent,
  beforeTemp?: (tempPath: string) => Promise<void>,
): Promise<UploadTarget> {
  const parts = checkRelativePath(input.name);
  const hidden = parts.find((p) => p.startsWith(UPLOAD_TEMP_PREFIX));
  if (hidden !== undefined) {
    // Listings hide such names (uploads in progress): a file of that name would vanish.
    throw new CocalcError(
      "ERR_FS_NAME",
      `${JSON.stringify(hidden)} starts with ${UPLOAD_TEMP_PREFIX}, which is kept for uploads in progress; rename it first`,
    );
  }
  const base = await resolver.pinDir(input.dir);
  const dirs = await enterFolders(resolver, base, parts.slice(0, -1), publish).catch(
    async (err) => {
      await base.close();
      throw err;
    },
  );
  const closeDirs = async () => {
    for (const d of dirs) await d.close();
  };
  const dir = dirs.at(-1)!;
  const name = parts.at(-1)!;
  const shown = resolver.display(joinPath(dir.path, name));
  const temp = `${UPLOAD_TEMP_PREFIX}${randomId()}`;
  let handle: FileHandle;
  try {
    if (input.conflict === "fail" && (await lstatOrNull(dir.at(name))) !== null)
      throw new CocalcError("ERR_FS_EXISTS", `${shown} already exists`);
    await beforeTemp?.(joinPath(dir.path, temp));
    handle = await open(
      dir.at(temp),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o666,
    );
  } catch (err) {
    await closeDirs();
    // The message names the file that could not be made, not only its folder.
    throw fsError(err, shown, "upload to");
  }
  let ended = false;
  return {
    shown,
    tempPath: joinPath(dir.path, temp),
    handle,
    async place(size) {
      if (ended) throw new Error(`the upload to ${shown} already ended`);
      ended = true;
      try {
        if (input.save) {
          const before = await lstatOrNull(dir.at(name));
          if (before?.isFile()) await handle.chmod(before.mode & 0o7777);
        }
        await handle.close().catch(() => undefined);
        const placed = await place(resolver, dir, temp, name, input.conflict);
        const path = joinPath(dir.path, placed.name);
        await publish(
          !input.save
            ? { type: "FileUploaded", data: { path, size, replaced: placed.replaced } }
            : placed.replaced
              ? { type: "FileWritten", data: { path, size } }
              : { type: "FileCreated", data: { path, kind: "file" } },
        );
        return {
          path,
          display: resolver.display(path),
          name: placed.name,
          size,
          replaced: placed.replaced,
        };
      } catch (err) {
        await unlink(dir.at(temp)).catch(() => undefined);
        throw err;
      } finally {
        await closeDirs();
      }
    },
    async discard() {
      if (ended) return;
      ended = true;
      await handle.close().catch(() => undefined);
      await unlink(dir.at(temp)).catch(() => undefined);
      await closeDirs();
    },
  };
}

/** Creates (or enters) the folders of a relative upload path, pinned one by one. */
async function enterFolders(
  resolver: PathResolver,
  base: PinnedDir,
  folders: string[],
  publish: PublishFileEvent,
): Promise<PinnedDir[]> {
  const opened: PinnedDir[] = [base];
  try {
    for (const folder of folders) {
      const here = opened.at(-1)!;
      const st = await lstatOrNull(here.at(folder));
      if (st === null) {
        try {
          await mkdir(here.at(folder));
          await publish({
            type: "FileCreated",
            data: { path: joinPath(here.path, folder), kind: "dir" },
          });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
      } else if (!st.isDirectory()) {
        throw new CocalcError(
          "ERR_FS_NOT_DIR",
          `${resolver.display(joinPath(here.path, folder))} exists and is not a folder`,
        );
      }
      opened.push(await pinChild(here, folder));
    }
    return opened;
  } catch (err) {
    for (const d of opened.slice(1)) await d.close();
    throw err;
  }
}

/** Puts the finished temp file at its name; returns the name used and what it replaced. */
async function place(
  resolver: PathResolver,
  dir: PinnedDir,
  temp: string,
  name: string,
  conflict: UploadConflict,
): Promise<{ name: string; replaced: boolean }> {
  const exists = (candidate: string) =>
    new CocalcError(
      "ERR_FS_EXISTS",
      `${resolver.display(joinPath(dir.path, candidate))} already exists`,
    );
  if (conflict === "replace") {
    const before = await lstatOrNull(dir.at(name));
    if (before?.isDirectory()) {
      throw new CocalcError(
        "ERR_FS_IS_DIR",
        `${resolver.display(joinPath(dir.path, name))} is a folder; it was not replaced`,
      );
    }
    await rename(dir.at(temp), dir.at(name));
    return { name, replaced: before !== null };
  }
  // link(2) fails when the name exists: no window in which another file could be replaced.
  const taken = new Set<string>();
  for (;;) {
    const candidate = conflict === "rename" ? nextFreeName(name, (n) => taken.has(n)) : name;
    try {
      await link(dir.at(temp), dir.at(candidate));
      await unlink(dir.at(temp));
      return { name: candidate, replaced: false };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") {
        if (conflict === "fail") throw exists(candidate);
        taken.add(candidate);
        continue;
      }
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
      // No hard links on this file system: check, then rename.
      if ((await lstatOrNull(dir.at(candidate))) !== null) {
        if (conflict === "fail") throw exists(candidate);
        taken.add(candidate);
        continue;
      }
      await rename(dir.at(temp), dir.at(candidate));
      return { name: candidate, replaced: false };
    }
  }
}

/**
 * Directory `real` (canonical, checked) as a tar archive whose top folder is `top`. What
 * cannot be read is left out (and logged); the stream fails if the walk itself does.
 */
export async function folderArchive(
  resolver: PathResolver,
  real: string,
  top: string,
  log: Logger,
): Promise<Pack> {
  // Loaded on the first folder download, not at every start.
  const { pack } = await import("tar-stream");
  const archive = pack();
  const root = await resolver.pinReal(real);
  const walk = async (dir: PinnedDir, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir.dirPath)).sort()) {
      if (archive.destroyed) return;
      const path = dir.at(name);
      const rel = `${prefix}/${name}`;
      let st: Stats;
      try {
        st = await lstat(path);
      } catch {
        continue; // removed meanwhile
      }
      const header = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime };
      if (st.isDirectory()) {
        archive.entry({ ...header, type: "directory" });
        let child: PinnedDir;
        try {
          child = await pinChild(dir, name);
        } catch (err) {
          log.warn({ path: rel, err }, "folder left out of the archive");
          continue;
        }
        try {
          await walk(child, rel);
        } finally {
          await child.close();
        }
      } else if (st.isSymbolicLink()) {
        archive.entry({ ...header, type: "symlink", linkname: await readlink(path) });
      } else if (st.isFile()) {
        let handle: FileHandle;
        try {
          handle = await open(
            path,
            constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
          );
        } catch (err) {
          log.warn({ path: rel, err }, "file left out of the archive");
          continue;
        }
        try {
          if (st.size > 0) {
            await pipeline(
              handle.createReadStream({ start: 0, end: st.size - 1, autoClose: true }),
              archive.entry({ ...header, size: st.size }),
            );
          } else {
            archive.entry({ ...header, size: 0 }, "");
          }
        } finally {
          await handle.close();
        }
      }
    }
  };
  void (async () => {
    try {
      archive.entry({ name: top, type: "directory", mode: 0o755, mtime: new Date() });
      await walk(root, top);
      archive.finalize();
    } catch (err) {
      log.warn({ path: real, err }, "archive cut short");
      archive.destroy(err as Error);
    } finally {
      await root.close();
    }
  })();
  return archive;
}

/** The name a folder's archive gets: `folder.tar` (`root.tar` for /). */
export function archiveName(real: string): { top: string; file: string } {
  const top = nameOf(real) || "root";
  return { top, file: `${top}.tar` };
}
