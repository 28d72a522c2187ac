import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { defineEvent, EventRegistry, envelope } from "./envelope.js";
import { CocalcError } from "./errors.js";

const Renamed = defineEvent(
  "ThingRenamed",
  2,
  Type.Object(
    { name: Type.String({ minLength: 1 }), by: Type.String() },
    { additionalProperties: false },
  ),
  {
    1: (d) => ({ name: (d as { title: string }).title, by: "unknown" }),
  },
);
const registry = new EventRegistry([Renamed]);
const at = "2026-01-02T03:04:05.000Z";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CocalcError);
    return (err as CocalcError).code;
  }
  return "none";
}

describe("envelope", () => {
  it("accepts a valid event and attaches nothing to data", () => {
    const e = envelope(Renamed, { name: "a", by: "me" }, { actor: "me", at });
    expect(registry.parse(JSON.stringify(e))).toEqual(e);
    expect(e.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("upgrades old versions on read", () => {
    const old = {
      type: "ThingRenamed",
      v: 1,
      id: "abcdefgh12",
      at,
      actor: "x",
      data: { title: "T" },
    };
    expect(registry.parse(old)).toEqual({ ...old, v: 2, data: { name: "T", by: "unknown" } });
  });

  it("rejects invalid events with a reason", () => {
    const good = envelope(Renamed, { name: "a", by: "me" }, { actor: "me", at });
    expect(code(() => registry.parse("{not json"))).toBe("ERR_EVENT_INVALID");
    expect(code(() => registry.parse({ ...good, extra: 1 }))).toBe("ERR_EVENT_INVALID");
    expect(code(() => registry.parse({ ...good, id: "x" }))).toBe("ERR_EVENT_INVALID");
    expect(code(() => registry.parse({ ...good, at: "yesterday-ish-but-long-enough" }))).toBe(
      "ERR_EVENT_INVALID",
    );
    expect(code(() => registry.parse({ ...good, data: { name: "", by: "me" } }))).toBe(
      "ERR_EVENT_INVALID",
    );
    expect(code(() => registry.parse({ ...good, type: "Unknown" }))).toBe("ERR_EVENT_UNKNOWN_TYPE");
    expect(code(() => registry.parse({ ...good, v: 3 }))).toBe("ERR_EVENT_UNKNOWN_TYPE");
    expect(code(() => registry.check({ ...good, v: 1 }))).toBe("ERR_EVENT_INVALID");
    try {
      registry.parse({ ...good, data: { name: 5, by: "me" } });
    } catch (err) {
      expect((err as Error).message).toMatch(/\/name/);
    }
  });

  it("refuses a definition without upgraders for old versions", () => {
    expect(() => defineEvent("X", 3, Type.Object({}), { 1: (d) => d })).toThrow(/v2/);
  });
});
