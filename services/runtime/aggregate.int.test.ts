/**
 * The command path with two writers of one aggregate (two processes of a service, or a
 * service and its restarted self): each decides on its cached state first, and a state that
 * moved on meanwhile is decided again on the stream's. No update is lost, and a refusal or a
 * no-op is never said on a stale state.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Type } from "@sinclair/typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Command } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { defineEvent, EventRegistry } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { setup, type TestNats, testLog } from "../../test/helpers/nats.js";
import { AggregateStore, KeyedMutex } from "./aggregate.js";

const Added = defineEvent("Added", 1, Type.Object({ n: Type.Number() }));
type Ev = { type: "Added"; data: { n: number } };
/** add n; take n (refused below zero); reset-to n (nothing when the count is n already). */
type Cmd = Command<"add" | "take" | "set", { n: number }>;

const counter: Decider<Cmd, Ev, number> = {
  initialState: () => 0,
  evolve: (s, e) => s + e.data.n,
  decide(c, s) {
    if (c.type === "take") {
      if (s < c.data.n) throw new CocalcError("ERR_COMMAND_REJECTED", `only ${s} left`);
      return [{ type: "Added", data: { n: -c.data.n } }];
    }
    if (c.type === "set")
      return s === c.data.n ? [] : [{ type: "Added", data: { n: c.data.n - s } }];
    return [{ type: "Added", data: { n: c.data.n } }];
  },
};

const STREAM = "AGGTEST";
const cmd = (type: Cmd["type"], n: number): Cmd => ({
  type,
  data: { n },
  actor: "test",
  at: new Date().toISOString(),
});

describe("aggregate store: two writers of one subject", () => {
  let t: TestNats;
  let a: AggregateStore<Cmd, Ev, number>;
  let b: AggregateStore<Cmd, Ev, number>;
  beforeAll(async () => {
    t = await setup();
    await t.jsm.streams.add({ name: STREAM, subjects: ["aggtest.>"] });
    const store = async () => {
      const nc = await t.connect("writer");
      return new AggregateStore<Cmd, Ev, number>({
        js: jetstream(nc),
        jsm: await jetstreamManager(nc),
        log: testLog,
        stream: STREAM,
        registry: new EventRegistry([Added]),
        events: [Added],
        decider: counter,
      });
    };
    a = await store();
    b = await store();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("an update made on a cached state that moved on is decided again: none is lost", async () => {
    const s = "aggtest.lost";
    expect((await a.execute(s, cmd("add", 1))).state).toBe(1);
    // b writes; a's cache still says 1.
    expect((await b.execute(s, cmd("add", 10))).state).toBe(11);
    expect((await a.execute(s, cmd("add", 100))).state).toBe(111);
    expect((await b.execute(s, cmd("add", 1000))).state).toBe(1111);
    // Side by side, many times (each writer one command at a time, as a service's command
    // server is): every update counts once.
    const one = [new KeyedMutex(), new KeyedMutex()];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        one[i % 2]!.run(s, () => (i % 2 ? a : b).execute(s, cmd("add", 1))),
      ),
    );
    expect((await a.state(s)).state).toBe(1151);
    const info = await t.jsm.streams.info(STREAM, { subjects_filter: s });
    expect(info.state.subjects?.[s]).toBe(44);
  });

  it("a command refused on the cached state but allowed on the stream's is carried out", async () => {
    const s = "aggtest.refuse";
    expect((await a.execute(s, cmd("add", 0))).state).toBe(0);
    await b.execute(s, cmd("add", 5));
    // a's cache says 0 are left; the stream says 5.
    expect((await a.execute(s, cmd("take", 3))).state).toBe(2);
    // Refused on the stream's state: said, nothing stored.
    await b.execute(s, cmd("add", 0));
    await expect(a.execute(s, cmd("take", 3))).rejects.toThrow(/only 2 left/);
    expect((await b.state(s)).state).toBe(2);
  });

  it("a command that is nothing on the cached state but something on the stream's is stored", async () => {
    const s = "aggtest.noop";
    expect((await a.execute(s, cmd("set", 7))).state).toBe(7);
    await b.execute(s, cmd("add", 1));
    // a's cache says 7: set 7 would be nothing; the stream says 8, so it takes one off.
    expect(await a.execute(s, cmd("set", 7))).toMatchObject({
      state: 7,
      seqs: [expect.any(Number)],
    });
    expect((await b.state(s)).state).toBe(7);
  });
});
