import { Kvm } from "@nats-io/kv";
import { Type } from "@sinclair/typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineEvent, EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { consumeEvents } from "./consumer.js";
import { applyToView, type Projection, projectionHandler } from "./projection.js";
import { publishEvent } from "./publish.js";
import type { ServiceDefinition } from "./service.js";
import { Supervisor } from "./supervisor.js";

const Counted = defineEvent("Counted", 1, Type.Object({ n: Type.Integer() }));
const registry = new EventRegistry([Counted]);
type CountedEvent = ReturnType<typeof registry.parse> & { type: "Counted"; data: { n: number } };
const counter: Projection<{ count: number; sum: number }, CountedEvent> = {
  name: "counter",
  bucket: "testcount",
  canHandle: (e): e is CountedEvent => e.type === "Counted",
  key: () => "total",
  evolve: (view, { event }) => ({
    count: (view?.count ?? 0) + 1,
    sum: (view?.sum ?? 0) + event.data.n,
  }),
};
const at = () => new Date().toISOString();

describe("service runtime", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["workspace"] });
    await t.jsm.streams.add({ name: "TESTEV", subjects: ["testev.>"] });
    await new Kvm(t.nc).create("testcount");
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("projection - a redelivered event is not applied twice", async () => {
    const kv = await new Kvm(t.nc).open("testcount");
    const ev = envelope(Counted, { n: 5 }, { actor: "t", at: at() });
    const stored = {
      event: ev,
      seq: 10,
      subject: "testev.a",
      time: at(),
    } as StoredEvent<CountedEvent>;
    expect(await applyToView(kv, counter, stored)).toBe("applied");
    expect(await applyToView(kv, counter, stored)).toBe("skipped");
    expect(await applyToView(kv, counter, { ...stored, seq: 9 })).toBe("skipped");
    expect((await kv.get("total"))?.json()).toEqual({ count: 1, sum: 5, _seq: 10 });
    await kv.purge("total");
  });

  it("consumer - a crash after the view write and before the ack changes nothing twice", async () => {
    for (let i = 1; i <= 20; i++)
      await publishEvent(
        t.js,
        `testev.${i}`,
        envelope(Counted, { n: i }, { actor: "t", at: at() }),
      );
    // An invalid event on the stream is skipped, not fatal.
    await t.js.publish("testev.bad", "{not an event");
    const apply = await projectionHandler(new Kvm(t.nc), [counter]);
    let crashed = false;
    const first = await consumeEvents({
      nc: t.nc,
      js: t.js,
      jsm: t.jsm,
      stream: "TESTEV",
      durable: "counter",
      filterSubject: "testev.>",
      registry,
      log: testLog,
      handle: async (e) => {
        await apply(e);
        if (e.event.data && (e.event.data as { n: number }).n === 7 && !crashed) {
          crashed = true;
          throw new Error("crash after write");
        }
      },
    });
    await expect(first.done).rejects.toThrow("crash after write");
    const second = await consumeEvents({
      nc: t.nc,
      js: t.js,
      jsm: t.jsm,
      stream: "TESTEV",
      durable: "counter",
      filterSubject: "testev.>",
      registry,
      log: testLog,
      handle: apply,
    });
    const kv = await new Kvm(t.nc).open("testcount");
    const view = await until("all 20 counted", async () => {
      const v = (await kv.get("total"))?.json<{ count: number; sum: number }>();
      return v && v.count >= 20 ? v : undefined;
    });
    await until("every event acked", async () => {
      const info = await t.jsm.consumers.info("TESTEV", "counter");
      return info.num_ack_pending === 0 && info.num_pending === 0;
    });
    await second.stop();
    expect(view.count).toBe(20);
    expect(view.sum).toBe(210);
  });

  it("supervisor - a crashed service is restarted and its health shows it", async () => {
    let starts = 0;
    let crash!: (err: Error) => void;
    const flaky: ServiceDefinition = {
      name: "flaky",
      durables: [],
      async start() {
        starts++;
        const done = new Promise<void>((_, reject) => (crash = reject));
        return { done, stop: async () => crash(new Error("stopped")) };
      },
    };
    const supervisor = new Supervisor({
      nc: t.nc,
      wsid: TEST_WSID,
      log: testLog,
      heartbeatMs: 200,
    });
    await supervisor.start([flaky]);
    expect(starts).toBe(1);
    crash(new Error("boom"));
    await until("restart", async () => starts === 2);
    const h = supervisor.health()[0]!;
    expect(h.restarts).toBe(1);
    expect(h.lastError).toBe("boom");
    await until("running again", async () => supervisor.health()[0]!.status === "running");
    await supervisor.stop();
    expect(supervisor.health()[0]!.status).toBe("stopped");
  });
});
