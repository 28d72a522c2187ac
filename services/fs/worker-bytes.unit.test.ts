import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  decodeFrame,
  encodeFrame,
  frameWithRoom,
  parseTransferRequest,
  reframe,
  TRANSFER_CHUNK_BYTES,
} from "../../shared/file-transfer.js";
import { NATS_MAX_PAYLOAD } from "../runtime/nats-server.js";
import { sendWorkerBytes, WorkerBytesReader } from "./worker-bytes.js";

describe("worker bytes", () => {
  it("worker bytes - each call gets its bytes however the socket splits them", async () => {
    const socket = new PassThrough();
    const sent = new PassThrough();
    const wire: Buffer[] = [];
    sent.on("data", (d: Buffer) => wire.push(d));
    const calls = [
      { id: 3, bytes: Buffer.alloc(100_000, 1) },
      { id: 4, bytes: Buffer.from("x") },
      { id: 2 ** 32 - 1, bytes: Buffer.alloc(70_000, 9) },
    ];
    for (const c of calls) sendWorkerBytes(sent, c.id, c.bytes);
    const all = Buffer.concat(wire);
    const reader = new WorkerBytesReader(socket);
    // One id asked before its bytes come, the others after.
    const first = reader.take(3);
    // Pieces of every size, headers split across them.
    for (let at = 0, n = 1; at < all.length; at += n, n = (n * 7 + 3) % 9000) {
      socket.write(all.subarray(at, at + n));
      await new Promise((r) => setImmediate(r));
    }
    expect(Buffer.concat(await first)).toEqual(calls[0]!.bytes);
    expect(Buffer.concat(await reader.take(4))).toEqual(calls[1]!.bytes);
    expect(Buffer.concat(await reader.take(2 ** 32 - 1))).toEqual(calls[2]!.bytes);
  });

  it("worker bytes - a full chunk's message fits nats-server's max_payload", () => {
    const id = "a".repeat(64);
    const frame = encodeFrame(
      { op: "chunk", id, offset: Number.MAX_SAFE_INTEGER },
      new Uint8Array(TRANSFER_CHUNK_BYTES),
    );
    expect(frame.length).toBeLessThanOrEqual(NATS_MAX_PAYLOAD);
    const { json, bytes } = decodeFrame(frame);
    expect(parseTransferRequest(json, bytes)).toMatchObject({ op: "chunk", id });
  });

  it("frames - a chunk's frame is filled again only with JSON as long as its own", () => {
    const { frame, bytes } = frameWithRoom({ op: "chunk", id: "abcdefgh", offset: 10 }, 3);
    bytes.set([1, 2, 3]);
    const again = reframe(frame, { op: "chunk", id: "abcdefgh", offset: 20 });
    expect(again?.frame).toBe(frame);
    again!.bytes.set([4, 5, 6]);
    expect(decodeFrame(frame)).toEqual({
      json: { op: "chunk", id: "abcdefgh", offset: 20 },
      bytes: new Uint8Array([4, 5, 6]),
    });
    expect(reframe(frame, { op: "chunk", id: "abcdefgh", offset: 100 })).toBeUndefined();
  });
});
