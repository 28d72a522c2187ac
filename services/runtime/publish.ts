import { JetStreamApiError, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { type Envelope, encodeEvent } from "../../shared/envelope.js";

/** JetStream's error code for a failed `expect.lastSubjectSequence`. */
export const WRONG_LAST_SEQUENCE = 10071;

export interface PublishOptions {
  /** The subject's last sequence the event was decided against (0 = no events yet). */
  expectLastSubjectSeq?: number;
  timeoutMs?: number;
}

/**
 * Publishes one event. Its id is the Nats-Msg-Id, so a retried publish is stored once.
 * With `expectLastSubjectSeq` the publish fails with WRONG_LAST_SEQUENCE if someone else wrote first.
 */
export function publishEvent(
  js: JetStreamClient,
  subject: string,
  event: Envelope,
  opts: PublishOptions = {},
): Promise<PubAck> {
  return js.publish(subject, encodeEvent(event), {
    msgID: event.id,
    timeout: opts.timeoutMs ?? 10_000,
    ...(opts.expectLastSubjectSeq !== undefined && {
      expect: { lastSubjectSequence: opts.expectLastSubjectSeq },
    }),
  });
}

/** True when a publish failed because the subject moved on since the state was read. */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

/**
 * Publishes many events with at most `window` unacknowledged at a time: the throughput of
 * async publishing with a bounded number of publishes in flight. Resolves with the acks in
 * order (one small object per event: for unbounded streams of events, call it in batches).
 */
export async function publishEvents(
  js: JetStreamClient,
  items: Iterable<{ subject: string; event: Envelope }>,
  window = 256,
): Promise<PubAck[]> {
  const acks: PubAck[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let i = 0;
  for (const { subject, event } of items) {
    if (failure) break;
    const index = i++;
    const p: Promise<void> = publishEvent(js, subject, event).then(
      (ack) => {
        acks[index] = ack;
        inflight.delete(p);
      },
      (err: unknown) => {
        failure ??= { err };
        inflight.delete(p);
      },
    );
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure) throw failure.err;
  return acks;
}
