import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import type { Command } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { defineEvent, type Envelope, EventRegistry, encodeEvent } from "../../shared/envelope.js";
import { EventRejected, type Rejection } from "../../shared/rejections.js";
import { emptyFold, foldMessages } from "./fold.js";
import type { SubjectMessage } from "./stream-read.js";

const Added = defineEvent("Added", 1, Type.Object({ n: Type.Integer() }));
const registry = new EventRegistry([Added]);
type AddedEvent = { type: "Added"; data: { n: number } };
const sum: Decider<Command, AddedEvent, number> = {
  decide: () => [],
  evolve: (total, e) => total + e.data.n,
  initialState: () => 0,
};

const meta = { id: "event-id-0001", at: "2030-01-01T00:00:00.000Z", actor: "test" };
const message = (seq: number, data: Uint8Array | string): SubjectMessage => ({
  seq,
  data: typeof data === "string" ? new TextEncoder().encode(data) : data,
});
const added = (seq: number, n: number, v = 1) =>
  message(seq, encodeEvent({ type: "Added", v, data: { n }, ...meta } as Envelope));
const rejection = (seq: number, r: Rejection) =>
  message(seq, encodeEvent({ type: EventRejected.type, v: 1, data: r, ...meta }));

describe("fold", () => {
  it("fold - evolves the readable events and keeps the unreadable ones to record", () => {
    const folded = foldMessages(sum, registry, emptyFold(sum), [
      added(1, 2),
      message(2, "garbage{"),
      added(3, 5, 2),
      added(4, 3),
    ]);
    expect(folded.state).toBe(5);
    expect(folded.seq).toBe(4);
    expect(folded.unrecorded).toEqual([
      { seq: 2, error: { code: "ERR_EVENT_INVALID", message: "event is not valid JSON" } },
      {
        seq: 3,
        error: {
          code: "ERR_EVENT_UNKNOWN_TYPE",
          message: "Added v2 is newer than this build (v1)",
        },
      },
    ]);
  });

  it("fold - a recorded rejection is not recorded again, also when folded in two steps", () => {
    const first = foldMessages(sum, registry, emptyFold(sum), [added(1, 1), message(2, "{}")]);
    expect(first.unrecorded.map((r) => r.seq)).toEqual([2]);
    const next = foldMessages(sum, registry, first, [
      rejection(3, first.unrecorded[0]!),
      added(4, 10),
    ]);
    expect(next).toEqual({ state: 11, seq: 4, unrecorded: [] });
  });

  it("fold - a rejection record is not an event of the aggregate", () => {
    const folded = foldMessages(sum, registry, emptyFold(sum), [
      rejection(1, { seq: 7, error: { code: "ERR_EVENT_INVALID", message: "x" } }),
    ]);
    expect(folded).toEqual({ state: 0, seq: 1, unrecorded: [] });
  });
});
