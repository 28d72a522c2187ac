/**
 * Durable consumers: one per service and stream, acked after the side effect and the
 * projection write, so a crash redelivers what was not finished.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Envelope, EventRegistry, StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "./logger.js";
import type { RunningService } from "./service.js";

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
    ack_wait: nanos(30_000),
    max_ack_pending: 1000,
    max_deliver: -1,
  };
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (info.config.filter_subject !== filterSubject || info.config.max_ack_pending !== want.max_ack_pending) {
      await jsm.consumers.update(stream, durable, { filter_subject: filterSubject, max_ack_pending: want.max_ack_pending });
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(stream, want);
  }
}

/** Turns a stream message into a stored event; throws CocalcError when it is not a valid event. */
export function storedEvent<E extends Envelope>(registry: EventRegistry<E>, m: JsMsg): StoredEvent<E> {
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
export async function consumeEvents<E extends Envelope>(opts: ConsumeOptions<E>): Promise<RunningService> {
  const consumer = await opts.js.consumers.get(opts.stream, opts.durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });
  let stopping = false;
  const done = (async () => {
    for await (const m of messages) {
      let stored: StoredEvent<E>;
      try {
        stored = storedEvent(opts.registry, m);
      } catch (err) {
        if (!(err instanceof CocalcError)) throw err;
        opts.log.warn({ seq: m.seq, subject: m.subject, code: err.code, reason: err.message }, "invalid event skipped");
        m.term(err.message);
        continue;
      }
      try {
        await opts.handle(stored);
      } catch (err) {
        m.nak(1000);
        throw err;
      }
      m.ack();
      if (stopping) break;
    }
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
