/**
 * A KV watch that lives as long as its owner, not as long as a socket. nats.js watch
 * iterators can end when the connection is lost or the consumer is gone; this re-opens them
 * with backoff and resumes after the last revision seen, so no update is missed and none is
 * applied twice. If the bucket's stream was re-created (new server data), the view is rebuilt.
 */
import type { KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { produce, reconcile, type SetStoreFunction } from "solid-js/store";
import type { WorkspaceConnection } from "./connection.js";

/** What a watch needs of a connection: a connected client, and word of each reconnect. */
export type ViewSource = Pick<WorkspaceConnection, "ready" | "onReconnect">;

export interface WatchOptions {
  /**
   * Notice a bucket that was made anew (new server data) and rebuild the view; it reads the
   * stream's info, which a launchpad browser may not: it passes false.
   */
  rebuildCheck?: boolean;
}

import { backoffMs, delay, messageOf } from "./delay.js";
import { openView } from "./views.js";

export interface KvWatchHandlers {
  /** Forget everything seen so far; entries from a rebuilt bucket follow. */
  reset(): void;
  /** One entry: a PUT, or a DEL/PURGE marker. */
  entry(entry: KvEntry): void;
  /** The watch failed (message) or is healthy again (undefined). */
  problem(message: string | undefined): void;
}

/**
 * Keeps a store of records by id equal to the entries under `key` of `bucket`: `id` names an
 * entry's record, `valid` checks its shape (`what` names it in the error when it is wrong).
 */
export function watchKvRecords<T extends object>(
  conn: ViewSource,
  bucket: string,
  key: string,
  o: {
    set: SetStoreFunction<Record<string, T>>;
    id(key: string): string;
    valid(value: unknown): value is T;
    what: string;
    problem(message: string | undefined): void;
  },
  options: WatchOptions = {},
): () => void {
  return watchKv(
    conn,
    bucket,
    key,
    {
      reset: () => o.set(reconcile({})),
      entry: (e) => {
        const id = o.id(e.key);
        if (e.operation !== "PUT") {
          o.set(produce((r) => void delete r[id]));
          return;
        }
        const value = e.json<unknown>();
        if (!o.valid(value)) throw new Error(`${o.what} has an unexpected shape`);
        o.set(id, reconcile(value));
      },
      problem: o.problem,
    },
    options,
  );
}

/** Watches `key` (may hold wildcards) of `bucket` until the returned function is called. */
export function watchKv(
  conn: ViewSource,
  bucket: string,
  key: string,
  handlers: KvWatchHandlers,
  options: WatchOptions = {},
): () => void {
  const stopping = new AbortController();
  let iter: QueuedIterator<KvWatchEntry> | undefined;
  let lastRevision = 0;
  let streamCreated: string | undefined;

  // After a reconnect the server may have dropped our consumer; start a fresh one at once
  // rather than waiting for missed heartbeats to notice.
  const offReconnect = conn.onReconnect(() => iter?.stop());

  async function openOnce(): Promise<QueuedIterator<KvWatchEntry> | undefined> {
    const nc = await conn.ready(stopping.signal);
    if (!nc || stopping.signal.aborted) return undefined;
    const kv = await openView(nc, bucket);
    if (options.rebuildCheck !== false) {
      const { streamInfo } = await kv.status();
      const rebuilt =
        streamCreated !== undefined &&
        (streamInfo.created !== streamCreated || streamInfo.state.last_seq < lastRevision);
      if (rebuilt) {
        lastRevision = 0;
        handlers.reset();
      }
      streamCreated = streamInfo.created;
    }
    return kv.watch(lastRevision > 0 ? { key, resumeFromRevision: lastRevision + 1 } : { key });
  }

  async function run() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        iter = await openOnce();
        if (!iter) break;
        if (stopping.signal.aborted) {
          iter.stop();
          break;
        }
        failures = 0;
        handlers.problem(undefined);
        for await (const entry of iter) {
          if (entry.revision <= lastRevision) continue;
          lastRevision = entry.revision;
          try {
            handlers.entry(entry);
          } catch (err) {
            // One bad record must not stop the view.
            handlers.problem(`${bucket}/${entry.key}: ${messageOf(err)}`);
          }
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        failures++;
        const message = messageOf(err);
        handlers.problem(
          /stream not found/i.test(message)
            ? `the ${bucket} view does not exist yet`
            : `${bucket}: ${message}`,
        );
      } finally {
        iter = undefined;
      }
      // A clean end still waits a little, so a watch that keeps ending cannot spin.
      await delay(Math.max(100, backoffMs(failures)), stopping.signal);
    }
  }

  void run();

  return () => {
    stopping.abort();
    offReconnect();
    iter?.stop();
  };
}
