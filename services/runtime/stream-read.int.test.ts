import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setup, type TestNats } from "../../test/helpers/nats.js";
import {
  lastSubjectSeq,
  nextSubjectMessage,
  readNewSubjectMessages,
  readSubjectMessages,
} from "./stream-read.js";

describe("stream reads", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
    await t.jsm.streams.add({ name: "READS", subjects: ["reads.>"] });
    // Two subjects interleaved: the one read has 10 messages among 30.
    for (let i = 0; i < 30; i++) await t.js.publish(i % 3 === 0 ? "reads.a" : "reads.b", `m${i}`);
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("readNewSubjectMessages - one by one for a short gap, through a consumer for a long one, as readSubjectMessages", async () => {
    const text = (ms: { seq: number; data: Uint8Array }[]) =>
      ms.map((m) => `${m.seq}:${new TextDecoder().decode(m.data)}`);
    // Ranges end at a message of the subject, as a reader knows from lastSubjectSeq.
    for (const [after, upTo] of [
      [0, 28],
      [1, 28],
      [22, 28],
      [25, 28],
      [4, 13],
      [28, 28],
    ] as const) {
      const want = text(await readSubjectMessages(t.js, "READS", "reads.a", after, upTo));
      expect(
        text(await readNewSubjectMessages(t.js, t.jsm, "READS", "reads.a", after, upTo)),
      ).toEqual(want);
      // With the first message asked for beforehand, as the command path does.
      const first = nextSubjectMessage(t.jsm, "READS", "reads.a", after);
      expect(
        text(await readNewSubjectMessages(t.js, t.jsm, "READS", "reads.a", after, upTo, first)),
      ).toEqual(want);
    }
    expect(text(await readNewSubjectMessages(t.js, t.jsm, "READS", "reads.a", 22, 28))).toEqual([
      "25:m24",
      "28:m27",
    ]);
  });

  it("readNewSubjectMessages - a first message asked for before the subject moved on is asked again", async () => {
    const subject = "reads.later";
    // Nothing there yet: asked, it says so (null), it does not throw.
    const first = nextSubjectMessage(t.jsm, "READS", subject, 0);
    expect(await first).toBeNull();
    await t.js.publish(subject, "new");
    const upTo = await lastSubjectSeq(t.jsm, "READS", subject);
    const read = await readNewSubjectMessages(t.js, t.jsm, "READS", subject, 0, upTo, first);
    expect(read.map((m) => new TextDecoder().decode(m.data))).toEqual(["new"]);
  });
});
