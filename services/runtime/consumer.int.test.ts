import { AckPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { Type } from "@sinclair/typebox";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineEvent, EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { setup, type TestNats, until } from "../../test/helpers/nats.js";
import { consumeEvents, type DurableSpec, ensureDurable } from "./consumer.js";
import { publishEvent } from "./publish.js";

const Counted = defineEvent("Counted", 1, Type.Object({ n: Type.Integer() }));
const registry = new EventRegistry([Counted]);
const SPEC: DurableSpec = { stream: "RESTORE", durable: "restorer", filterSubject: "restore.>" };

/** A logger whose warnings the test reads. */
function recordingLog() {
  const lines: { msg: string; changed?: string[]; from?: number }[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe("service durables", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
    await t.jsm.streams.add({ name: SPEC.stream, subjects: ["restore.>"] });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  const config = async () => (await t.jsm.consumers.info(SPEC.stream, SPEC.durable)).config;

  /** What a browser could do before it was refused: the legacy create, the name in the body. */
  async function rewriteBehindTheBack(filter: string) {
    // What cannot be updated stays (a re-created durable starts at a sequence).
    const { deliver_policy, opt_start_seq } = await config();
    const r = await t.nc.request(
      `$JS.API.CONSUMER.CREATE.${SPEC.stream}`,
      JSON.stringify({
        stream_name: SPEC.stream,
        config: {
          name: SPEC.durable,
          filter_subject: filter,
          ack_policy: AckPolicy.Explicit,
          deliver_policy,
          opt_start_seq,
          ack_wait: nanos(1),
          max_deliver: 1,
          inactive_threshold: nanos(3_600_000),
        },
      }),
    );
    expect(r.json<{ error?: unknown }>().error).toBeUndefined();
    const c = await config();
    expect(c.durable_name).toBeUndefined();
    expect(c.filter_subject).toBe(filter);
  }

  const publish = (n: number) =>
    publishEvent(
      t.js,
      `restore.${n}`,
      envelope(Counted, { n }, { actor: "t", at: new Date().toISOString() }),
    );

  const seen: number[] = [];
  const consume = (log: pino.Logger) =>
    consumeEvents({
      ...t,
      ...SPEC,
      registry,
      log,
      handle: async (e: StoredEvent) => {
        seen.push((e.event.data as { n: number }).n);
      },
    });

  it("durables - a durable changed behind the service's back is restored at start and after a reconnect, and says so", async () => {
    const { log, lines } = recordingLog();
    expect(await ensureDurable(t.jsm, SPEC, log)).toBe("created");
    expect(await ensureDurable(t.jsm, SPEC, log)).toBe("unchanged");
    const want = await config();

    // While the service is away: restored in place at its start.
    await rewriteBehindTheBack(SPEC.filterSubject);
    const first = await consume(log);
    expect(await config()).toEqual(want);
    expect(lines).toMatchObject([
      {
        msg: "durable consumer had been changed by someone else: restored its configuration",
        changed: [
          "durable_name",
          "ack_wait",
          "max_ack_pending",
          "max_deliver",
          "inactive_threshold",
        ],
      },
    ]);
    await publish(1);
    await until("the first event handled", async () => seen.includes(1));

    // While it runs, and nats-server restarts: the reconnect finds the filter changed, which
    // only a re-create undoes, after which the consumer ends so that the service starts again.
    await rewriteBehindTheBack("restore.nothing");
    const restarted = new Promise<void>((r) => t.server.once("restarted", () => r()));
    process.kill(t.server.pid!, "SIGKILL");
    await restarted;
    await expect(first.done).rejects.toThrow(/recreated after a reconnect/);
    // It starts after what the old one had acknowledged (a kill -9 may lose the newest ack:
    // then an event is handled twice, never missed).
    expect(lines[1]).toMatchObject({
      changed: expect.arrayContaining(["filter_subject", "durable_name"]),
      from: expect.any(Number),
    });
    expect(await config()).toMatchObject({
      durable_name: SPEC.durable,
      filter_subject: SPEC.filterSubject,
      ack_wait: want.ack_wait,
      max_deliver: -1,
      max_ack_pending: 1,
    });
    expect((await config()).inactive_threshold).toBeUndefined();
    const second = await consume(log);
    await publish(2);
    await until("an event after the reconnect handled", async () => seen.includes(2));
    await second.stop();
    expect([...new Set(seen)]).toEqual([1, 2]);
  });

  // Goes on from where the first test left the durable.
  it("durables - one that only a re-create can restore starts after what it had acknowledged", async () => {
    const { log, lines } = recordingLog();
    const acked = await until("the events so far acknowledged", async () => {
      const floor = (await t.jsm.consumers.info(SPEC.stream, SPEC.durable)).ack_floor.stream_seq;
      return floor === 2 ? floor : undefined;
    });
    await rewriteBehindTheBack("restore.nothing");
    await publish(3);
    const before = seen.length;
    const running = await consume(log);
    expect(lines).toMatchObject([
      { changed: expect.arrayContaining(["filter_subject"]), from: acked + 1 },
    ]);
    await until("the newer event handled", async () => seen.includes(3));
    expect(await ensureDurable(t.jsm, SPEC, log)).toBe("unchanged");
    await running.stop();
    expect(seen.slice(before)).toEqual([3]);
  });
});
