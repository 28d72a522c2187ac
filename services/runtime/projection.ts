/**
 * Projections are data: `{ name, bucket, canHandle, key, evolve }`. One generic runner
 * applies them to KV views, storing the last applied stream sequence in each value so that
 * a redelivered event is a no-op, and using the KV revision for optimistic concurrency.
 */
import type { KV, Kvm } from "@nats-io/kv";
import type { Envelope, StoredEvent } from "../../shared/envelope.js";
import { EventRejected, type RejectionEvent } from "../../shared/rejections.js";
import { isWrongLastSequence } from "./publish.js";

/** A view value as stored: the projection's value plus the sequence of the last event applied. */
export type Stored<V> = V & { _seq: number };

export interface Projection<V = unknown, E extends Envelope = Envelope> {
  name: string;
  bucket: string;
  canHandle(event: Envelope): event is E;
  /** The view key an event updates. */
  key(event: StoredEvent<E>): string;
  /** The next view value; null deletes the key. */
  evolve(view: V | null, event: StoredEvent<E>): V | null;
  /**
   * The view with a rejection of its aggregate (shared/rejections.ts: withRejection), for a
   * projection whose `key` needs only the subject. Without it, the view does not show them.
   */
  rejected?(view: V | null, rejection: RejectionEvent): V | null;
}

export type ApplyResult = "applied" | "skipped" | "deleted";

const MAX_ATTEMPTS = 20;

function strip<V>(stored: Stored<V>): V {
  const { _seq, ...rest } = stored;
  return rest as V;
}

/**
 * Reads `key`, asks `next` for its new value and writes that with the revision read; read and
 * asked again when another writer came first. `next` gets the stored value (null: none, or
 * deleted) and returns the value to store, null to delete it, or undefined to leave it be.
 */
export async function updateStored<V>(
  kv: KV,
  key: string,
  next: (current: Stored<V> | null) => Stored<V> | null | undefined,
): Promise<"written" | "deleted" | "left"> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const entry = await kv.get(key);
    const live = entry && entry.operation === "PUT" && entry.length > 0;
    const value = next(live ? entry.json<Stored<V>>() : null);
    if (value === undefined) return "left";
    try {
      if (value === null) {
        if (live) await kv.delete(key, { previousSeq: entry.revision });
        return "deleted";
      }
      if (entry) await kv.update(key, JSON.stringify(value), entry.revision);
      else await kv.create(key, JSON.stringify(value));
      return "written";
    } catch (err) {
      // Another writer came first: read again and decide again.
      if (
        isWrongLastSequence(err) ||
        (err instanceof Error && /wrong last sequence|key exists/i.test(err.message))
      )
        continue;
      throw err;
    }
  }
  throw new Error(`view key ${key} kept changing under us`);
}

/** Applies one event to one key of a view. */
export async function applyToView<V, E extends Envelope>(
  kv: KV,
  projection: Projection<V, E>,
  event: StoredEvent<E>,
): Promise<ApplyResult> {
  const written = await updateStored<V>(kv, projection.key(event), (current) => {
    if (current && current._seq >= event.seq) return undefined;
    const next = projection.evolve(current ? strip(current) : null, event);
    return next === null ? null : { ...next, _seq: event.seq };
  });
  return written === "left" ? "skipped" : written === "deleted" ? "deleted" : "applied";
}

/**
 * Folds `events` (in order, all of one key) over that key's value and stores the last one's
 * sequence, whatever sequence the value had: for a view whose events moved to another stream.
 */
export async function refoldView<V, E extends Envelope>(
  kv: KV,
  projection: Projection<V, E>,
  key: string,
  events: readonly StoredEvent<E>[],
): Promise<void> {
  const last = events.at(-1);
  if (!last) return;
  await updateStored<V>(kv, key, (current) => {
    let view = current ? strip(current) : null;
    for (const e of events) view = projection.evolve(view, e);
    return view === null ? null : { ...view, _seq: last.seq };
  });
}

/** The projection of `p` that applies rejection records to its view (by the same key). */
function rejectionsProjection<V>(
  p: Projection<V, Envelope>,
  rejected: NonNullable<Projection<V>["rejected"]>,
): Projection<V, RejectionEvent> {
  return {
    name: `${p.name}-rejections`,
    bucket: p.bucket,
    canHandle: (e): e is RejectionEvent => e.type === EventRejected.type,
    key: (e) => p.key(e),
    evolve: (view, { event }) => rejected(view, event),
  };
}

/** The views a projection handler writes, as a consumer that lost events needs them. */
export interface ProjectedViews {
  /**
   * Deletes every value made from an event after `seq` (its `_seq` is higher): events the
   * stream lost. Replaying the stream from its beginning then makes them again from what is
   * there; values made from earlier events only are kept (replaying skips what they saw).
   */
  forgetAfter(seq: number): Promise<number>;
  /** The highest `_seq` among the values: the last event the views have seen. */
  highestSeq(): Promise<number>;
}

/** Every live value of `kv` with its entry, for a scan of `_seq`s. */
async function* storedValues(kv: KV) {
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry?.operation !== "PUT" || entry.length === 0) continue;
    let stored: { _seq?: unknown };
    try {
      stored = entry.json<{ _seq?: unknown }>();
    } catch {
      continue;
    }
    if (typeof stored._seq === "number") yield { key, seq: stored._seq, revision: entry.revision };
  }
}

/** Deletes the values of `kv` whose `_seq` is above `seq`; returns how many. */
async function forgetAfter(kv: KV, seq: number): Promise<number> {
  let forgotten = 0;
  for await (const v of storedValues(kv)) {
    if (v.seq <= seq) continue;
    await kv.delete(v.key, { previousSeq: v.revision });
    forgotten++;
  }
  return forgotten;
}

/**
 * A handler that runs every matching projection for each event, and, for a rejection record,
 * every projection that shows rejections. It carries its views (see ProjectedViews).
 */
export async function projectionHandler(
  kvm: Kvm,
  projections: readonly Projection<any, any>[],
): Promise<((event: StoredEvent) => Promise<void>) & { views: ProjectedViews }> {
  const buckets = new Map<string, KV>();
  for (const p of projections) {
    if (!buckets.has(p.bucket)) buckets.set(p.bucket, await kvm.open(p.bucket));
  }
  const all = [
    ...projections,
    ...projections.flatMap((p) => (p.rejected ? [rejectionsProjection(p, p.rejected)] : [])),
  ];
  const handle = async (event: StoredEvent): Promise<void> => {
    for (const p of all) {
      if (p.canHandle(event.event)) await applyToView(buckets.get(p.bucket)!, p, event);
    }
  };
  const views: ProjectedViews = {
    async forgetAfter(seq) {
      let n = 0;
      for (const kv of buckets.values()) n += await forgetAfter(kv, seq);
      return n;
    },
    async highestSeq() {
      let high = 0;
      for (const kv of buckets.values())
        for await (const v of storedValues(kv)) high = Math.max(high, v.seq);
      return high;
    },
  };
  return Object.assign(handle, { views });
}
