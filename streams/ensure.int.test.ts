import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setup, type TestNats } from "../test/helpers/nats.js";
import { allStreams, type StreamDefinition } from "./definitions.js";
import { ensureStreams } from "./ensure.js";

describe("ensureStreams", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("creates every stream and bucket, and a second run is a no-op", async () => {
    const first = await ensureStreams(t.jsm);
    expect(first.map((r) => r.action)).toEqual(allStreams().map(() => "created"));
    const second = await ensureStreams(t.jsm);
    expect(second.filter((r) => r.action !== "unchanged")).toEqual([]);
    const names: string[] = [];
    for await (const n of t.jsm.streams.names()) names.push(n);
    expect(names.sort()).toEqual(
      allStreams()
        .map((d) => d.name)
        .sort(),
    );
  });

  it("applies a changed definition in place, keeping the data", async () => {
    const defs = allStreams();
    const term = defs.find((d) => d.name === "WS_TERM")!;
    await t.js.publish("ws.w1.term.t1.out", "hello");
    const changed: StreamDefinition[] = defs.map((d) =>
      d === term ? { ...d, maxMsgsPerSubject: 77, description: "changed" } : d,
    );
    const result = await ensureStreams(t.jsm, changed);
    expect(result.find((r) => r.name === "WS_TERM")).toEqual({
      name: "WS_TERM",
      action: "updated",
      changed: ["description", "max_msgs_per_subject"],
    });
    const info = await t.jsm.streams.info("WS_TERM");
    expect(info.config.max_msgs_per_subject).toBe(77);
    expect(info.state.messages).toBe(1);
    expect((await ensureStreams(t.jsm, changed)).every((r) => r.action === "unchanged")).toBe(true);
  });
});

describe("ensureStreams on an older layout", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("a stream that takes over subjects is made once the older stream gave them up; its messages stay there", async () => {
    // Before terminal lifecycle had a stream of its own, WS_TERM held it.
    const term = allStreams().find((d) => d.name === "WS_TERM")!;
    await ensureStreams(t.jsm, [{ ...term, subjects: ["ws.*.term.*.out", "ws.*.term.*.life"] }]);
    await t.js.publish("ws.w1.term.t1.life", "opened");
    const result = await ensureStreams(t.jsm);
    expect(result.find((r) => r.name === "WS_TERM")).toMatchObject({
      action: "updated",
      changed: ["subjects"],
    });
    expect(result.find((r) => r.name === "WS_TERM_LIFE")?.action).toBe("created");
    const old = await t.jsm.streams.getMessage("WS_TERM", { last_by_subj: "ws.w1.term.t1.life" });
    expect(old?.string()).toBe("opened");
    const ack = await t.js.publish("ws.w1.term.t1.life", "new");
    expect(ack.stream).toBe("WS_TERM_LIFE");
  });
});
