/**
 * Event publishing through publishEvents (envelope + JSON + Nats-Msg-Id) against raw
 * js.publish with the same ack window, on identical file streams of a real nats-server
 * started by the product's launcher; then the throughput of one projection runner.
 */
import { type JetStreamClient, type JetStreamManager, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import { Type } from "@sinclair/typebox";
import { consumeEvents } from "../../services/runtime/consumer.js";
import { type Projection, projectionHandler } from "../../services/runtime/projection.js";
import { publishEvents } from "../../services/runtime/publish.js";
import { defineEvent, type Envelope, EventRegistry, envelope } from "../../shared/envelope.js";
import { setup, testLog } from "../helpers/nats.js";
import { median, num, yesNo } from "./stats.js";

const WINDOW = 256;
const PAYLOAD_BYTES = 128;
const KEYS = 100;
const TARGET = 0.8;
/** Same as the product's streams (streams/definitions.ts), since dedup costs the server work. */
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

const BenchCounted = defineEvent(
  "BenchCounted",
  1,
  Type.Object({ k: Type.String(), pad: Type.String() }),
);
type BenchEvent = Envelope<"BenchCounted", { k: string; pad: string }>;
const registry = new EventRegistry<BenchEvent>([BenchCounted]);

const counter: Projection<{ count: number }, BenchEvent> = {
  name: "bench-counter",
  bucket: "benchcount",
  canHandle: (e): e is BenchEvent => e.type === "BenchCounted",
  key: ({ event }) => event.data.k,
  evolve: (view) => ({ count: (view?.count ?? 0) + 1 }),
};

/** Event data whose JSON is exactly PAYLOAD_BYTES long. */
function data(i: number): { k: string; pad: string } {
  const k = `k${i % KEYS}`;
  const empty = JSON.stringify({ k, pad: "" }).length;
  return { k, pad: "x".repeat(PAYLOAD_BYTES - empty) };
}

function* events(prefix: string, n: number) {
  const at = new Date();
  for (let i = 0; i < n; i++) {
    const d = data(i);
    yield { subject: `${prefix}.${d.k}`, event: envelope(BenchCounted, d, { actor: "bench", at }) };
  }
}

/** The plain way: keep at most `window` publishes unacknowledged, waiting on the oldest. */
async function publishRaw(js: JetStreamClient, n: number, window: number): Promise<void> {
  const payload = new TextEncoder().encode(JSON.stringify(data(0)));
  const inflight: Promise<void>[] = [];
  let failure: { err: unknown } | undefined;
  for (let i = 0; i < n && !failure; i++) {
    inflight.push(
      js.publish(`benchraw.k${i % KEYS}`, payload).then(
        () => undefined,
        (err: unknown) => {
          failure ??= { err };
        },
      ),
    );
    if (inflight.length >= window) await inflight.shift();
  }
  await Promise.all(inflight);
  if (failure) throw failure.err;
}

async function freshStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({
    name,
    subjects: [subject],
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function projectionThroughput(
  t: Awaited<ReturnType<typeof setup>>,
  n: number,
  budgetMs: number,
): Promise<{ eps: number; done: number; seconds: number }> {
  await freshStream(t.jsm, "BENCH_PROJ", "benchproj.>");
  await publishEvents(t.js, events("benchproj", n), WINDOW);
  const kvm = new Kvm(t.nc);
  await kvm.create(counter.bucket, { history: 1, storage: StorageType.File });
  const apply = await projectionHandler(kvm, [counter]);
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => {
    finished = r;
  });
  const t0 = performance.now();
  const running = await consumeEvents({
    nc: t.nc,
    js: t.js,
    jsm: t.jsm,
    stream: "BENCH_PROJ",
    durable: "bench-counter",
    filterSubject: "benchproj.>",
    registry,
    log: testLog,
    handle: async (e) => {
      await apply(e);
      if (++done === n) finished();
    },
  });
  const budget = new Promise<void>((r) => setTimeout(r, budgetMs).unref());
  await Promise.race([all, budget, running.done]);
  const seconds = (performance.now() - t0) / 1000;
  const counted = done;
  await running.stop();

  // A throughput of wrong results is worth nothing: the view must hold every applied event.
  const kv = await kvm.open(counter.bucket);
  let sum = 0;
  for (let k = 0; k < KEYS; k++)
    sum += (await kv.get(`k${k}`))?.json<{ count: number }>().count ?? 0;
  if (sum < counted || sum > done)
    throw new Error(`projection view counts ${sum} events, the handler applied ${counted}`);
  return { eps: counted / seconds, done: counted, seconds };
}

export async function eventsBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const n = quick ? 20_000 : 100_000;
  const runs = quick ? 2 : 5;
  const projN = quick ? 5_000 : 20_000;
  const projBudgetMs = quick ? 20_000 : 60_000;

  const t = await setup({ streams: true });
  try {
    const sample = events("benchev", 1).next().value!;
    const wireOurs = new TextEncoder().encode(JSON.stringify(sample.event)).length;
    console.log(
      `events: ${n} events, ${PAYLOAD_BYTES} B payload (${wireOurs} B as an envelope), window ${WINDOW}, ${runs} alternating runs per side, file streams, nats-server ${t.server.config.binary}`,
    );

    // Warm both paths up (JIT, connection buffers, stream files) before anything counts.
    await freshStream(t.jsm, "BENCH_RAW", "benchraw.>");
    await freshStream(t.jsm, "BENCH_EV", "benchev.>");
    await publishRaw(t.js, 5_000, WINDOW);
    await publishEvents(t.js, events("benchev", 5_000), WINDOW);

    const raw: number[] = [];
    const ours: number[] = [];
    for (let run = 1; run <= runs; run++) {
      await freshStream(t.jsm, "BENCH_RAW", "benchraw.>");
      const rawS = await timed(() => publishRaw(t.js, n, WINDOW));
      raw.push(n / rawS);
      await freshStream(t.jsm, "BENCH_EV", "benchev.>");
      const oursS = await timed(() => publishEvents(t.js, events("benchev", n), WINDOW));
      ours.push(n / oursS);
      const [rawInfo, evInfo] = await Promise.all([
        t.jsm.streams.info("BENCH_RAW"),
        t.jsm.streams.info("BENCH_EV"),
      ]);
      if (rawInfo.state.messages !== n || evInfo.state.messages !== n)
        throw new Error(
          `stream counts ${rawInfo.state.messages} raw / ${evInfo.state.messages} ours, expected ${n} each`,
        );
      console.log(
        `  run ${run}: raw ${num(n / rawS)} msg/s (${num(rawS, 2)} s), publishEvents ${num(n / oursS)} msg/s (${num(oursS, 2)} s)`,
      );
    }
    const rawMed = median(raw);
    const oursMed = median(ours);
    const ratio = oursMed / rawMed;
    console.log(
      `  median: raw ${num(rawMed)} msg/s, publishEvents ${num(oursMed)} msg/s, ratio ${num(ratio, 2)} (target >= ${TARGET}: ${yesNo(ratio >= TARGET)})`,
    );
    for (const s of ["BENCH_RAW", "BENCH_EV"]) await t.jsm.streams.delete(s);

    const proj = await projectionThroughput(t, projN, projBudgetMs);
    console.log(
      `  projection: consumeEvents + projectionHandler, ${KEYS} keys: ${proj.done} of ${projN} events in ${num(proj.seconds, 1)} s = ${num(proj.eps)} events/s${proj.done < projN ? ` (stopped at the ${projBudgetMs / 1000} s budget)` : ""}`,
    );
    return `events: ratio=${num(ratio, 2)} raw_msgs_per_s=${num(rawMed)} ours_msgs_per_s=${num(oursMed)} target_met=${yesNo(ratio >= TARGET)} events=${n} runs=${runs} window=${WINDOW} payload_bytes=${PAYLOAD_BYTES} projection_eps=${num(proj.eps)} projection_events=${proj.done}`;
  } finally {
    await t.cleanup();
  }
}
