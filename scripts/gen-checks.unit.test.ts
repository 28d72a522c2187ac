import { readFileSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import { TurnLogEvents, TurnQueued } from "../shared/agents.js";
import { EnvelopeSchema, schemaKey } from "../shared/envelope.js";
import { FileWritten as FsFileWritten } from "../shared/files.js";
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
      expect(compiledChecks[schemaKey(EnvelopeSchema)]!(value)).toBe(
        Value.Check(EnvelopeSchema, value),
      );
    const key = schemaKey(TurnQueued.schema);
    expect(compiledChecks[key]).toBeDefined();
    expect(compiledChecks[key]!({})).toBe(Value.Check(TurnQueued.schema, {}));
  });

  it("two events of one name and version with different schemas get a check each", () => {
    const logged = TurnLogEvents.find((d) => d.type === "FileWritten")!;
    expect(logged.v).toBe(FsFileWritten.v);
    expect(schemaKey(logged.schema)).not.toBe(schemaKey(FsFileWritten.schema));
    expect(compiledChecks[schemaKey(logged.schema)]).toBeDefined();
    expect(compiledChecks[schemaKey(FsFileWritten.schema)]).toBeDefined();
  });
});
