/**
 * The sending side of uploads and downloads over NATS (shared/file-transfer.ts), for the hub
 * gateway (HTTP bodies and downloads) and the docs service (notebooks larger than one
 * message): one request per chunk to the workspace's fs service on its host, at most
 * TRANSFER_WINDOW of them unanswered, so a gigabyte passes through with a few chunks in
 * memory. A host that is not there (no responders, or no answer in time) is ERR_HOST_OFFLINE
 * in words, not a NATS error.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { type NatsConnection, RequestError, TimeoutError } from "@nats-io/nats-core";
import { CocalcError, fromErrorPayload } from "../../shared/errors.js";
import {
  decodeFrame,
  encodeFrame,
  frameWithRoom,
  reframe,
  TRANSFER_CHUNK_BYTES,
  TRANSFER_REQUEST_TIMEOUT_MS,
  TRANSFER_WINDOW,
  type TransferReply,
  type TransferRequest,
  type TransferResults,
  transferSubject,
  type UploadResult,
} from "../../shared/file-transfer.js";

export class TransferClient {
  private readonly subject: string;

  constructor(
    private readonly nc: NatsConnection,
    wsid: string,
  ) {
    this.subject = transferSubject(wsid);
  }

  /** One request; its result and bytes, or its refusal as an error with the same code. */
  ask<R extends TransferRequest>(
    request: R,
    bytes?: Uint8Array,
  ): Promise<{ result: TransferResults[R["op"]]; bytes: Uint8Array }> {
    return this.askFrame<R["op"]>(encodeFrame(request, bytes));
  }

  /** One request already framed (a chunk filled in place). */
  private async askFrame<O extends TransferRequest["op"]>(
    frame: Uint8Array,
  ): Promise<{ result: TransferResults[O]; bytes: Uint8Array }> {
    let data: Uint8Array;
    try {
      data = (await this.nc.request(this.subject, frame, { timeout: TRANSFER_REQUEST_TIMEOUT_MS }))
        .data;
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders())
        throw new CocalcError(
          "ERR_HOST_OFFLINE",
          "the workspace's host is not reachable (offline, or its services are starting): try again in a moment",
        );
      if (err instanceof TimeoutError || (err as Error).name === "TimeoutError")
        throw new CocalcError(
          "ERR_HOST_OFFLINE",
          "the workspace's host did not answer in time: it may be offline or overloaded",
        );
      throw err;
    }
    let reply: TransferReply<O>;
    let rest: Uint8Array;
    try {
      const frame = decodeFrame(data);
      reply = frame.json as TransferReply<O>;
      rest = frame.bytes;
    } catch {
      // Not a frame: a plain JSON refusal (a host's door for workspaces it does not have).
      reply = JSON.parse(new TextDecoder().decode(data)) as TransferReply<O>;
      rest = new Uint8Array(0);
    }
    if (reply?.ok === true) return { result: reply.result, bytes: rest };
    if (reply?.ok === false && typeof reply.error?.message === "string")
      throw fromErrorPayload(reply.error);
    throw new Error("the host's transfer reply has an unexpected shape");
  }

  /**
   * Sends an HTTP request's body as chunks of upload `id`; returns the bytes sent. Rejects
   * when the browser goes away (ECONNRESET) or the host refuses a chunk.
   */
  async sendBody(raw: IncomingMessage, id: string): Promise<number> {
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    let offset = 0;
    // Each chunk's frame is made before its bytes come, which are then read straight into it;
    // the frames of answered chunks are filled again (a chunk's reply means NATS has sent it),
    // so an upload makes about TRANSFER_WINDOW of them, not one per MiB.
    const answered: Uint8Array[] = [];
    const chunkAt = (at: number) => {
      const json = { op: "chunk", id, offset: at } satisfies TransferRequest;
      for (let frame = answered.pop(); frame; frame = answered.pop()) {
        const again = reframe(frame, json);
        if (again) return again;
      }
      return frameWithRoom(json, TRANSFER_CHUNK_BYTES);
    };
    let chunk = chunkAt(0);
    let fill = 0;
    const send = async (frame: Uint8Array, length: number) => {
      const p: Promise<void> = this.askFrame<"chunk">(frame)
        .then(() => {
          if (length === TRANSFER_CHUNK_BYTES) answered.push(frame);
        })
        .catch((err) => {
          failure ??= err;
        })
        .finally(() => inflight.delete(p));
      offset += length;
      inflight.add(p);
      // The window: the body is not read further until the host has taken enough.
      while (inflight.size >= TRANSFER_WINDOW) await Promise.race(inflight);
      if (failure) throw failure;
    };
    try {
      for await (const piece of raw as AsyncIterable<Buffer>) {
        let at = 0;
        while (at < piece.length) {
          const n = Math.min(piece.length - at, TRANSFER_CHUNK_BYTES - fill);
          chunk.bytes.set(piece.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === TRANSFER_CHUNK_BYTES) {
            const full = chunk.frame;
            chunk = chunkAt(offset + TRANSFER_CHUNK_BYTES);
            fill = 0;
            await send(full, TRANSFER_CHUNK_BYTES);
          }
        }
      }
      if (!raw.complete)
        throw Object.assign(new Error("the client went away"), { code: "ECONNRESET" });
      if (fill > 0)
        await send(chunk.frame.subarray(0, chunk.frame.length - TRANSFER_CHUNK_BYTES + fill), fill);
      await Promise.all(inflight);
      if (failure) throw failure;
      return offset;
    } catch (err) {
      await Promise.allSettled(inflight);
      if ((err as { code?: string }).code === "ECONNABORTED" || raw.readableAborted)
        throw Object.assign(new Error("the client went away"), { code: "ECONNRESET" });
      throw err;
    }
  }

  /**
   * Writes `bytes` as one upload (`request` says where and how) and returns where it went:
   * nothing is at the name until every chunk is there; a failure leaves no temp file.
   */
  async put(request: TransferRequest<"upload">, bytes: Uint8Array): Promise<UploadResult> {
    const { id } = (await this.ask(request)).result;
    try {
      const inflight = new Set<Promise<unknown>>();
      for (let at = 0; at < bytes.length; at += TRANSFER_CHUNK_BYTES) {
        const p = this.ask(
          { op: "chunk", id, offset: at },
          bytes.subarray(at, at + TRANSFER_CHUNK_BYTES),
        );
        inflight.add(p);
        void p.then(
          () => inflight.delete(p),
          () => undefined,
        );
        if (inflight.size >= TRANSFER_WINDOW) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      return (await this.ask({ op: "finish", id, size: bytes.length })).result;
    } catch (err) {
      await this.ask({ op: "abort", id }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The whole of the file at `path`, or its size when it is larger than `max` bytes (nothing
   * more is read). A folder is ERR_FS_IS_DIR.
   */
  async get(path: string, max: number): Promise<{ bytes: Uint8Array } | { tooLarge: number }> {
    const { result: info } = await this.ask({ op: "download", path });
    if (info.kind === "dir" || info.size === undefined) {
      await this.ask({ op: "close", id: info.id }).catch(() => undefined);
      throw new CocalcError("ERR_FS_IS_DIR", `${path} is a folder`);
    }
    if (info.size > max) {
      await this.ask({ op: "close", id: info.id }).catch(() => undefined);
      return { tooLarge: info.size };
    }
    const parts: Uint8Array[] = [];
    // The size when the file was opened: what is read (stream closes the download).
    if (info.size > 0) for await (const b of this.stream(info.id, 0, info.size - 1)) parts.push(b);
    else await this.ask({ op: "close", id: info.id }).catch(() => undefined);
    return { bytes: Buffer.concat(parts) };
  }

  /**
   * Download `id`'s bytes from `start` to `end` (inclusive; a folder's archive: to its end,
   * one read at a time, as it is made) as a stream; the download is closed when it ends.
   */
  stream(id: string, start: number, end: number | undefined): Readable {
    const window = end === undefined ? 1 : TRANSFER_WINDOW;
    const last = end ?? Number.POSITIVE_INFINITY;
    const read = (offset: number, length: number) => {
      const p = this.ask({ op: "read", id, offset, length });
      p.catch(() => undefined); // read ahead: awaited in order below
      return p;
    };
    const self = this;
    async function* chunks() {
      const ahead: ReturnType<typeof read>[] = [];
      let next = start;
      try {
        for (;;) {
          while (ahead.length < window && next <= last) {
            const length = Math.min(TRANSFER_CHUNK_BYTES, last - next + 1);
            ahead.push(read(next, length));
            next += length;
          }
          const p = ahead.shift();
          if (!p) return;
          const { result, bytes } = await p;
          if (bytes.length > 0) yield bytes;
          if (result.eof) return;
          // A folder's archive: the next read starts where this one ended.
          if (end === undefined) next = next - TRANSFER_CHUNK_BYTES + bytes.length;
        }
      } finally {
        self.ask({ op: "close", id }).catch(() => undefined);
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: TRANSFER_CHUNK_BYTES });
  }
}
