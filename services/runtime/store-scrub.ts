/**
 * Finds messages of a stream that its store can no longer read. Garbage inside a block file
 * leaves nats-server 2.9.10 restoring the stream with its count unchanged while one sequence
 * reads as nothing; a consumer skips it in silence. The scrub reads every message of every
 * stream once (an ordered consumer, in batches) and reports each sequence that is neither read
 * nor among the stream's deleted ones (limits, per-subject caps and deletes make those).
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { StoreLoss } from "../../shared/health.js";
import type { Logger } from "./logger.js";

/** Sequences of `stream` between its first and last that are not deleted and cannot be read. */
export async function unreadableMessages(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  signal?: AbortSignal,
): Promise<number[]> {
  const info = await jsm.streams.info(stream, { deleted_details: true });
  const { first_seq: first, last_seq: last, messages } = info.state;
  if (messages === 0 || last < first) return [];
  const deleted = new Set(info.state.deleted ?? []);
  const read = new Set<number>();
  const consumer = await js.consumers.get(stream, { opt_start_seq: first });
  try {
    let done = false;
    while (!done && !signal?.aborted) {
      const batch = await consumer.fetch({ max_messages: 512, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        read.add(m.seq);
        if (m.seq >= last || m.info.pending === 0) done = true;
      }
      if (got === 0) done = true;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  const missing: number[] = [];
  for (let seq = first; seq <= last; seq++)
    if (!read.has(seq) && !deleted.has(seq)) missing.push(seq);
  return missing;
}

/** Consecutive sequences as ranges: [3,4,5,9] -> [[3,5],[9,9]]. */
function ranges(seqs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of seqs) {
    const lastRange = out.at(-1);
    if (lastRange && lastRange[1] === s - 1) lastRange[1] = s;
    else out.push([s, s]);
  }
  return out;
}

/** Scrubs every stream (KV buckets included), one at a time; `report` gets each damage found. */
export async function scrubStore(o: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  report(loss: StoreLoss): void;
  now?: () => Date;
  /** Stops the scrub (plus stopping): what was not read yet is not judged. */
  signal?: AbortSignal;
}): Promise<StoreLoss[]> {
  const found: StoreLoss[] = [];
  for await (const s of o.jsm.streams.list()) {
    if (o.signal?.aborted) break;
    const stream = s.config.name;
    let missing: number[];
    try {
      missing = await unreadableMessages(o.js, o.jsm, stream, o.signal);
      if (o.signal?.aborted) break;
    } catch (err) {
      o.log.warn({ err, stream }, "stream not scrubbed");
      continue;
    }
    const { last_seq: lastSeq } = s.state;
    for (const [from, to] of ranges(missing)) {
      const loss: StoreLoss = {
        kind: "unreadable",
        stream,
        durable: "",
        lastSeq,
        from,
        to,
        at: (o.now?.() ?? new Date()).toISOString(),
      };
      o.log.error(
        { ...loss },
        `events ${from}..${to} of stream ${stream} cannot be read (its store is damaged): consumers skip them`,
      );
      found.push(loss);
      o.report(loss);
    }
  }
  return found;
}
