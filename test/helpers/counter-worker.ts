/**
 * A service process for crash tests: projects `Counted` events of stream TESTEV into the
 * `testcount` view, slowly, until it is killed. Reads NATS_URL and the seed from stdin.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Type } from "@sinclair/typebox";
import pino from "pino";
import { connectServices } from "../../services/runtime/connect.js";
import { consumeEvents } from "../../services/runtime/consumer.js";
import { type Projection, projectionHandler } from "../../services/runtime/projection.js";
import { defineEvent, EventRegistry } from "../../shared/envelope.js";

export const Counted = defineEvent("Counted", 1, Type.Object({ n: Type.Integer() }));
const registry = new EventRegistry([Counted]);

const counter: Projection<{ count: number; sum: number }> = {
  name: "counter",
  bucket: "testcount",
  canHandle: (e): e is never => e.type === "Counted",
  key: () => "total",
  evolve: (view, { event }) => ({
    count: (view?.count ?? 0) + 1,
    sum: (view?.sum ?? 0) + (event.data as { n: number }).n,
  }),
};

async function main() {
  let seed = "";
  for await (const chunk of process.stdin) seed += chunk;
  const nc = await connectServices(
    { url: process.env.NATS_URL!, seed: seed.trim() },
    "counter-worker",
  );
  const apply = await projectionHandler(new Kvm(nc), [counter]);
  await consumeEvents({
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    stream: "TESTEV",
    durable: "counter",
    filterSubject: "testev.>",
    registry,
    log: pino({ level: "silent" }),
    handle: async (e) => {
      await apply(e);
      await new Promise((r) => setTimeout(r, 1));
    },
  });
  process.stdout.write("consuming\n");
  // Never outlive the test that started us.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500);
}

void main();
