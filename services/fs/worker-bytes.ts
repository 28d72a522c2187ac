/**
 * The bytes of uploads on their way from an fs service to its worker: a socket of their own
 * (the worker's fd 4) beside the IPC channel, which carries the request. Each call's bytes are
 * `[call id: u32][length: u32]` and then the bytes as they are, so nothing serialises or
 * copies them in the service, and the worker hands the pieces it reads to one positional
 * `writev` instead of joining them first (the IPC channel's advanced serialization copied
 * every chunk twice on the way, and the worker once more to join the pieces it read).
 */
import type { Readable, Writable } from "node:stream";

/** The worker's fd of the bytes socket. */
export const WORKER_BYTES_FD = 4;

const HEAD = 8;

/** Sends call `id`'s bytes (the service's side). */
export function sendWorkerBytes(socket: Writable, id: number, bytes: Uint8Array): void {
  const head = Buffer.allocUnsafe(HEAD);
  head.writeUInt32BE(id >>> 0, 0);
  head.writeUInt32BE(bytes.length, 4);
  socket.cork();
  socket.write(head);
  socket.write(bytes);
  socket.uncork();
}

/** Collects each call's bytes from the socket (the worker's side). */
export class WorkerBytesReader {
  private head: Buffer = Buffer.alloc(0);
  private current: { id: number; left: number; pieces: Buffer[] } | undefined;
  private readonly arrived = new Map<number, Buffer[]>();
  private readonly waiting = new Map<number, (pieces: Buffer[]) => void>();

  constructor(socket: Readable) {
    socket.on("data", (data: Buffer) => this.push(data));
  }

  /** The bytes of call `id` (as they were read: pieces), once they are all there. */
  take(id: number): Promise<Buffer[]> {
    const pieces = this.arrived.get(id);
    if (pieces) {
      this.arrived.delete(id);
      return Promise.resolve(pieces);
    }
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  private push(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      if (!this.current) {
        const part = data.subarray(at, at + HEAD - this.head.length);
        at += part.length;
        this.head = this.head.length === 0 ? part : Buffer.concat([this.head, part]);
        if (this.head.length < HEAD) return;
        this.current = {
          id: this.head.readUInt32BE(0),
          left: this.head.readUInt32BE(4),
          pieces: [],
        };
        this.head = Buffer.alloc(0);
      }
      const n = Math.min(this.current.left, data.length - at);
      if (n > 0) this.current.pieces.push(data.subarray(at, at + n));
      at += n;
      this.current.left -= n;
      if (this.current.left === 0) {
        const { id, pieces } = this.current;
        this.current = undefined;
        const wake = this.waiting.get(id);
        this.waiting.delete(id);
        if (wake) wake(pieces);
        else this.arrived.set(id, pieces);
      }
    }
  }
}
