/**
 * Numbered keystrokes written once and in order. A page numbers the pieces it types
 * (shared/terminals.ts TERM_INPUT_HEADER) and sends again what was not acknowledged, so a
 * piece may come twice (its answer was lost) or after a gap (an earlier one was lost while
 * nats-server or this service restarted). Per stream this keeps the highest number written:
 * a piece at or below it is not written again, one past a gap is not written and the answer
 * names the number needed. A stream this service has not seen (a new page, or this service
 * restarted) starts after what the page says was acknowledged.
 */
import type { InputAck, InputTag } from "../../shared/terminals.js";

/** Streams remembered (the oldest is forgotten first). */
const MAX_STREAMS = 1000;

export class InputOrder {
  private readonly last = new Map<string, number>();

  constructor(private readonly max = MAX_STREAMS) {}

  /** Whether the piece `tag` of terminal `tid` is written now, and the answer to send. */
  take(tid: string, tag: InputTag): { write: boolean; ack: InputAck } {
    const key = `${tid} ${tag.stream}`;
    const last = this.last.get(key) ?? tag.acked;
    this.last.delete(key);
    if (tag.seq <= last) {
      this.remember(key, last);
      return { write: false, ack: { ok: true, seq: last } };
    }
    if (tag.seq > last + 1) {
      this.remember(key, last);
      return { write: false, ack: { ok: false, expect: last + 1 } };
    }
    this.remember(key, tag.seq);
    return { write: true, ack: { ok: true, seq: tag.seq } };
  }

  private remember(key: string, seq: number): void {
    this.last.set(key, seq);
    if (this.last.size > this.max) this.last.delete(this.last.keys().next().value!);
  }
}
