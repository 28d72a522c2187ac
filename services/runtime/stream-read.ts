/** Reading one subject of a stream: its last sequence, and its messages in a range. */
import {
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
} from "@nats-io/jetstream";
import type { Envelope, EventRegistry } from "../../shared/envelope.js";

/** A message of a subject as stored, before it is read as an event. */
export interface SubjectMessage {
  seq: number;
  data: Uint8Array;
}

/** The last sequence stored on `subject` in `stream`, 0 if none. */
export async function lastSubjectSeq(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m?.seq ?? 0;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10037) return 0; // no message found
    throw err;
  }
}

/** The messages of one subject with sequence in (after, upTo], in order. */
export async function readSubjectMessages(
  js: JetStreamClient,
  stream: string,
  subject: string,
  after: number,
  upTo: number,
): Promise<SubjectMessage[]> {
  if (upTo <= after) return [];
  const consumer = await js.consumers.get(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: after + 1,
  });
  const out: SubjectMessage[] = [];
  const messages = await consumer.consume({ max_messages: 512 });
  try {
    for await (const m of messages) {
      out.push({ seq: m.seq, data: m.data });
      if (m.seq >= upTo || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

/** How many messages readNewSubjectMessages gets one by one before it takes a consumer. */
const ONE_BY_ONE = 4;

/** The first message of `subject` after sequence `after`, or null when there is none yet. */
export async function nextSubjectMessage(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  after: number,
): Promise<SubjectMessage | null> {
  // STREAM.MSG.GET takes next_by_subj (nats-server >= 2.9); nats.js types it for direct gets only.
  const next = { next_by_subj: subject, seq: after + 1 } as unknown as MsgRequest;
  try {
    const m = await jsm.streams.getMessage(stream, next);
    return m ? { seq: m.seq, data: m.data } : null;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10037) return null; // none yet
    throw err;
  }
}

/**
 * Like readSubjectMessages, for a reader that is usually only a message or two behind (an
 * aggregate's cache): those are got one by one by subject, a round trip each, instead of
 * through a consumer made and deleted for them; a longer gap is read through a consumer.
 * `first`: nextSubjectMessage(…, after), asked already (beside the subject's last sequence).
 * It may have been answered before the message that `upTo` counts was stored (the two
 * requests race); then it is asked again rather than taken as "nothing new".
 */
export async function readNewSubjectMessages(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  after: number,
  upTo: number,
  first?: Promise<SubjectMessage | null>,
): Promise<SubjectMessage[]> {
  const out: SubjectMessage[] = [];
  let from = after;
  while (from < upTo && out.length < ONE_BY_ONE) {
    const early = from === after && first ? await first.catch(() => null) : null;
    const m = early ?? (await nextSubjectMessage(jsm, stream, subject, from));
    if (!m || m.seq > upTo) return out;
    out.push(m);
    from = m.seq;
  }
  return from < upTo
    ? [...out, ...(await readSubjectMessages(js, stream, subject, from, upTo))]
    : out;
}

/** The events of one subject with sequence in (after, upTo], in order; throws on an invalid one. */
export async function readSubject<E extends Envelope>(
  js: JetStreamClient,
  registry: EventRegistry<E>,
  stream: string,
  subject: string,
  after: number,
  upTo: number,
): Promise<{ event: E; seq: number }[]> {
  const messages = await readSubjectMessages(js, stream, subject, after, upTo);
  return messages.map((m) => ({ event: registry.parse(m.data), seq: m.seq }));
}
