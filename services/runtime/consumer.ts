/**
 * Durable consumers: one per service and stream, acked after the side effect and the
 * projection write, so a crash redelivers what was not finished.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  ReplayPolicy,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, type QueuedIterator, type Status } from "@nats-io/nats-core";
import type { Envelope, EventRegistry, StoredEvent } from "../../shared/envelope.js";
import type { StoreLoss } from "../../shared/health.js";
import type { RejectionEvent } from "../../shared/rejections.js";
import type { Logger } from "./logger.js";
import type { ProjectedViews } from "./projection.js";
import { readMessage } from "./rejections.js";
import type { RunningService } from "./service.js";
import { reportStoreLoss } from "./store-watch.js";

/**
 * How long a delivered, unacknowledged event waits before redelivery, e.g. after a crash.
 * A handler that takes longer keeps its event with working() (see consumeEvents).
 */
export const ACK_WAIT_MS = 10_000;

/** A service's durable consumer: which stream, which name, which events. */
export interface DurableSpec {
  stream: string;
  durable: string;
  filterSubject: string;
}

/** What ensureDurable found and did. */
export type DurableCheck = "created" | "unchanged" | "restored" | "recreated" | "rewound";

export type { StoreLoss };

/** Who is told of a loss before the durable starts again from the stream's beginning. */
export type OnStoreLoss = (loss: StoreLoss) => Promise<void>;

/** The configuration every service durable has. */
function durableConfig(durable: string, filterSubject: string) {
  return {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filterSubject,
    ack_wait: nanos(ACK_WAIT_MS),
    // One event at a time: after a crash the unacknowledged event is redelivered before any
    // later one, so projections see every key's events in stream order and can skip by sequence.
    max_ack_pending: 1,
    max_deliver: -1,
  } satisfies Partial<ConsumerConfig>;
}

/**
 * Fields we never set, which anyone allowed to update a consumer could: an inactive threshold
 * deletes the durable while the service is away, a backoff or rate limit slows it, a pause
 * stops it. Restored by updating them to unset.
 */
const UNSET_UPDATABLE = [
  "inactive_threshold",
  "backoff",
  "rate_limit_bps",
  "sample_freq",
  "headers_only",
  "max_batch",
  "max_expires",
  "max_bytes",
  "mem_storage",
  "description",
  "filter_subjects",
  "pause_until",
  "priority_groups",
  "priority_policy",
  "priority_timeout",
] as const;

/**
 * Fields that only a re-create can restore, as ours have them. nats-server refuses to update
 * all but the filter; the filter it takes, but 2.9 keeps matching as the consumer was created
 * (a literal filter restored to a wildcard one then matches nothing).
 */
function fixedFields(filterSubject: string): Record<string, unknown> {
  return {
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
    replay_policy: ReplayPolicy.Instant,
    deliver_subject: undefined,
    deliver_group: undefined,
    flow_control: undefined,
    idle_heartbeat: undefined,
    opt_start_time: undefined,
  };
}

/** Unset, zero, empty and false are one value: the server leaves defaults out or spells them. */
function norm(v: unknown): string {
  if (v === undefined || v === null || v === 0 || v === "" || v === false) return "null";
  if (Array.isArray(v) && v.length === 0) return "null";
  return JSON.stringify(v);
}

/** The fields of `have` that differ from what a service durable must be. */
function differences(have: ConsumerConfig, { durable, filterSubject }: DurableSpec) {
  const want: Record<string, unknown> = durableConfig(durable, filterSubject);
  const fixedWant = fixedFields(filterSubject);
  const got = have as unknown as Record<string, unknown>;
  const updatable = [
    ...Object.keys(want).filter((k) => !(k in fixedWant) && k !== "deliver_policy"),
    ...UNSET_UPDATABLE,
  ].filter((k) => norm(got[k]) !== norm(want[k]));
  const fixed = Object.keys(fixedWant).filter((k) => norm(got[k]) !== norm(fixedWant[k]));
  // A durable we re-created starts after what it had acknowledged (see ensureDurable).
  if (
    have.deliver_policy !== DeliverPolicy.All &&
    have.deliver_policy !== DeliverPolicy.StartSequence
  )
    fixed.push("deliver_policy");
  return { updatable, fixed };
}

/**
 * Updates what an update can restore; false when the server refused or did not take it
 * (servers differ in what they let an update change), and a re-create must do.
 */
async function restoreInPlace(jsm: JetStreamManager, spec: DurableSpec): Promise<boolean> {
  const { stream, durable, filterSubject } = spec;
  // The deliver policy stays as it is (it cannot be updated, and may be a re-created one's).
  const { deliver_policy: _, ...want } = durableConfig(durable, filterSubject);
  const unset = Object.fromEntries(UNSET_UPDATABLE.map((k) => [k, undefined]));
  // nats-server 2.9 sets an update's inactive threshold by what the consumer was before it: one
  // that had lost its durable name gets an ephemeral's 5 s, which a second update takes away.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await jsm.consumers.update(stream, durable, { ...unset, ...want } as Partial<ConsumerConfig>);
    } catch (err) {
      if (err instanceof JetStreamApiError) return false;
      throw err;
    }
    const left = differences((await jsm.consumers.info(stream, durable)).config, spec);
    if (left.updatable.length + left.fixed.length === 0) return true;
  }
  return false;
}

/**
 * Makes the durable consumer what the service needs: creates it when missing (starting at
 * `firstSeq` when given, else at the stream's first event), and restores its configuration
 * when someone else changed it (logged, with the fields that differed).
 * Called when a service starts and after every reconnect (see consumeEvents).
 */
export async function ensureDurable(
  jsm: JetStreamManager,
  spec: DurableSpec,
  log: Logger,
  firstSeq?: number,
  onLoss?: OnStoreLoss,
  views?: ProjectedViews,
): Promise<DurableCheck> {
  const { stream, durable, filterSubject } = spec;
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, durable);
    if (await rewoundAfterLoss(jsm, spec, info, log, onLoss, views)) return "rewound";
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound))
      throw err;
    await jsm.consumers.add(stream, {
      ...durableConfig(durable, filterSubject),
      ...(firstSeq !== undefined && {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: firstSeq,
      }),
    });
    return "created";
  }
  const { updatable, fixed } = differences(info.config, spec);
  const changed = [...fixed, ...updatable];
  if (changed.length === 0) return "unchanged";
  if (fixed.length === 0 && (await restoreInPlace(jsm, spec))) {
    log.warn(
      { stream, durable, changed },
      "durable consumer had been changed by someone else: restored its configuration",
    );
    return "restored";
  }
  // Start after the last event the old one had acknowledged, so nothing is skipped and what
  // was handled is not handled again.
  const from = info.ack_floor.stream_seq + 1;
  await jsm.consumers.delete(stream, durable);
  await jsm.consumers.add(stream, {
    ...durableConfig(durable, filterSubject),
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
  });
  log.warn(
    { stream, durable, changed, from },
    "durable consumer had been changed by someone else in a way only a re-create undoes: re-created it",
  );
  return "recreated";
}

/**
 * A durable that saw (delivered or acknowledged) sequences beyond its stream's last one: those
 * events are gone, and events published from now on reuse their numbers, which the durable
 * would skip and the views would take for seen. `onLoss` (the views: forget what came from
 * the lost events) runs first; then the durable is made again from the stream's beginning, so
 * the views are rebuilt from what is there and new events apply.
 */
async function rewoundAfterLoss(
  jsm: JetStreamManager,
  spec: DurableSpec,
  info: ConsumerInfo,
  log: Logger,
  onLoss?: OnStoreLoss,
  views?: ProjectedViews,
): Promise<boolean> {
  const { last_seq: lastSeq } = (await jsm.streams.info(spec.stream)).state;
  let seen = Math.max(info.ack_floor.stream_seq, info.delivered.stream_seq);
  // The views may have been kept while the durable was put back with the stream.
  if (seen <= lastSeq && views) seen = Math.max(seen, await views.highestSeq());
  if (seen <= lastSeq) return false;
  const loss: StoreLoss = {
    stream: spec.stream,
    durable: spec.durable,
    lastSeq,
    from: lastSeq + 1,
    to: seen,
    at: new Date().toISOString(),
  };
  log.error(
    { ...loss },
    `events ${loss.from}..${loss.to} of stream ${loss.stream} are lost (its store was damaged or put back from an older copy): rebuilding the views from what is there`,
  );
  await onLoss?.(loss);
  await jsm.consumers.delete(spec.stream, spec.durable);
  await jsm.consumers.add(spec.stream, durableConfig(spec.durable, spec.filterSubject));
  return true;
}

/** What the stream attached to a message, around the event read from it. */
function stored<E extends Envelope>(event: E, m: JsMsg): StoredEvent<E> {
  return {
    event,
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
  };
}

export interface ConsumeOptions<E extends Envelope> extends DurableSpec {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  registry: EventRegistry<E>;
  log: Logger;
  /**
   * Applies one event. A projection handler (projection.ts) also carries its views, which
   * forget what came from lost events when the stream lost some (see ensureDurable).
   */
  handle: ((event: StoredEvent<E>) => Promise<void>) & { views?: ProjectedViews };
  /** Told of every loss found (after the views forgot and before the durable restarts). */
  onLoss?: OnStoreLoss;
  /**
   * A rejection record of an aggregate on the stream (shared/rejections.ts): the views that
   * show rejections take it here. Without this, it is acknowledged and changes nothing.
   */
  rejected?(rejection: StoredEvent<RejectionEvent>): Promise<void>;
}

/**
 * Runs a durable consumer until stopped. Invalid events are logged and terminated (they
 * change nothing); rejection records go to `rejected`. A handler that throws crashes the
 * consumer: the event is redelivered after the supervisor restarts the service. The durable is made what it must be first and
 * again after every reconnect (nats-server may have restarted, someone may have changed it
 * while we were away); when it had to be created or re-created then, the consumer ends with
 * an error, so the service starts again on the new durable.
 */
export async function consumeEvents<E extends Envelope>(
  opts: ConsumeOptions<E>,
): Promise<RunningService> {
  const spec = { stream: opts.stream, durable: opts.durable, filterSubject: opts.filterSubject };
  const views = opts.handle.views;
  const onLoss: OnStoreLoss = async (loss) => {
    await views?.forgetAfter(loss.lastSeq);
    reportStoreLoss(opts.nc, loss);
    await opts.onLoss?.(loss);
  };
  await ensureDurable(opts.jsm, spec, opts.log, undefined, onLoss, views);
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
      const read = readMessage(opts.registry, m.data);
      if (read.kind === "invalid") {
        opts.log.warn(
          { seq: m.seq, subject: m.subject, code: read.error.code, reason: read.error.message },
          "invalid event skipped",
        );
        // No reason text: nats-server 2.9 does not parse "+TERM <reason>".
        m.term();
        continue;
      }
      const working = setInterval(() => m.working(), ACK_WAIT_MS / 2);
      try {
        if (read.kind === "event") await opts.handle(stored(read.event, m));
        else await opts.rejected?.(stored(read.event, m));
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

  const status = opts.nc.status() as QueuedIterator<Status>;
  void (async () => {
    for await (const s of status) {
      if (s.type !== "reconnect") continue;
      try {
        // The durable's own sequences only: a restarted nats-server keeps its consumers' state
        // with the streams', and a scan of every view value on each reconnect would cost.
        const check = await ensureDurable(opts.jsm, spec, opts.log, undefined, onLoss);
        if (check === "created" || check === "recreated" || check === "rewound")
          throw new Error(
            `durable ${opts.durable} of ${opts.stream} was ${check} after a reconnect`,
          );
      } catch (err) {
        failure ??= { err };
        messages.stop();
        break;
      }
    }
  })();
  void done.finally(() => status.stop()).catch(() => undefined);
  return {
    done,
    async stop() {
      stopping = true;
      messages.stop();
      await done.catch(() => undefined);
    },
  };
}
