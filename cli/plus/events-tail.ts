/** `cocalc-plus events tail`: prints events as they arrive, for people without the nats CLI. */
import {
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type OrderedConsumerOptions,
} from "@nats-io/jetstream";
import { UsageError } from "../common/usage.js";
import { connectPlus } from "./client.js";

/** `--since`: a stream sequence, an ISO time, or a duration back from now (30s, 10m, 2h, 1d). */
export function parseSince(since: string, now = Date.now()): { seq: number } | { time: Date } {
  if (/^\d+$/.test(since)) return { seq: Number(since) };
  const rel = /^(\d+)(s|m|h|d)$/.exec(since);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      rel[2] as "s" | "m" | "h" | "d"
    ];
    return { time: new Date(now - Number(rel[1]) * unit) };
  }
  const t = Date.parse(since);
  if (Number.isNaN(t))
    throw new UsageError(
      `--since takes a sequence number, a time (2026-01-02T03:04:05Z) or a duration (10m), not ${JSON.stringify(since)}`,
    );
  return { time: new Date(t) };
}

async function streamsFor(jsm: JetStreamManager, subject: string | undefined): Promise<string[]> {
  if (subject) return [await jsm.streams.find(subject)];
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (!name.startsWith("KV_")) names.push(name);
  return names.sort();
}

export async function eventsTail(
  dataDir: string,
  subject: string | undefined,
  since: string | undefined,
  out = process.stdout,
): Promise<void> {
  const start = since === undefined ? undefined : parseSince(since);
  const { nc } = await connectPlus(dataDir, "cocalc-plus events tail");
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let streams: string[];
  try {
    streams = await streamsFor(jsm, subject);
  } catch {
    await nc.close();
    throw new Error(`no stream stores ${subject}`);
  }
  const stop = () => void nc.close();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await Promise.all(
    streams.map(async (stream) => {
      const opts: Partial<OrderedConsumerOptions> = {
        ...(subject !== undefined && { filter_subjects: subject }),
        ...(start === undefined
          ? { deliver_policy: DeliverPolicy.New }
          : "seq" in start
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.seq }
            : {
                deliver_policy: DeliverPolicy.StartTime,
                opt_start_time: start.time.toISOString(),
              }),
      };
      const consumer = await js.consumers.get(stream, opts);
      const messages = await consumer.consume();
      nc.closed().then(() => messages.stop());
      for await (const m of messages) {
        const time = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
        let line: string;
        try {
          const e = m.json<{ type: string; v: number; actor: string; data: unknown }>();
          line = `${stream}#${m.seq} ${time} ${m.subject} ${e.type} v${e.v} ${e.actor} ${JSON.stringify(e.data)}`;
        } catch {
          line = `${stream}#${m.seq} ${time} ${m.subject} (not JSON, ${m.data.length} bytes)`;
        }
        out.write(`${line}\n`);
      }
    }),
  );
}
