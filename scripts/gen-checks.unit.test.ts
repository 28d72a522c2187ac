import { readFileSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import { TurnQueued } from "../shared/agents.js";
import { EnvelopeSchema } from "../shared/envelope.js";
import { compiledChecks } from "../web/src/generated/event-checks.js";
import { generate, OUT } from "./gen-checks.js";

describe("ahead-of-time event checks", () => {
  it("web/src/generated/event-checks.js is what shared/'s schemas compile to", async () => {
    expect(readFileSync(OUT, "utf8")).toBe(await generate());
  });

  it("agree with TypeBox's own check", () => {
    const good = {
      type: "X",
      v: 1,
      id: "abcdefgh12",
      at: new Date().toISOString(),
      actor: "a",
      data: {},
    };
    for (const value of [
      good,
      { ...good, v: 0 },
      { ...good, extra: 1 },
      null,
      "x",
      { ...good, id: "short" },
    ])
      expect(compiledChecks.envelope!(value)).toBe(Value.Check(EnvelopeSchema, value));
    const key = `${TurnQueued.type}@${TurnQueued.v}`;
    expect(compiledChecks[key]).toBeDefined();
    expect(compiledChecks[key]!({})).toBe(Value.Check(TurnQueued.schema, {}));
  });
});
