/**
 * A byte pipe over core NATS: a duplex, ordered byte stream between two processes (the hub's
 * SSH server and a host's exec of a workspace's shell; the hub's app proxy and a port in a
 * container), each end a Node Duplex. Each end publishes on its own subject and hears the
 * other's (hostSubjects().pipe): no inbound port, and the leaf accounts decide who may talk.
 *
 * A message is a frame: kind (1 byte), sequence (4 bytes, big-endian, counting the ordered
 * frames: data, control, end), then the kind's body. Core NATS keeps one publisher's order
 * to one subscriber, but a slow consumer may lose messages: a gap in the sequence ends the
 * pipe with ERR_PIPE_BROKEN rather than corrupting the bytes.
 *
 * Flow control is by credit: a receiver lets its peer send PIPE_WINDOW bytes more than it has
 * read out (its consumer has taken), and says so as it reads (a credit frame with the total it
 * allows); a sender with no credit waits, so a slow reader stalls the writer at the far end
 * instead of filling memory on the way. Each end says it is alive every pingMs when it has
 * sent nothing else; one that hears nothing for deadMs ends with ERR_PIPE_PEER_GONE. `end()`
 * closes one direction (half close); `destroy(err)` aborts both, and the peer's pipe fails
 * with the reason.
 */
import { Duplex } from "node:stream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { CocalcError, type ErrorPayload, toErrorPayload } from "../../shared/errors.js";

/** Bytes one end may have in flight unread by the other (its receive window). */
export const PIPE_WINDOW = 2 * 1024 * 1024;
/** Largest data frame's body: well under nats-server's max_payload. */
export const PIPE_CHUNK_BYTES = 256 * 1024;
/** A write at least this large is bulk: the next waits a turn to gather (see send). */
const BULK_BYTES = 16 * 1024;
/** An end that has sent nothing for this long says it is alive. */
export const PIPE_PING_MS = 3_000;
/** An end that hears nothing from its peer for this long ends the pipe. */
export const PIPE_DEAD_MS = 20_000;

const Kind = { data: 0, credit: 1, end: 2, abort: 3, ping: 4, control: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];
const HEAD = 5;

function frame(kind: Kind, seq: number, body?: Uint8Array): Uint8Array {
  const f = new Uint8Array(HEAD + (body?.length ?? 0));
  f[0] = kind;
  new DataView(f.buffer).setUint32(1, seq >>> 0);
  if (body) f.set(body, HEAD);
  return f;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

export interface BytePipeOptions {
  nc: NatsConnection;
  /** Where this end publishes. */
  send: string;
  /** Where the peer publishes (this end subscribes; call ready() before the peer sends). */
  receive: string;
  /** Bytes the peer may send ahead of what is read (default PIPE_WINDOW). */
  window?: number;
  pingMs?: number;
  deadMs?: number;
}

/**
 * One end of a byte pipe. Besides bytes, an end may send small JSON control messages in
 * order with them (`control(v)`; the peer emits "control" once every byte written before it,
 * and none after, is in its readable side): a terminal's size, an exit status.
 */
export class BytePipe extends Duplex {
  private readonly nc: NatsConnection;
  private readonly sendSubject: string;
  private readonly sub: Subscription;
  private readonly window: number;
  private readonly deadMs: number;
  private sendSeq = 0;
  private recvSeq = 0;
  /** Bytes sent, and the total the peer allows. */
  private sent = 0;
  /** Bytes given to write(); control messages wait for those before them. */
  private accepted = 0;
  private readonly controls: { at: number; body: Uint8Array }[] = [];
  private allowed: number;
  private wakeSender: (() => void) | undefined;
  /** Bytes received, and the total granted to the peer. */
  private received = 0;
  private granted: number;
  private lastHeard = Date.now();
  private lastSent = Date.now();
  private readonly timer: NodeJS.Timeout;
  private sentEnd = false;
  private gotEnd = false;
  private released = false;

  constructor(o: BytePipeOptions) {
    const window = o.window ?? PIPE_WINDOW;
    super({
      allowHalfOpen: true,
      readableHighWaterMark: Math.floor(window / 2),
      // Small writes (an SSH packet is at most 32 KiB) wait here while one is sent, and go on
      // together (_writev): fewer, larger messages through every hop.
      writableHighWaterMark: PIPE_CHUNK_BYTES,
    });
    this.nc = o.nc;
    this.sendSubject = o.send;
    this.window = window;
    this.allowed = window;
    this.granted = window;
    this.deadMs = o.deadMs ?? PIPE_DEAD_MS;
    const pingMs = o.pingMs ?? PIPE_PING_MS;
    this.sub = o.nc.subscribe(o.receive, {
      callback: (err, m) => {
        if (err) this.destroy(err);
        else this.onFrame(m.data);
      },
    });
    this.timer = setInterval(
      () => {
        const now = Date.now();
        if (now - this.lastHeard > this.deadMs) {
          this.fail(
            new CocalcError(
              "ERR_PIPE_PEER_GONE",
              `the other end of the connection was not heard for ${Math.round(this.deadMs / 1000)} s`,
            ),
          );
          return;
        }
        if (now - this.lastSent >= pingMs) this.publish(frame(Kind.ping, 0));
      },
      Math.max(50, Math.min(pingMs, this.deadMs / 4)),
    );
    this.timer.unref();
  }

  /** Resolves once the server has this end's subscription (so the peer may start). */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  /** Sends a control message after the bytes written before it. */
  control(value: unknown): void {
    if (this.sentEnd || this.destroyed) return;
    if (this.sent === this.accepted) this.publish(frame(Kind.control, this.sendSeq++, json(value)));
    else this.controls.push({ at: this.accepted, body: json(value) });
  }

  // Counts what is written, so a control message knows which bytes go before it.
  override write(chunk: unknown, ...rest: unknown[]): boolean {
    if (typeof chunk === "string")
      this.accepted += Buffer.byteLength(
        chunk,
        (typeof rest[0] === "string" ? rest[0] : "utf8") as BufferEncoding,
      );
    else if (chunk instanceof Uint8Array) this.accepted += chunk.length;
    return (super.write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }

  private sendControls() {
    while (this.controls.length > 0 && this.controls[0]!.at <= this.sent)
      this.publish(frame(Kind.control, this.sendSeq++, this.controls.shift()!.body));
  }

  private publish(f: Uint8Array) {
    if (this.nc.isClosed()) return;
    this.lastSent = Date.now();
    try {
      this.nc.publish(this.sendSubject, f);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  private onFrame(f: Uint8Array) {
    if (this.destroyed || f.length < HEAD) return;
    this.lastHeard = Date.now();
    const kind = f[0] as Kind;
    const seq = new DataView(f.buffer, f.byteOffset, f.length).getUint32(1);
    const body = f.subarray(HEAD);
    if (kind === Kind.ping) return;
    if (kind === Kind.credit) {
      const total = new DataView(body.buffer, body.byteOffset, body.length).getFloat64(0);
      if (total > this.allowed) {
        this.allowed = total;
        const w = this.wakeSender;
        this.wakeSender = undefined;
        w?.();
      }
      return;
    }
    if (kind === Kind.abort) {
      let e: ErrorPayload | undefined;
      try {
        e = JSON.parse(new TextDecoder().decode(body)) as ErrorPayload;
      } catch {}
      this.fail(
        new CocalcError(
          "ERR_PIPE_ABORTED",
          `the other end aborted the connection: ${e?.message ?? "no reason given"}`,
        ),
        false,
      );
      return;
    }
    if (seq !== this.recvSeq) {
      this.fail(
        new CocalcError(
          "ERR_PIPE_BROKEN",
          `a message of the connection was lost (got ${seq}, expected ${this.recvSeq})`,
        ),
      );
      return;
    }
    this.recvSeq = (this.recvSeq + 1) >>> 0;
    switch (kind) {
      case Kind.data:
        this.received += body.length;
        if (this.received > this.granted) {
          this.fail(new CocalcError("ERR_PIPE_BROKEN", "the other end sent more than it may"));
          return;
        }
        // A copy: the frame's buffer belongs to nats.js.
        this.push(Buffer.from(body));
        this.grant();
        return;
      case Kind.control:
        try {
          this.emit("control", JSON.parse(new TextDecoder().decode(body)));
        } catch {
          this.fail(new CocalcError("ERR_PIPE_BROKEN", "a control message is not JSON"));
        }
        return;
      case Kind.end:
        this.gotEnd = true;
        this.push(null);
        this.maybeClose();
        return;
      default:
        this.fail(new CocalcError("ERR_PIPE_BROKEN", `unknown frame kind ${kind}`));
    }
  }

  /** Lets the peer send a window more than has been read out, when that is worth saying. */
  private grant() {
    if (this.gotEnd || this.destroyed) return;
    const total = this.received - this.readableLength + this.window;
    if (total - this.granted < this.window / 4) return;
    this.granted = total;
    const body = new Uint8Array(8);
    new DataView(body.buffer).setFloat64(0, total);
    this.publish(frame(Kind.credit, 0, body));
  }

  override _read(): void {
    this.grant();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.send(chunk, done);
  }

  /**
   * Sends `bytes`; after a bulk write, the next is taken one turn of the event loop later, so
   * what arrives meanwhile goes on as one message (_writev): per-message work on every hop
   * is what a stream of 32 KiB SSH packets costs most. A keystroke goes at once.
   */
  private send(bytes: Buffer, done: (err?: Error | null) => void) {
    void this.sendBytes(bytes).then(
      () => (bytes.length >= BULK_BYTES ? setImmediate(done) : done()),
      (err: Error) => done(err),
    );
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    done: (err?: Error | null) => void,
  ): void {
    this.send(
      chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)),
      done,
    );
  }

  private async sendBytes(chunk: Buffer) {
    for (let at = 0; at < chunk.length; ) {
      while (this.sent >= this.allowed) {
        if (this.destroyed) throw new Error("the pipe is closed");
        await new Promise<void>((r) => {
          this.wakeSender = r;
        });
      }
      if (this.destroyed) throw new Error("the pipe is closed");
      const n = Math.min(chunk.length - at, PIPE_CHUNK_BYTES, this.allowed - this.sent);
      this.publish(frame(Kind.data, this.sendSeq++, chunk.subarray(at, at + n)));
      this.sent += n;
      at += n;
      this.sendControls();
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    this.sendControls();
    this.publish(frame(Kind.end, this.sendSeq++));
    this.sentEnd = true;
    this.maybeClose();
    done();
  }

  /** Both directions ended: nothing more to hear. */
  private maybeClose() {
    if (this.sentEnd && this.gotEnd) this.release();
  }

  private release() {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    this.sub.unsubscribe();
    const w = this.wakeSender;
    this.wakeSender = undefined;
    w?.();
  }

  /** Ends the pipe with `err`; tells the peer unless it was the peer that aborted. */
  private fail(err: Error, tell = true) {
    if (!tell) this.gotEnd = true;
    this.destroy(err);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.released && !(this.sentEnd && this.gotEnd)) {
      const why = err ? toErrorPayload(err) : { code: "ERR_PIPE_ABORTED", message: "closed" };
      // A peer that aborted, went silent or broke the order is not told.
      const code = (err as { code?: string } | null)?.code;
      if (code !== "ERR_PIPE_ABORTED" && code !== "ERR_PIPE_PEER_GONE")
        this.publish(frame(Kind.abort, 0, json({ code: why.code, message: why.message })));
    }
    this.release();
    done(err);
  }
}
