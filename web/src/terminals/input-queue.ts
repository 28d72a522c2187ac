/**
 * Keystrokes on their way to the terminals service, never silently lost: each piece is
 * numbered (a stream per attach, a sequence from 1; shared/terminals.ts TERM_INPUT_HEADER),
 * sent as a request, and kept until the service acknowledges it. Whatever is not
 * acknowledged (the connection dropped, nats-server restarted, the service was not listening
 * yet) is sent again in order, on reconnect and then every second; the service writes each
 * number once. Keys that could not be delivered for GIVE_UP_MS are dropped, and the page is
 * told how many; so are keys for a terminal that no longer runs.
 */
import { randomId } from "../../../shared/base64url.js";
import { formatInputTag, type InputAck } from "../../../shared/terminals.js";

/** How long keys may wait for the connection before they are given up (and the page told). */
export const GIVE_UP_MS = 30_000;
/** How long keys wait unacknowledged before the page says they are waiting. */
const WAITING_MS = 1_000;
const RETRY_MS = 1_000;

/** Sends one piece as a request; resolves to the service's answer, rejects when unanswered. */
export type InputSend = (bytes: Uint8Array, tag: string) => Promise<InputAck>;

export interface InputQueueHooks {
  /** How many pieces have waited longer than a moment (0: none). */
  waiting(n: number): void;
  /** Pieces were dropped: the terminal does not run, or the connection did not come back. */
  lost(pieces: number, why: "gone" | "timeout"): void;
}

interface Piece {
  seq: number;
  bytes: Uint8Array;
  since: number;
}

export class InputQueue {
  /** A new stream after pieces are dropped, so their numbers are not waited for. */
  private stream = `i${randomId()}`;
  private readonly pieces: Piece[] = [];
  private next = 1;
  private acked = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private watch: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly send: InputSend,
    private readonly hooks: InputQueueHooks,
  ) {}

  /** Queues one piece and sends it at once. */
  push(bytes: Uint8Array): void {
    if (this.stopped) return;
    const piece = { seq: this.next++, bytes, since: Date.now() };
    this.pieces.push(piece);
    this.transmit(piece);
    this.watch ??= setInterval(() => this.check(), 500);
  }

  /** Sends again everything not acknowledged, in order (after a reconnect). */
  resend(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    for (const p of this.pieces) this.transmit(p);
  }

  /** Pieces not acknowledged yet. */
  get pending(): number {
    return this.pieces.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.watch) clearInterval(this.watch);
    this.pieces.length = 0;
  }

  private transmit(p: Piece): void {
    const stream = this.stream;
    const tag = formatInputTag({ stream, seq: p.seq, acked: this.acked });
    this.send(p.bytes, tag).then(
      (ack) => {
        if (stream === this.stream) this.answered(ack);
      },
      () => this.later(),
    );
  }

  /** Drops the first `n` pieces; what is left is numbered again in a new stream. */
  private drop(n: number): void {
    this.pieces.splice(0, n);
    this.stream = `i${randomId()}`;
    this.acked = 0;
    this.next = 1;
    for (const p of this.pieces) p.seq = this.next++;
  }

  private answered(ack: InputAck): void {
    if (this.stopped) return;
    if (ack.ok) {
      this.done(ack.seq);
      return;
    }
    if ("gone" in ack) {
      const n = this.pieces.length;
      this.drop(n);
      this.report();
      if (n > 0) this.hooks.lost(n, "gone");
      return;
    }
    // A gap: what is before `expect` was written; send again from there.
    this.done(ack.expect - 1);
    this.later(100);
  }

  private done(seq: number): void {
    if (seq > this.acked) this.acked = seq;
    while (this.pieces.length > 0 && this.pieces[0]!.seq <= this.acked) this.pieces.shift();
    this.report();
  }

  private later(ms = RETRY_MS): void {
    if (this.stopped || this.retry || this.pieces.length === 0) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.resend();
    }, ms);
  }

  private check(): void {
    const now = Date.now();
    const old = this.pieces.findIndex((p) => now - p.since < GIVE_UP_MS);
    const expired = old === -1 ? this.pieces.length : old;
    if (expired > 0) {
      // Dropped from the front only, so what is sent later never overtakes them.
      this.drop(expired);
      this.hooks.lost(expired, "timeout");
      this.resend();
    }
    this.report();
    if (this.pieces.length === 0 && this.watch) {
      clearInterval(this.watch);
      this.watch = undefined;
    }
  }

  private report(): void {
    const now = Date.now();
    this.hooks.waiting(this.pieces.filter((p) => now - p.since >= WAITING_MS).length);
  }
}
