/**
 * Rejections: an aggregate's subject may hold an event this build cannot read (malformed,
 * of an unknown type, or written by a newer build). Its command path skips it and records
 * why, once, as an `EventRejected` event on the same subject; views show the rejections of
 * their aggregate.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineEvent, type EventOf } from "./envelope.js";

/** What was rejected and why: the stream sequence of the skipped event and the reading error. */
export const RejectionSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    error: Type.Object(
      { code: Type.String({ maxLength: 100 }), message: Type.String({ maxLength: 4000 }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type Rejection = Static<typeof RejectionSchema>;

/** An event on this subject was skipped: the aggregate is decided without it. */
export const EventRejected = defineEvent("EventRejected", 1, RejectionSchema);
export type RejectionEvent = EventOf<typeof EventRejected>;

/** The actor of rejection records: the command path that skipped the event (its log says which service). */
export const REJECTION_ACTOR = "command-path";

/** A rejection as a view shows it: what, why and when it was recorded. */
export interface RejectedEvent extends Rejection {
  at: string;
}

/** A view value that shows its aggregate's rejections. */
export interface ShowsRejections {
  /** The newest rejections, oldest first (at most MAX_SHOWN_REJECTIONS). */
  rejected?: RejectedEvent[];
}

/** How many rejections a view keeps: enough to see what happened, bounded. */
export const MAX_SHOWN_REJECTIONS = 10;

/** A view with one more rejection; no view stays none (a rejection creates nothing). */
export function withRejection<V extends ShowsRejections>(
  view: V | null,
  rejection: RejectionEvent,
): V | null {
  if (!view) return null;
  const entry: RejectedEvent = { ...rejection.data, at: rejection.at };
  return { ...view, rejected: [...(view.rejected ?? []), entry].slice(-MAX_SHOWN_REJECTIONS) };
}
