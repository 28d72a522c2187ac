/**
 * Uploads and downloads in chunks (shared/file-transfer.ts), where the file operations run:
 * in the fs service, or in its worker as the workspace's user, so every byte is written and
 * read with that user's rights and through the same pinned, checked paths as plus's uploads
 * (services/runtime/uploads.ts). Each transfer in progress holds an open file (or a folder's
 * archive) until it ends, is aborted, or hears nothing for the idle time; then its temp file
 * is removed and its descriptors closed.
 */
import { constants } from "node:fs";
import { type FileHandle, lstat, unlink } from "node:fs/promises";
import { basename } from "node:path";
import type { Pack } from "tar-stream";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type DownloadInfo,
  TRANSFER_CHUNK_BYTES,
  TRANSFER_IDLE_MS,
  type TransferRequest,
} from "../../shared/file-transfer.js";
import { UPLOAD_TEMP_PREFIX } from "../../shared/files.js";
import { nameOf } from "../../shared/paths.js";
import type { Logger } from "../runtime/logger.js";
import { fsError, type PathResolver } from "../runtime/paths.js";
import {
  archiveName,
  folderArchive,
  openUpload,
  type PublishFileEvent,
  type UploadTarget,
} from "../runtime/uploads.js";

/** A transfer request's answer: its result, the bytes read, and for a new upload its temp file. */
export interface TransferAnswer {
  result: unknown;
  bytes?: Uint8Array;
  /** A new upload's temp file (canonical), for the service's journal; never sent on. */
  tempPath?: string;
  /** The upload whose temp file that is ended (finished or not). */
  ended?: string;
}

interface Upload {
  target: UploadTarget;
  /** Where the next chunk starts. */
  next: number;
  writes: Set<Promise<unknown>>;
  failed?: Error;
  timer: NodeJS.Timeout;
}

/** Reads a folder's archive in order, in pieces of the size asked. */
class ArchiveReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private rest: Uint8Array = new Uint8Array(0);
  private done = false;
  position = 0;

  constructor(private readonly pack: Pack) {
    this.it = (pack as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  }

  async read(length: number): Promise<{ bytes: Uint8Array; eof: boolean }> {
    const parts: Uint8Array[] = [];
    let have = 0;
    if (this.rest.length > 0) {
      parts.push(this.rest);
      have = this.rest.length;
      this.rest = new Uint8Array(0);
    }
    while (have < length && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        parts.push(next.value);
        have += next.value.length;
      }
    }
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const bytes = all.subarray(0, Math.min(length, all.length));
    this.rest = all.subarray(bytes.length);
    this.position += bytes.length;
    return { bytes, eof: this.done && this.rest.length === 0 };
  }

  close(): void {
    this.pack.destroy();
  }
}

type Download = { timer: NodeJS.Timeout } & (
  | { kind: "file"; handle: FileHandle; size: number }
  | { kind: "dir"; archive: ArchiveReader }
);

/** Writes `pieces` at `position`, all of them (a short write is retried; it then says why). */
async function writeAll(
  handle: FileHandle,
  pieces: readonly Uint8Array[],
  position: number,
): Promise<void> {
  const length = pieces.reduce((n, b) => n + b.length, 0);
  let done = (await handle.writev(pieces as Uint8Array[], position)).bytesWritten;
  if (done === length) return;
  const all = Buffer.concat(pieces);
  while (done < length) {
    const { bytesWritten } = await handle.write(all, done, length - done, position + done);
    if (bytesWritten === 0) throw new Error(`a write at byte ${position + done} wrote nothing`);
    done += bytesWritten;
  }
}

function unknownTransfer(id: string): CocalcError {
  return new CocalcError(
    "ERR_FS_TRANSFER",
    `no transfer ${id} in progress: it finished, was cancelled, or waited too long`,
  );
}

export class FileTransfers {
  private readonly uploads = new Map<string, Upload>();
  private readonly downloads = new Map<string, Download>();

  constructor(
    private readonly resolver: PathResolver,
    private readonly publish: PublishFileEvent,
    private readonly log: Logger,
    private readonly idleMs = TRANSFER_IDLE_MS,
  ) {}

  /** One request; a chunk's bytes come as the pieces they were read in. */
  async answer(r: TransferRequest, bytes: readonly Uint8Array[]): Promise<TransferAnswer> {
    switch (r.op) {
      case "upload":
        return this.begin(r);
      case "chunk":
        return { result: await this.chunk(r.id, r.offset, bytes) };
      case "finish":
        return { result: await this.finish(r.id, r.size), ended: r.id };
      case "abort":
        return { result: { aborted: await this.abort(r.id, "aborted") }, ended: r.id };
      case "download":
        return { result: await this.open(r.path) };
      case "read":
        return this.read(r.id, r.offset, r.length);
      case "close":
        return { result: { closed: this.close(r.id) } };
      default: {
        const never: never = r;
        throw new Error(`unhandled transfer op ${(never as { op: string }).op}`);
      }
    }
  }

  private idle(id: string, end: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.log.info({ transfer: id }, "transfer abandoned (no request for a while); ended");
      end();
    }, this.idleMs);
    timer.unref();
    return timer;
  }

  private async begin(r: TransferRequest<"upload">): Promise<TransferAnswer> {
    const target = await openUpload(
      this.resolver,
      { dir: r.dir, name: r.name, conflict: r.conflict, ...(r.save && { save: true }) },
      this.publish,
    ).catch((err) =>
      Promise.reject(
        fsError(err, this.resolver.display(this.resolver.absolute(r.dir)), "upload to"),
      ),
    );
    const id = randomId();
    this.uploads.set(id, {
      target,
      next: 0,
      writes: new Set(),
      timer: this.idle(id, () => void this.abort(id, "abandoned")),
    });
    return { result: { id }, tempPath: target.tempPath };
  }

  private touch<T extends { timer: NodeJS.Timeout }>(t: T): T {
    t.timer.refresh();
    return t;
  }

  private async chunk(id: string, offset: number, bytes: readonly Uint8Array[]) {
    const u = this.uploads.get(id);
    if (!u) throw unknownTransfer(id);
    this.touch(u);
    if (u.failed) throw u.failed;
    if (offset !== u.next) {
      await this.abort(id, "out of order");
      throw new CocalcError(
        "ERR_FS_TRANSFER",
        `${u.target.shown}: a chunk for byte ${offset} came where byte ${u.next} was due; the upload was cancelled`,
      );
    }
    u.next += bytes.reduce((n, b) => n + b.length, 0);
    // Positional writes: chunks in flight may land in any order.
    const write = writeAll(u.target.handle, bytes, offset);
    u.writes.add(write);
    try {
      await write;
    } catch (err) {
      u.failed = fsError(err, u.target.shown, "upload to");
      await this.abort(id, "write failed");
      throw u.failed;
    } finally {
      u.writes.delete(write);
    }
    return { received: u.next };
  }

  private async finish(id: string, size: number) {
    const u = this.uploads.get(id);
    if (!u) throw unknownTransfer(id);
    this.uploads.delete(id);
    clearTimeout(u.timer);
    await Promise.allSettled([...u.writes]);
    if (u.failed || size !== u.next) {
      await u.target.discard();
      throw (
        u.failed ??
        new CocalcError(
          "ERR_FS_UPLOAD_INCOMPLETE",
          `${u.target.shown}: ${u.next} of ${size} bytes arrived`,
        )
      );
    }
    try {
      const placed = await u.target.place(size);
      this.log.info({ path: placed.path, size }, "file uploaded");
      return placed;
    } catch (err) {
      throw fsError(err, u.target.shown, "upload to");
    }
  }

  private async abort(id: string, why: string): Promise<boolean> {
    const u = this.uploads.get(id);
    if (!u) return false;
    this.uploads.delete(id);
    clearTimeout(u.timer);
    await Promise.allSettled([...u.writes]);
    await u.target.discard();
    this.log.info({ path: u.target.shown, bytes: u.next, why }, "upload ended; nothing kept");
    return true;
  }

  private async open(input: string): Promise<DownloadInfo> {
    const shown = this.resolver.display(this.resolver.absolute(input));
    try {
      const real = await this.resolver.real(input);
      const id = randomId();
      const end = () => this.close(id);
      if ((await lstat(real)).isDirectory()) {
        const { top, file } = archiveName(real);
        const archive = new ArchiveReader(await folderArchive(this.resolver, real, top, this.log));
        this.downloads.set(id, { kind: "dir", archive, timer: this.idle(id, end) });
        return { id, kind: "dir", name: file };
      }
      // O_NONBLOCK: opening a named pipe must not wait for a writer.
      const { handle } = await this.resolver.openFile(
        real,
        constants.O_RDONLY | constants.O_NONBLOCK,
      );
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        throw new CocalcError(
          "ERR_FS_NOT_FILE",
          `cannot download ${shown}: it is not a regular file (a pipe, socket or device)`,
        );
      }
      this.downloads.set(id, { kind: "file", handle, size: st.size, timer: this.idle(id, end) });
      return { id, kind: "file", name: nameOf(real), size: st.size, mtime: st.mtimeMs };
    } catch (err) {
      throw fsError(err, shown, "download");
    }
  }

  private async read(id: string, offset: number, length: number): Promise<TransferAnswer> {
    const d = this.downloads.get(id);
    if (!d) throw unknownTransfer(id);
    this.touch(d);
    const want = Math.min(length, TRANSFER_CHUNK_BYTES);
    if (d.kind === "dir") {
      if (offset !== d.archive.position)
        throw new CocalcError(
          "ERR_FS_TRANSFER",
          `a folder's archive is read in order: byte ${d.archive.position} is next, not ${offset}`,
        );
      const { bytes, eof } = await d.archive.read(want);
      return { result: { eof }, bytes };
    }
    const n = Math.max(0, Math.min(want, d.size - offset));
    const buffer = Buffer.alloc(n);
    const { bytesRead } = n > 0 ? await d.handle.read(buffer, 0, n, offset) : { bytesRead: 0 };
    return {
      result: { eof: bytesRead === 0 || offset + bytesRead >= d.size },
      bytes: buffer.subarray(0, bytesRead),
    };
  }

  private close(id: string): boolean {
    const d = this.downloads.get(id);
    if (!d) return false;
    this.downloads.delete(id);
    clearTimeout(d.timer);
    if (d.kind === "file") void d.handle.close().catch(() => undefined);
    else d.archive.close();
    return true;
  }

  /**
   * Removes an abandoned upload's temp file named by the service's journal: only a regular
   * file named like one, and only with this process's rights.
   */
  async removeTemp(path: string): Promise<void> {
    if (!path.startsWith("/") || !basename(path).startsWith(UPLOAD_TEMP_PREFIX)) return;
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile()) await unlink(path);
  }

  /** Ends every transfer (the service stops): temp files removed, files closed. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.uploads.keys()].map((id) => this.abort(id, "stopping")));
    for (const id of [...this.downloads.keys()]) this.close(id);
  }
}
