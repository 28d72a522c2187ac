/**
 * A KV watch that lives as long as its owner, not as long as a socket. A reader can end when
 * the connection is lost or its consumer is gone; this makes it again with backoff and
 * resumes after the last revision seen, so no update is missed and none is applied twice. If
 * the bucket's stream was re-created (new server data), the view is rebuilt.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { produce, reconcile, type SetStoreFunction } from "solid-js/store";
import { bucketStream } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "./connection.js";
import { backoffMs, delay, messageOf } from "./delay.js";
import { type MakeReader, openReader, type Reader, type ReaderSlots } from "./stream-reader.js";
import { openView } from "./views.js";

/**
 * What a watch needs of a connection: a connected client, word of each reconnect, and the
 * JetStream domain its views are in (a launchpad workspace's host; none on plus).
 */
export type ViewSource = Pick<WorkspaceConnection, "ready" | "onReconnect"> & {
  readonly jsDomain?: string;
  readonly readers?: ReaderSlots;
  readonly makeReader?: MakeReader;
};

export interface WatchOptions {
  /**
   * Notice a bucket that was made anew (new server data) and rebuild the view; it reads the
   * stream's info, which a launchpad browser may not (default: only without a JetStream
   * domain, i.e. on plus).
   */
  rebuildCheck?: boolean;
}

export interface KvWatchHandlers {
  /** Forget everything seen so far; entries from a rebuilt bucket follow. */
  reset(): void;
  /** One entry: a PUT, or a DEL/PURGE marker. */
  entry(entry: ViewEntry): void;
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

/** One entry of a view as a watch delivers it: a PUT, or a DEL/PURGE marker. */
export interface ViewEntry {
  key: string;
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  /** Bytes of the value (0 for a marker). */
  length: number;
  json<T>(): T;
  string(): string;
}

function entryOf(bucket: string, m: JsMsg): ViewEntry {
  const op = m.headers?.get("KV-Operation");
  return {
    key: m.subject.slice(`$KV.${bucket}.`.length),
    revision: m.seq,
    operation: op === "DEL" || op === "PURGE" ? op : "PUT",
    length: m.data.length,
    json: <T>() => m.json<T>(),
    string: () => m.string(),
  };
}

/**
 * Watches `key` (may hold wildcards) of `bucket` until the returned function is called: the
 * newest entry of each key, then every change. Read with a pull consumer (lib/stream-reader.ts),
 * so it works wherever the page reads views: on plus, and through the hub on a host.
 */
export function watchKv(
  conn: ViewSource,
  bucket: string,
  key: string,
  handlers: KvWatchHandlers,
  options: WatchOptions = {},
): () => void {
  const stopping = new AbortController();
  let reader: Reader | undefined;
  let lastRevision = 0;
  let streamCreated: string | undefined;

  // After a reconnect the server may have dropped our consumer; start a fresh one at once
  // rather than waiting for missed heartbeats to notice.
  const offReconnect = conn.onReconnect(() => reader?.messages.stop());

  async function openOnce(): Promise<Reader | undefined> {
    const nc = await conn.ready(stopping.signal);
    if (!nc || stopping.signal.aborted) return undefined;
    // A workspace reached on its host through the hub may not read stream info.
    if (options.rebuildCheck ?? conn.jsDomain === undefined) {
      const kv = await openView(nc, bucket, conn.jsDomain);
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
    return openReader(nc, {
      ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
      ...(conn.readers && { slots: conn.readers }),
      ...(conn.makeReader && { make: conn.makeReader }),
      stream: bucketStream(bucket),
      filter: `$KV.${bucket}.${key}`,
      from: lastRevision > 0 ? { seq: lastRevision + 1 } : { lastPerSubject: true },
      prefix: "view",
    });
  }

  async function run() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        reader = await openOnce();
        if (!reader) break;
        if (stopping.signal.aborted) break;
        failures = 0;
        handlers.problem(undefined);
        for await (const m of reader.messages) {
          // A message lost on the way: read on from the last entry applied.
          if (!reader.inOrder(m)) break;
          if (m.seq <= lastRevision) continue;
          lastRevision = m.seq;
          const entry = entryOf(bucket, m);
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
        reader?.release();
        reader = undefined;
      }
      // A clean end still waits a little, so a watch that keeps ending cannot spin.
      await delay(Math.max(100, backoffMs(failures)), stopping.signal);
    }
  }

  void run();

  return () => {
    stopping.abort();
    offReconnect();
    reader?.release();
  };
}
