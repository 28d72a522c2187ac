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

/** Applies one event to one key of a view. */
export async function applyToView<V, E extends Envelope>(
  kv: KV,
  projection: Projection<V, E>,
  event: StoredEvent<E>,
): Promise<ApplyResult> {
  const key = projection.key(event);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const entry = await kv.get(key);
    const live = entry && entry.operation === "PUT" && entry.length > 0;
    const current = live ? entry.json<Stored<V>>() : null;
    if (current && current._seq >= event.seq) return "skipped";
    const next = projection.evolve(current ? strip(current) : null, event);
    try {
      if (next === null) {
        if (live) await kv.delete(key, { previousSeq: entry.revision });
        return "deleted";
      }
      const value = JSON.stringify({ ...next, _seq: event.seq });
      if (entry) await kv.update(key, value, entry.revision);
      else await kv.create(key, value);
      return "applied";
    } catch (err) {
      // Another instance wrote the key since we read it: read again and re-decide.
      if (
        isWrongLastSequence(err) ||
        (err instanceof Error && /wrong last sequence|key exists/i.test(err.message))
      )
        continue;
      throw err;
    }
  }
  throw new Error(`projection ${projection.name}: key ${key} kept changing under us`);
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

/**
 * A handler that runs every matching projection for each event, and, for a rejection record,
 * every projection that shows rejections.
 */
export async function projectionHandler(kvm: Kvm, projections: readonly Projection<any, any>[]) {
  const buckets = new Map<string, KV>();
  for (const p of projections) {
    if (!buckets.has(p.bucket)) buckets.set(p.bucket, await kvm.open(p.bucket));
  }
  const all = [
    ...projections,
    ...projections.flatMap((p) => (p.rejected ? [rejectionsProjection(p, p.rejected)] : [])),
  ];
  return async (event: StoredEvent): Promise<void> => {
    for (const p of all) {
      if (p.canHandle(event.event)) await applyToView(buckets.get(p.bucket)!, p, event);
    }
  };
}
