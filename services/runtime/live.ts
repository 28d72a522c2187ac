/**
 * Live fields of a view: what a service observes beside its events (a turn's heartbeat, a
 * terminal's pid and viewers, a workspace's disk use) and writes into the value a projection
 * keeps. The projection owns the key: a live write never creates one, never brings a deleted
 * one back, and keeps the sequence the projection stored; the KV revision keeps a projection
 * write that came in between.
 */
import type { KV } from "@nats-io/kv";
import { isWrongLastSequence } from "./publish.js";

/** What writeLive did. */
export type LiveResult = "written" | "unchanged" | "missing";

const MAX_ATTEMPTS = 20;

/**
 * Writes `change(view)` into `key` of `kv`, read again and changed again when another writer
 * came first. `change` gets the view without the projection's bookkeeping and returns the
 * whole next value; a value equal to the current one is not written.
 */
export async function writeLive<V extends object>(
  kv: KV,
  key: string,
  change: (view: V) => V,
): Promise<LiveResult> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const entry = await kv.get(key);
    if (entry?.operation !== "PUT" || entry.length === 0) return "missing";
    const { _seq, ...view } = entry.json<V & { _seq?: number }>();
    const next = change(view as unknown as V);
    if (JSON.stringify(next) === JSON.stringify(view)) return "unchanged";
    try {
      await kv.update(key, JSON.stringify({ ...next, _seq }), entry.revision);
      return "written";
    } catch (err) {
      if (isWrongLastSequence(err) || /wrong last sequence/i.test(String(err))) continue;
      throw err;
    }
  }
  throw new Error(`live fields of ${key} kept changing under us`);
}
