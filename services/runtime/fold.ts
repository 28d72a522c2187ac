/**
 * Folding an aggregate's subject into its state. An event this build cannot read is skipped,
 * never fatal: the aggregate is decided on the rest, and the skip waits to be recorded as a
 * rejection (until the subject holds that record).
 */
import type { Command } from "../../shared/commands.js";
import type { DecidedEvent, Decider } from "../../shared/decider.js";
import type { Envelope, EventRegistry } from "../../shared/envelope.js";
import type { Rejection } from "../../shared/rejections.js";
import { readMessage } from "./rejections.js";
import type { SubjectMessage } from "./stream-read.js";

/** What a schema allows a rejection's message to be (RejectionSchema). */
const MAX_REASON = 4000;

/** An aggregate's state as of a sequence of its subject. */
export interface Folded<S> {
  state: S;
  /** The subject's sequence the state is folded up to (0: nothing yet). */
  seq: number;
  /** Skipped events whose rejection the subject does not hold yet, oldest first. */
  unrecorded: readonly Rejection[];
}

/** The fold of a subject with no messages. */
export function emptyFold<S>(decider: { initialState(): S }): Folded<S> {
  return { state: decider.initialState(), seq: 0, unrecorded: [] };
}

/** Folds the messages that follow `from` into it. Pure. */
export function foldMessages<C extends Command, E extends DecidedEvent, S>(
  decider: Decider<C, E, S>,
  registry: EventRegistry,
  from: Folded<S>,
  messages: readonly SubjectMessage[],
): Folded<S> {
  let { state, seq } = from;
  let unrecorded = from.unrecorded;
  for (const m of messages) {
    seq = m.seq;
    const read = readMessage<Envelope>(registry, m.data);
    switch (read.kind) {
      case "event":
        state = decider.evolve(state, read.event as unknown as E);
        break;
      case "rejection": {
        const recorded = read.event.data.seq;
        unrecorded = unrecorded.filter((r) => r.seq !== recorded);
        break;
      }
      case "invalid": {
        const { code, message } = read.error;
        unrecorded = [...unrecorded, { seq: m.seq, error: { code, message: clip(message) } }];
        break;
      }
      default: {
        const never: never = read;
        throw new Error(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }
  return { state, seq, unrecorded };
}

function clip(message: string): string {
  return message.length > MAX_REASON ? `${message.slice(0, MAX_REASON - 1)}…` : message;
}
