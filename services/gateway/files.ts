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
import { constants } from "node:fs";
import { lstat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { Transform, type TransformCallback, type Writable } from "node:stream";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { envelope, type Uncommitted } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { type UploadConflict, UploadConflicts } from "../../shared/file-transfer.js";
import { FileCreated, FileUploaded, type FsEvent, FsEventKinds } from "../../shared/files.js";
import { nameOf } from "../../shared/paths.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { fsError, type PathResolver } from "../runtime/paths.js";
import { publishEvent } from "../runtime/publish.js";
import type { UploadJournal } from "../runtime/upload-journal.js";
import { archiveName, folderArchive, openUpload } from "../runtime/uploads.js";

export const UPLOAD_PATH = "/api/files/upload";
export const DOWNLOAD_PATH = "/api/files/download";

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

export function contentType(name: string): string {
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
      const name = required(q, "name");
      const dirInput = required(q, "dir");
      target = resolver.display(resolver.absolute(dirInput));
      const expected = raw.headers["content-length"];
      const length = expected === undefined ? undefined : Number(expected);
      let marker: string | undefined;
      try {
        const upload = await openUpload(
          resolver,
          { dir: dirInput, name, conflict },
          opts.publish,
          async (tempPath) => {
            marker = await opts.journal?.begin(tempPath);
          },
        );
        target = upload.shown;
        const counter = new Counter();
        try {
          // The stream closes the handle when it is done (close() would wait for it forever).
          await receive(raw, counter, upload.handle.createWriteStream({ autoClose: true }));
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
        } catch (err) {
          await upload.discard();
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
        const placed = await upload.place(counter.bytes);
        log.info({ path: placed.path, size: placed.size }, "file uploaded");
        return reply.code(201).header("Cache-Control", "no-store").send(placed);
      } finally {
        if (marker) await opts.journal?.end(marker);
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
    const { top, file } = archiveName(real);
    const archive = await folderArchive(resolver, real, top, log);
    return reply
      .header("Content-Disposition", contentDisposition(file))
      .type("application/x-tar")
      .send(archive);
  }
}
