/**
 * Uploads and downloads over HTTP: file bytes never go through NATS.
 *
 * - `PUT /api/files/upload?dir=D&name=N&conflict=fail|replace|rename`: the body (any size) is
 *   streamed into a temp file in the target directory and renamed into place only when every
 *   byte arrived, so an aborted upload leaves nothing behind. `name` may be a relative path
 *   (`folder/sub/file`) for folder uploads: every component is checked, so it stays under D.
 *   Then FileUploaded is published.
 * - `GET /api/files/download?path=P`: a file, streamed, with Range support; a directory as a
 *   tar archive (symlinks stored as links, never followed).
 *
 * Both go through the PathResolver like every other file access, and are authenticated and
 * Origin-checked by the gateway's hooks like every request.
 */
import { constants, type Stats } from "node:fs";
import { link, lstat, mkdir, open, readdir, readlink, rename, unlink } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { Transform, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { randomId } from "../../shared/base64url.js";
import { envelope, type Uncommitted } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  FileCreated,
  FileUploaded,
  type FsEvent,
  FsEventKinds,
  nextFreeName,
  UPLOAD_TEMP_PREFIX,
} from "../../shared/files.js";
import { checkRelativePath, joinPath, nameOf } from "../../shared/paths.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { fsError, type PathResolver, type PinnedDir, pinChild } from "../runtime/paths.js";
import { publishEvent } from "../runtime/publish.js";
import type { UploadJournal } from "./upload-journal.js";

export const UPLOAD_PATH = "/api/files/upload";
export const DOWNLOAD_PATH = "/api/files/download";

export const UploadConflicts = ["fail", "replace", "rename"] as const;
export type UploadConflict = (typeof UploadConflicts)[number];

export interface FilesOptions {
  resolver: PathResolver;
  /** Publishes a file event (FileUploaded, FileCreated for folders an upload made). */
  publish(event: Uncommitted<FsEvent>): Promise<void>;
  log: Logger;
  /** Where uploads in progress are recorded, so a restart can remove their temp files. */
  journal?: UploadJournal;
}

/** A publish function for file events of workspace `wsid` on WS_FS. */
export function fileEventPublisher(
  js: JetStreamClient,
  wsid: string,
  log: Logger,
  actor = "user",
): FilesOptions["publish"] {
  const subjects = workspaceSubjects(wsid);
  return async (e) => {
    const def = e.type === "FileUploaded" ? FileUploaded : FileCreated;
    if (def.type !== e.type) throw new Error(`the gateway does not publish ${e.type}`);
    const ev = envelope(def, e.data, { actor, at: new Date() });
    try {
      await publishEvent(js, subjects.fsEvent(FsEventKinds[e.type]), ev);
    } catch (err) {
      // The file is on disk; a lost event must not turn the upload into a failure.
      log.warn({ type: e.type, err }, "file event not published");
    }
  };
}

function query(request: FastifyRequest): Record<string, string | undefined> {
  return (request.query ?? {}) as Record<string, string | undefined>;
}

function required(q: Record<string, string | undefined>, name: string): string {
  const v = q[name];
  if (typeof v !== "string" || v === "") {
    throw new CocalcError("ERR_FS_REQUEST", `the query parameter ${name} is missing`);
  }
  return v;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Counts bytes on their way through, so a short body is noticed. */
class Counter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * Streams the request body through `counter` into `out`. Unlike pipeline(), a failing write
 * (ENOSPC, EIO) does not destroy the request: the rest of the body is read and dropped, so
 * the client still gets a clear error response. A client that goes away rejects with ECONNRESET.
 */
function receive(raw: IncomingMessage, counter: Counter, out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      raw.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => {
      if (raw.complete) return;
      out.destroy();
      settle(Object.assign(new Error("the client went away"), { code: "ECONNRESET" }));
    };
    raw.on("close", onClose);
    raw.on("error", (err) => {
      out.destroy();
      settle(err);
    });
    counter.on("error", settle);
    out.on("error", (err) => {
      raw.unpipe(counter);
      counter.unpipe(out);
      raw.resume();
      settle(err);
    });
    out.on("close", () => settle());
    raw.pipe(counter).pipe(out);
  });
}

/** `attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266), safe for any name. */
export function contentDisposition(name: string, type: "attachment" | "inline" = "attachment") {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_") || "download";
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

const TYPES: Record<string, string> = {
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  json: "application/json",
  csv: "text/csv; charset=utf-8",
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  svg: "image/svg+xml",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
};

function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot > 0 && TYPES[name.slice(dot + 1).toLowerCase()]) || "application/octet-stream";
}

/** Parses a single `bytes=a-b` range; undefined = whole file; null = unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: answering with the whole file is allowed.
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

export async function filesPlugin(app: FastifyInstance, opts: FilesOptions): Promise<void> {
  const { resolver, log } = opts;
  // Upload bodies are streamed to disk by the handler, never parsed or buffered.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null));

  const fail = (reply: FastifyReply, err: unknown) => {
    const payload = toErrorPayload(err);
    if (payload.code === "ERR_INTERNAL") log.error({ err }, "file request failed");
    const status = err instanceof CocalcError ? err.status : 500;
    if (reply.raw.destroyed || reply.sent) return reply;
    for (const h of ["content-disposition", "content-length", "accept-ranges", "last-modified"]) {
      reply.removeHeader(h);
    }
    return reply
      .code(status)
      .header("Cache-Control", "no-store")
      .type("application/json; charset=utf-8")
      .send(JSON.stringify(payload));
  };

  /** Creates (or enters) the folders of a relative upload path, pinned one by one. */
  async function enterFolders(base: PinnedDir, folders: string[]): Promise<PinnedDir[]> {
    const opened: PinnedDir[] = [base];
    try {
      for (const folder of folders) {
        const here = opened.at(-1)!;
        const st = await lstatOrNull(here.at(folder));
        if (st === null) {
          try {
            await mkdir(here.at(folder));
            await opts.publish({
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
    dir: PinnedDir,
    temp: string,
    name: string,
    conflict: UploadConflict,
  ): Promise<{ name: string; replaced: boolean }> {
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
          if (conflict === "fail") {
            throw new CocalcError(
              "ERR_FS_EXISTS",
              `${resolver.display(joinPath(dir.path, candidate))} already exists`,
            );
          }
          taken.add(candidate);
          continue;
        }
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
        // No hard links on this file system: check, then rename.
        if ((await lstatOrNull(dir.at(candidate))) !== null) {
          if (conflict === "fail") {
            throw new CocalcError(
              "ERR_FS_EXISTS",
              `${resolver.display(joinPath(dir.path, candidate))} already exists`,
            );
          }
          taken.add(candidate);
          continue;
        }
        await rename(dir.at(temp), dir.at(candidate));
        return { name: candidate, replaced: false };
      }
    }
  }

  app.put(UPLOAD_PATH, async (request, reply) => {
    const raw: IncomingMessage = request.raw;
    let target = "";
    try {
      const q = query(request);
      const conflict = (q.conflict ?? "fail") as UploadConflict;
      if (!UploadConflicts.includes(conflict)) {
        throw new CocalcError(
          "ERR_FS_REQUEST",
          `conflict must be one of ${UploadConflicts.join(", ")}`,
        );
      }
      const parts = checkRelativePath(required(q, "name"));
      const hidden = parts.find((p) => p.startsWith(UPLOAD_TEMP_PREFIX));
      if (hidden !== undefined) {
        // Listings hide such names (uploads in progress): a file of that name would vanish.
        throw new CocalcError(
          "ERR_FS_NAME",
          `${JSON.stringify(hidden)} starts with ${UPLOAD_TEMP_PREFIX}, which is kept for uploads in progress; rename it first`,
        );
      }
      const dirInput = required(q, "dir");
      target = resolver.display(resolver.absolute(dirInput));
      const expected = raw.headers["content-length"];
      const length = expected === undefined ? undefined : Number(expected);

      const base = await resolver.pinDir(dirInput);
      const dirs = await enterFolders(base, parts.slice(0, -1)).catch(async (err) => {
        await base.close();
        throw err;
      });
      const dir = dirs.at(-1)!;
      const name = parts.at(-1)!;
      target = resolver.display(joinPath(dir.path, name));
      const temp = `${UPLOAD_TEMP_PREFIX}${randomId()}`;
      let marker: string | undefined;
      try {
        marker = await opts.journal?.begin(joinPath(dir.path, temp));
        if (conflict === "fail" && (await lstatOrNull(dir.at(name))) !== null) {
          throw new CocalcError("ERR_FS_EXISTS", `${target} already exists`);
        }
        const handle = await open(
          dir.at(temp),
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o666,
        );
        const counter = new Counter();
        try {
          // The stream closes the handle when it is done (close() would wait for it forever).
          await receive(raw, counter, handle.createWriteStream({ autoClose: true }));
          if (length !== undefined && counter.bytes !== length) {
            throw new CocalcError(
              "ERR_FS_UPLOAD_INCOMPLETE",
              `${target}: ${counter.bytes} of ${length} bytes arrived`,
            );
          }
          if (raw.readableAborted) {
            throw new CocalcError(
              "ERR_FS_UPLOAD_INCOMPLETE",
              `${target}: the upload was cancelled`,
            );
          }
          const placed = await place(dir, temp, name, conflict);
          const path = joinPath(dir.path, placed.name);
          await opts.publish({
            type: "FileUploaded",
            data: { path, size: counter.bytes, replaced: placed.replaced },
          });
          log.info({ path, size: counter.bytes }, "file uploaded");
          return reply
            .code(201)
            .header("Cache-Control", "no-store")
            .send({
              path,
              display: resolver.display(path),
              name: placed.name,
              size: counter.bytes,
              replaced: placed.replaced,
            });
        } catch (err) {
          await handle.close().catch(() => undefined);
          await unlink(dir.at(temp)).catch(() => undefined);
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ECONNRESET" || raw.readableAborted) {
            log.info({ path: target, bytes: counter.bytes }, "upload cancelled; nothing kept");
            throw new CocalcError(
              "ERR_FS_UPLOAD_INCOMPLETE",
              `${target}: the upload was cancelled`,
            );
          }
          throw err;
        }
      } finally {
        if (marker) await opts.journal?.end(marker);
        for (const d of dirs) await d.close();
      }
    } catch (err) {
      return fail(reply, fsError(err, target || "the upload", "upload to"));
    }
  });

  app.get(DOWNLOAD_PATH, async (request, reply) => {
    let shown = "the download";
    try {
      const input = required(query(request), "path");
      shown = resolver.display(resolver.absolute(input));
      const real = await resolver.real(input);
      const st = await lstat(real);
      reply.header("Cache-Control", "no-store");
      // A downloaded file must never run as a page of this origin.
      reply.header("Content-Security-Policy", "sandbox");
      if (st.isDirectory()) return sendArchive(reply, real);
      // O_NONBLOCK: opening a named pipe must not wait for a writer.
      const { handle } = await resolver.openFile(real, constants.O_RDONLY | constants.O_NONBLOCK);
      const fst = await handle.stat();
      if (!fst.isFile()) {
        await handle.close();
        throw new CocalcError(
          "ERR_FS_NOT_FILE",
          `cannot download ${shown}: it is not a regular file (a pipe, socket or device)`,
        );
      }
      const name = nameOf(real);
      const range = parseRange(request.headers.range, fst.size);
      reply
        .header("Content-Disposition", contentDisposition(name))
        .header("Accept-Ranges", "bytes")
        .header("Last-Modified", fst.mtime.toUTCString())
        .type(contentType(name));
      if (range === null) {
        await handle.close();
        reply.header("Content-Range", `bytes */${fst.size}`);
        throw new CocalcError("ERR_FS_RANGE", `${shown} has ${fst.size} bytes`);
      }
      const { start, end } = range ?? { start: 0, end: fst.size - 1 };
      if (range) {
        reply.code(206).header("Content-Range", `bytes ${start}-${end}/${fst.size}`);
      }
      reply.header("Content-Length", String(Math.max(0, end - start + 1)));
      if (fst.size === 0) {
        await handle.close();
        return reply.send("");
      }
      return reply.send(handle.createReadStream({ start, end, autoClose: true }));
    } catch (err) {
      return fail(reply, fsError(err, shown, "download"));
    }
  });

  /** Streams directory `real` as a tar archive named after it. */
  async function sendArchive(reply: FastifyReply, real: string) {
    const top = nameOf(real) || "root";
    // Loaded on the first folder download, not at every start.
    const { pack } = await import("tar-stream");
    const archive = pack();
    const root = await resolver.pinReal(real);
    const walk = async (dir: PinnedDir, prefix: string): Promise<void> => {
      for (const name of (await readdir(dir.dirPath)).sort()) {
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
          let handle: Awaited<ReturnType<typeof open>>;
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
    return reply
      .header("Content-Disposition", contentDisposition(`${top}.tar`))
      .type("application/x-tar")
      .send(archive);
  }
}
