/**
 * Durable consumers: one per service and stream, acked after the side effect and the
 * projection write, so a crash redelivers what was not finished.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Envelope, EventRegistry, StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "./logger.js";
import type { RunningService } from "./service.js";

/**
 * How long a delivered, unacknowledged event waits before redelivery, e.g. after a crash.
 * A handler that takes longer keeps its event with working() (see consumeEvents).
 */
export const ACK_WAIT_MS = 10_000;

/** Creates the durable consumer, or updates it when its configuration changed. */
export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filterSubject: string,
): Promise<void> {
  const want: Partial<ConsumerConfig> = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filterSubject,
    ack_wait: nanos(ACK_WAIT_MS),
    // One event at a time: after a crash the unacknowledged event is redelivered before any
    // later one, so projections see every key's events in stream order and can skip by sequence.
    max_ack_pending: 1,
    max_deliver: -1,
  };
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (
      info.config.filter_subject !== filterSubject ||
      info.config.max_ack_pending !== want.max_ack_pending ||
      info.config.ack_wait !== want.ack_wait
    ) {
      await jsm.consumers.update(stream, durable, {
        filter_subject: filterSubject,
        max_ack_pending: want.max_ack_pending,
        ack_wait: want.ack_wait,
      });
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound))
      throw err;
    await jsm.consumers.add(stream, want);
  }
}

/** Turns a stream message into a stored event; throws CocalcError when it is not a valid event. */
export function storedEvent<E extends Envelope>(
  registry: EventRegistry<E>,
  m: JsMsg,
): StoredEvent<E> {
  return {
    event: registry.parse(m.data),
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
  };
}

export interface ConsumeOptions<E extends Envelope> {
  js: JetStreamClient;
  stream: string;
  durable: string;
  registry: EventRegistry<E>;
  log: Logger;
  handle(event: StoredEvent<E>): Promise<void>;
}

/**
 * Runs a durable consumer until stopped. Invalid events are logged and terminated (they
 * change nothing). A handler that throws crashes the consumer: the event is redelivered
 * after the supervisor restarts the service.
 */
export async function consumeEvents<E extends Envelope>(
  opts: ConsumeOptions<E>,
): Promise<RunningService> {
  const consumer = await opts.js.consumers.get(opts.stream, opts.durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });
  let stopping = false;
  let failure: { err: unknown } | undefined;
  const done = (async () => {
    for await (const m of messages) {
      if (failure) {
        // Hand back what was already pulled, so a restart gets it at once, not after ack_wait.
        m.nak();
        continue;
      }
      let stored: StoredEvent<E>;
      try {
        stored = storedEvent(opts.registry, m);
      } catch (err) {
        if (!(err instanceof CocalcError)) throw err;
        opts.log.warn(
          { seq: m.seq, subject: m.subject, code: err.code, reason: err.message },
          "invalid event skipped",
        );
        // No reason text: nats-server 2.9 does not parse "+TERM <reason>".
        m.term();
        continue;
      }
      const working = setInterval(() => m.working(), ACK_WAIT_MS / 2);
      try {
        await opts.handle(stored);
      } catch (err) {
        m.nak();
        failure = { err };
        messages.stop();
        continue;
      } finally {
        clearInterval(working);
      }
      m.ack();
      if (stopping) break;
    }
    if (failure) throw failure.err;
  })();
  done.catch(() => messages.stop());
  return {
    done,
    async stop() {
      stopping = true;
      messages.stop();
      await done.catch(() => undefined);
    },
  };
}
