/**
 * Reading a stream (or a view's stream) in the page: one request makes an ephemeral pull
 * consumer with the filter in its subject, then its messages arrive as answers to pull
 * requests. That is what a browser may do everywhere: plus's own streams, and a launchpad
 * workspace's on its host through the hub, where only answers to requests are routed back
 * (push deliveries and flow control are not) and a stream's info is not the browser's to read.
 * Nothing is acknowledged, so nothing comes twice: a gap in the delivery sequence means the
 * reader must be made again from the last message applied (`Reader.inOrder`).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, nuid } from "@nats-io/nats-core";

/** Where a reader starts. */
export type ReadFrom =
  | { all: true }
  /** The stream sequence of the first message to read. */
  | { seq: number }
  /** The newest message of each subject (a view's current entries), then what follows. */
  | { lastPerSubject: true };

/**
 * The consumer names a browser may use on a launchpad workspace's host (its JWT names them:
 * shared/hub-permissions.ts readerNames), handed out one per reader. A name comes back once
 * its consumer is deleted, or after the consumer's inactivity limit when that failed.
 */
export class ReaderSlots {
  private readonly free: string[];

  constructor(names: readonly string[]) {
    this.free = [...names];
  }

  /** More names (a page's, once its key is made). */
  fill(names: readonly string[]): void {
    this.free.push(...names);
  }

  take(): string {
    const name = this.free.shift();
    if (name === undefined)
      throw new Error("too many readers open at once in this page: close a document or terminal");
    return name;
  }

  /** `name` is free again: at once when its consumer is gone, else once it expires. */
  give(name: string, gone: boolean): void {
    if (gone) this.free.push(name);
    else setTimeout(() => this.free.push(name), INACTIVE_MS + 5_000);
  }
}

/** A consumer of a reader goes by itself after this long without a pull. */
const INACTIVE_MS = 60_000;

/**
 * A name for a consumer: one of `slots` when the page has them, else a fresh random one.
 * `done(gone)` hands it back.
 */
export function consumerName(
  slots: ReaderSlots | undefined,
  prefix: string,
): { name: string; done(gone: boolean): void } {
  if (!slots) return { name: `${prefix}_${nuid.next()}`, done: () => undefined };
  const name = slots.take();
  let given = false;
  return {
    name,
    done(gone) {
      if (given) return;
      given = true;
      slots.give(name, gone);
    },
  };
}

/** What a page asks the hub for: a reader of `stream` filtered to `filter`, named `name`. */
export interface ReaderAsk {
  stream: string;
  filter: string;
  name: string;
  from: ReadFrom;
}

/** Makes the consumer of a reader elsewhere (the hub does, for a launchpad page). */
export type MakeReader = (ask: ReaderAsk) => Promise<ConsumerInfo>;

export interface ReaderOptions {
  /** The JetStream domain (a launchpad host's); the connection's own when undefined. */
  domain?: string;
  /** The consumer names this page may use (a launchpad page's); any name without. */
  slots?: ReaderSlots;
  /** Who makes the consumer (a launchpad page's hub); the page itself without. */
  make?: MakeReader;
  stream: string;
  filter: string;
  from: ReadFrom;
  /** Name prefix of the consumer (a token). */
  prefix?: string;
  /** Messages asked for at a time. */
  batch?: number;
  /** Or bytes asked for at a time (large messages, e.g. terminal output). */
  maxBytes?: number;
}

export interface Reader {
  messages: ConsumerMessages;
  /** False when `m` does not follow the message before it (one was lost on the way). */
  inOrder(m: JsMsg): boolean;
  /** How many messages the consumer has left to deliver now (0: caught up). */
  pending(): Promise<number>;
  /** Stops reading and deletes the consumer (it would go by itself after a minute). */
  release(): void;
}

function startOf(from: ReadFrom): Partial<ConsumerConfig> {
  if ("seq" in from)
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, from.seq) };
  if ("lastPerSubject" in from) return { deliver_policy: DeliverPolicy.LastPerSubject };
  return { deliver_policy: DeliverPolicy.All };
}

/** Makes a reader of `o.stream` filtered to `o.filter`. */
export async function openReader(nc: NatsConnection, o: ReaderOptions): Promise<Reader> {
  const domain = o.domain === undefined ? {} : { domain: o.domain };
  const jsm = await jetstreamManager(nc, { ...domain, checkAPI: false });
  const slot = consumerName(o.slots, o.prefix ?? "read");
  let info: ConsumerInfo;
  try {
    info = o.make
      ? await o.make({ stream: o.stream, filter: o.filter, name: slot.name, from: o.from })
      : await jsm.consumers.add(o.stream, {
          name: slot.name,
          filter_subject: o.filter,
          ack_policy: AckPolicy.None,
          mem_storage: true,
          num_replicas: 1,
          inactive_threshold: nanos(INACTIVE_MS),
          ...startOf(o.from),
        });
  } catch (err) {
    // The name may still be taken by a consumer that was not deleted: let it expire.
    slot.done(false);
    throw err;
  }
  const consumer = jetstream(nc, domain).consumers.getConsumerFromInfo(info);
  const batch = o.batch ?? 1000;
  const messages = await consumer.consume(
    o.maxBytes !== undefined
      ? { max_bytes: o.maxBytes }
      : { max_messages: batch, threshold_messages: Math.floor(batch / 2) },
  );
  let delivered = 0;
  let released = false;
  return {
    messages,
    inOrder: (m) => m.info.deliverySequence === ++delivered,
    pending: async () => (await consumer.info(true)).num_pending,
    release() {
      if (released) return;
      released = true;
      messages.stop();
      void consumer.delete().then(
        () => slot.done(true),
        () => slot.done(false),
      );
    },
  };
}
