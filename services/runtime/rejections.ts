/**
 * Telling apart what a stream message is: an event of the reader's registry, a rejection
 * record (shared/rejections.ts), or something no reader here can use.
 */
import { type Envelope, EventRegistry } from "../../shared/envelope.js";
import { CocalcError, type ErrorPayload } from "../../shared/errors.js";
import { EventRejected, type RejectionEvent } from "../../shared/rejections.js";

/** Reads rejection records, which no service's own registry defines. */
export const rejectionRegistry = new EventRegistry<RejectionEvent>([EventRejected]);

/** A stream message as read: its event, a rejection record, or why it is unreadable. */
export type ReadMessage<E extends Envelope> =
  | { kind: "event"; event: E }
  | { kind: "rejection"; event: RejectionEvent }
  | { kind: "invalid"; error: ErrorPayload };

/** Reads `data` with `registry`; a message it cannot read is a rejection record or invalid. */
export function readMessage<E extends Envelope>(
  registry: EventRegistry<E>,
  data: Uint8Array,
): ReadMessage<E> {
  try {
    return { kind: "event", event: registry.parse(data) };
  } catch (err) {
    if (!(err instanceof CocalcError)) throw err;
    try {
      return { kind: "rejection", event: rejectionRegistry.parse(data) };
    } catch {
      return { kind: "invalid", error: { code: err.code, message: err.message } };
    }
  }
}
