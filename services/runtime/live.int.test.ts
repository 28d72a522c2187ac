import { type KV, Kvm } from "@nats-io/kv";
import { Type } from "@sinclair/typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineEvent, type EventOf, envelope, type StoredEvent } from "../../shared/envelope.js";
import { setup, type TestNats } from "../../test/helpers/nats.js";
import { writeLive } from "./live.js";
import { applyToView, type Projection } from "./projection.js";

const Named = defineEvent("Named", 1, Type.Object({ name: Type.String() }));
type NamedEvent = EventOf<typeof Named>;
interface Thing {
  name: string;
  beat?: number;
}

const things: Projection<Thing, NamedEvent> = {
  name: "things",
  bucket: "things",
  canHandle: (e): e is NamedEvent => e.type === "Named",
  key: (e) => e.subject.split(".")[1]!,
  evolve: (view, { event }) => ({ ...view, name: event.data.name }),
};

let seq = 0;
function named(key: string, name: string): StoredEvent<NamedEvent> {
  seq++;
  return {
    event: envelope(Named, { name }, { actor: "t", at: new Date().toISOString() }),
    seq,
    subject: `thing.${key}`,
    time: new Date().toISOString(),
  };
}

describe("live fields", () => {
  let t: TestNats;
  let kv: KV;
  beforeAll(async () => {
    t = await setup();
    kv = await new Kvm(t.nc).create("things");
  });
  afterAll(async () => {
    await t.cleanup();
  });

  const stored = async (key: string) => (await kv.get(key))?.json<Thing & { _seq: number }>();

  it("live - a key the projection has not made is not made", async () => {
    expect(await writeLive<Thing>(kv, "absent", (v) => ({ ...v, beat: 1 }))).toBe("missing");
    expect(await kv.get("absent")).toBeNull();
  });

  it("live - a deleted key is not brought back", async () => {
    await applyToView(kv, things, named("gone", "a"));
    await kv.delete("gone");
    expect(await writeLive<Thing>(kv, "gone", (v) => ({ ...v, beat: 1 }))).toBe("missing");
    expect((await kv.get("gone"))?.operation).toBe("DEL");
  });

  it("live - the field is written beside the projection's value and sequence", async () => {
    await applyToView(kv, things, named("one", "first"));
    const before = await stored("one");
    expect(await writeLive<Thing>(kv, "one", (v) => ({ ...v, beat: 7 }))).toBe("written");
    expect(await stored("one")).toEqual({ name: "first", beat: 7, _seq: before!._seq });
    // The projection's next event still applies, and keeps the live field.
    await applyToView(kv, things, named("one", "second"));
    expect(await stored("one")).toMatchObject({ name: "second", beat: 7 });
  });

  it("live - an unchanged value is not written again", async () => {
    await applyToView(kv, things, named("same", "x"));
    await writeLive<Thing>(kv, "same", (v) => ({ ...v, beat: 1 }));
    const revision = (await kv.get("same"))!.revision;
    expect(await writeLive<Thing>(kv, "same", (v) => ({ ...v, beat: 1 }))).toBe("unchanged");
    expect((await kv.get("same"))!.revision).toBe(revision);
  });

  it("live - a projection write in between is kept: the change is made again on it", async () => {
    await applyToView(kv, things, named("race", "old"));
    // The real bucket, with the projection's next event written just before our first update.
    let raced = false;
    const racing = Object.create(kv, {
      update: {
        value: async (key: string, value: string, revision: number) => {
          if (!raced) {
            raced = true;
            await applyToView(kv, things, named("race", "new"));
          }
          return kv.update(key, value, revision);
        },
      },
    }) as KV;
    const seen: string[] = [];
    const result = await writeLive<Thing>(racing, "race", (v) => {
      seen.push(v.name);
      return { ...v, beat: 99 };
    });
    expect(result).toBe("written");
    expect(seen).toEqual(["old", "new"]);
    expect(await stored("race")).toMatchObject({ name: "new", beat: 99, _seq: seq });
  });
});
