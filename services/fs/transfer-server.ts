/**
 * The fs service's uploads and downloads on `ws.<wsid>.req.fs-transfer` (shared/file-transfer.ts):
 * each request a frame, answered with a frame, by the file operations (in the worker, as the
 * workspace's user, for a container workspace). A container workspace's paths are mapped as
 * for every fs request. Uploads in progress are recorded in the service's journal, so a
 * restart removes the temp files of those that never ended.
 */
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { toErrorPayload } from "../../shared/errors.js";
import {
  decodeFrame,
  encodeFrame,
  parseTransferRequest,
  type TransferRequest,
  transferSubject,
} from "../../shared/file-transfer.js";
import type { Logger } from "../runtime/logger.js";
import type { UploadJournal } from "../runtime/upload-journal.js";
import type { ContainerPaths } from "./container.js";
import type { TransferAnswer } from "./transfers.js";

export interface TransferServerOptions {
  nc: NatsConnection;
  wsid: string;
  log: Logger;
  transfer(r: TransferRequest, bytes: Uint8Array): Promise<TransferAnswer>;
  container?: ContainerPaths;
  journal?: UploadJournal;
  hidePaths?: (message: string) => string;
  /** The subscription failed: the service must stop. */
  failed(err: Error): void;
}

/** Serves transfer requests until stopped; `done` settles when the subscription ends. */
export function serveTransfers(o: TransferServerOptions): {
  done: Promise<unknown>;
  stop(): Promise<void>;
} {
  const subject = transferSubject(o.wsid);
  const markers = new Map<string, string>();
  const inflight = new Set<Promise<void>>();

  const endMarker = async (id: string | undefined) => {
    const marker = id === undefined ? undefined : markers.get(id);
    if (marker === undefined) return;
    markers.delete(id!);
    await o.journal?.end(marker);
  };

  const respond = async (m: Msg) => {
    let r: TransferRequest | undefined;
    let frame: Uint8Array;
    try {
      const { json, bytes } = decodeFrame(m.data);
      r = parseTransferRequest(json, bytes);
      // Only the requests that name paths wait for their mapping: chunks are passed on in
      // the order they came, with nothing to wait for in between.
      const mapped =
        o.container && (r.op === "upload" || r.op === "download")
          ? await o.container.request(r)
          : r;
      const a = await o.transfer(mapped, bytes);
      const result = a.result as { id?: string };
      if (a.tempPath && o.journal && result.id)
        markers.set(result.id, await o.journal.begin(a.tempPath));
      await endMarker(a.ended);
      frame = encodeFrame(
        { ok: true, result: o.container ? o.container.reply(a.result) : a.result },
        a.bytes,
      );
    } catch (err) {
      // A failed chunk or finish ends its upload (the temp file is gone).
      if (r && (r.op === "chunk" || r.op === "finish")) await endMarker(r.id);
      const error = toErrorPayload(err);
      if (error.code === "ERR_INTERNAL") o.log.error({ op: r?.op, err }, "fs transfer failed");
      else o.log.debug({ op: r?.op, code: error.code, reason: error.message }, "transfer refused");
      if (o.hidePaths) error.message = o.hidePaths(error.message);
      frame = encodeFrame({ ok: false, error });
    }
    if (m.reply) m.respond(frame);
  };

  const sub = o.nc.subscribe(subject, {
    queue: subject,
    callback: (err, m) => {
      if (err) {
        o.failed(err);
        return;
      }
      const p = respond(m).finally(() => inflight.delete(p));
      inflight.add(p);
    },
  });
  return {
    done: sub.closed,
    async stop() {
      if (!sub.isClosed()) await sub.drain();
      await Promise.allSettled([...inflight]);
    },
  };
}
