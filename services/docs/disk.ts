/**
 * The file side of a document on this machine's disk: read it as text (refusing binary and
 * oversized files), write it atomically (temp file + rename, keeping the mode), and watch it
 * for outside changes.
 */
import { type FSWatcher, watch } from "node:fs";
import { chmod, open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomId } from "../../shared/base64url.js";
import { DOC_MAX_BYTES } from "../../shared/docs.js";
import { CocalcError } from "../../shared/errors.js";
import { fsError } from "../runtime/paths.js";

export type DiskRead =
  | { status: "text"; text: string }
  | { status: "missing" }
  | { status: "binary"; size: number }
  /** Larger than `limit`, the most this read takes. */
  | { status: "too-large"; size: number; limit: number };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads `path` as a text document of at most `max` bytes (a text document's limit unless told). */
export async function readText(path: string, max = DOC_MAX_BYTES): Promise<DiskRead> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing" };
    throw fsError(err, path, "read");
  }
  if (!st.isFile()) {
    throw new CocalcError("ERR_DOC_NOT_TEXT", `${path} is not a regular file`);
  }
  if (st.size > max) return { status: "too-large", size: st.size, limit: max };
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing" };
    throw fsError(err, path, "read");
  }
  if (bytes.length > max) return { status: "too-large", size: bytes.length, limit: max };
  return textOf(bytes);
}

/** A file's bytes as a document's text: binary when it holds a NUL or is not UTF-8. */
export function textOf(bytes: Uint8Array): DiskRead {
  if (bytes.includes(0)) return { status: "binary", size: bytes.length };
  try {
    return { status: "text", text: strictUtf8.decode(bytes) };
  } catch {
    return { status: "binary", size: bytes.length };
  }
}

/**
 * Writes `text` to `path` through a temp file in the same directory and a rename, so a reader
 * never sees half a file; the file keeps its mode (new files get 0644 minus the umask).
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  let mode: number | undefined;
  try {
    mode = (await stat(path)).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomId().slice(0, 10)}.tmp`);
  const fh = await open(tmp, "wx", mode ?? 0o644);
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Watches one file by watching its directory (an atomic rename by an editor or git replaces
 * the file's inode, which a watch on the file itself would lose). Calls `changed` debounced.
 */
export function watchFile(path: string, changed: () => void, debounceMs = 40): () => void {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(changed, debounceMs);
    });
    watcher.on("error", () => undefined);
  } catch {
    // The directory is gone: nothing to watch; the document shows the file as deleted.
  }
  return () => {
    if (timer) clearTimeout(timer);
    watcher?.close();
  };
}
