/**
 * Live fields of a view: what a service observes beside its events (a turn's heartbeat, a
 * terminal's pid and viewers, a workspace's disk use) and writes into the value a projection
 * keeps. The projection owns the key: a live write never creates one, never brings a deleted
 * one back, and keeps the sequence the projection stored; the KV revision keeps a projection
 * write that came in between.
 */
import type { KV } from "@nats-io/kv";
import { updateStored } from "./projection.js";

/** What writeLive did. */
export type LiveResult = "written" | "unchanged" | "missing";

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
  let result: LiveResult = "missing";
  await updateStored<V>(kv, key, (current) => {
    if (!current) {
      result = "missing";
      return undefined;
    }
    const { _seq, ...view } = current;
    const next = change(view as unknown as V);
    if (JSON.stringify(next) === JSON.stringify(view)) {
      result = "unchanged";
      return undefined;
    }
    result = "written";
    return { ...next, _seq };
  });
  return result;
}
