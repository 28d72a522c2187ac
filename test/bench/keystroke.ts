/**
 * Keystroke latency: 10 document clients (each with its own connection, as 10 browser tabs)
 * on one document of a real docs service and nats-server on loopback. One client types a
 * character; the time until each other client has applied it is one sample. Anchor: the
 * same hop without the product (a JetStream publish seen by a consumer on another
 * connection), on the same server.
 */
import { mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, jetstream, StorageType } from "@nats-io/jetstream";
import { docsService } from "../../services/docs/index.js";
import { NodeDoc } from "../../services/docs/test-kit.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { setup, TEST_WSID, testLog } from "../helpers/nats.js";
import { num, percentile, sleep, yesNo } from "./stats.js";

const CLIENTS = 10;
const KEYSTROKES = 300;
const P50_TARGET_MS = 10;
const P99_TARGET_MS = 40;

/** The floor: publish to a stream, received by an ordered consumer on another connection. */
async function anchor(t: Awaited<ReturnType<typeof setup>>, n: number): Promise<number[]> {
  const jsm = t.jsm;
  await jsm.streams.add({ name: "BENCHKEY", subjects: ["benchkey.>"], storage: StorageType.File });
  const other = await t.connect("bench-anchor");
  const consumer = await jetstream(other).consumers.get("BENCHKEY", {
    filter_subjects: "benchkey.doc",
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  const sent = new Map<number, number>();
  const samples: number[] = [];
  let next: (() => void) | undefined;
  void (async () => {
    for await (const m of messages) {
      const i = Number(m.string());
      const at = sent.get(i);
      if (at !== undefined) samples.push(performance.now() - at);
      next?.();
    }
  })();
  const js = jetstream(t.nc);
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((r) => {
      next = r;
    });
    sent.set(i, performance.now());
    await js.publish("benchkey.doc", String(i));
    await got;
    await sleep(5);
  }
  messages.stop();
  return samples;
}

const CONCURRENT_EVERY_MS = 50;
const CONCURRENT_MS = 3000;

/**
 * Everyone types at once: client i types only its own letter, so a receiver knows how many
 * of i's keystrokes it has by counting; each newly arrived keystroke is one sample.
 */
async function concurrent(docs: NodeDoc[]): Promise<number[]> {
  const letter = (i: number) => String.fromCharCode(65 + i);
  const typedAt = docs.map(() => [] as number[]);
  const seen = docs.map(() => docs.map(() => 0));
  const samples: number[] = [];
  docs.forEach((d, r) => {
    d.onPatch = () => {
      const now = performance.now();
      const counts = new Map<string, number>();
      for (const ch of d.text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
      docs.forEach((_, i) => {
        if (i === r) return;
        const have = Math.min(counts.get(letter(i)) ?? 0, typedAt[i]!.length);
        for (let k = seen[r]![i]!; k < have; k++) samples.push(now - typedAt[i]![k]!);
        seen[r]![i] = Math.max(seen[r]![i]!, have);
      });
    };
  });
  const end = performance.now() + CONCURRENT_MS;
  await Promise.all(
    docs.map(async (d, i) => {
      await sleep((i * CONCURRENT_EVERY_MS) / docs.length);
      while (performance.now() < end) {
        typedAt[i]!.push(performance.now());
        await d.edit((s) => `${s}${letter(i)}`);
        await sleep(CONCURRENT_EVERY_MS);
      }
    }),
  );
  for (const d of docs) await d.settled();
  await sleep(300);
  for (const d of docs) d.onPatch = () => undefined;
  return samples;
}

export async function keystrokeBench(): Promise<string> {
  const t = await setup({ streams: true });
  const home = await realpath(await mkdtemp(join(tmpdir(), "cocalc-bench-keys-")));
  const supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 1000 });
  const docs: NodeDoc[] = [];
  try {
    await supervisor.start([docsService({ home })]);
    const path = join(home, "bench.txt");
    await writeFile(path, "keystrokes:\n");
    for (let i = 0; i < CLIENTS; i++) {
      docs.push(await NodeDoc.open(await t.connect(`bench-client-${i}`), TEST_WSID, path));
    }
    for (const d of docs) {
      while (d.text !== "keystrokes:\n") await sleep(10);
    }
    const samples: number[] = [];
    for (let k = 0; k < KEYSTROKES; k++) {
      const typist = docs[k % CLIENTS]!;
      const others = docs.filter((d) => d !== typist);
      const t0 = performance.now();
      const seen = others.map(
        (d) =>
          new Promise<void>((resolve) => {
            d.onPatch = (_seq, client) => {
              if (client === typist.sync.client.client) {
                samples.push(performance.now() - t0);
                d.onPatch = () => undefined;
                resolve();
              }
            };
          }),
      );
      await typist.edit((s) => `${s}${String.fromCharCode(97 + (k % 26))}`);
      await Promise.all(seen);
      await sleep(5);
    }
    const together = await concurrent(docs);
    const final = docs[0]!.text;
    const converged = docs.every((d) => d.text === final);
    const raw = await anchor(t, KEYSTROKES);
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    const a50 = percentile(raw, 50);
    const a99 = percentile(raw, 99);
    console.log(
      `keystroke: ${CLIENTS} clients, ${KEYSTROKES} keystrokes, ${samples.length} samples: p50 ${num(p50, 2)} ms, p99 ${num(p99, 2)} ms`,
    );
    const c50 = percentile(together, 50);
    const c99 = percentile(together, 99);
    console.log(
      `keystroke: all ${CLIENTS} typing at ${1000 / CONCURRENT_EVERY_MS} keys/s each, ${together.length} samples: p50 ${num(c50, 2)} ms, p99 ${num(c99, 2)} ms`,
    );
    console.log(
      `keystroke: anchor (JetStream publish → consumer): p50 ${num(a50, 2)} ms, p99 ${num(a99, 2)} ms`,
    );
    return `keystroke: ratio=${num(p50 / a50, 2)} p50_ms=${num(p50, 2)} p99_ms=${num(p99, 2)} anchor_p50_ms=${num(a50, 2)} anchor_p99_ms=${num(a99, 2)} concurrent_p50_ms=${num(c50, 2)} concurrent_p99_ms=${num(c99, 2)} target_met=${yesNo(p50 <= P50_TARGET_MS && p99 <= P99_TARGET_MS && c50 <= P50_TARGET_MS && c99 <= P99_TARGET_MS)} converged=${yesNo(converged)} clients=${CLIENTS}`;
  } finally {
    for (const d of docs) await d.stop();
    await supervisor.stop();
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  }
}
