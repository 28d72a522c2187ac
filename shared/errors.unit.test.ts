import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CocalcError, ErrorCodes, fromErrorPayload, toErrorPayload } from "./errors.js";

describe("errors", () => {
  it("every code is ERR_<AREA>_<WHAT> and documented in docs/errors.md", () => {
    const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
    for (const [code, { status }] of Object.entries(ErrorCodes)) {
      expect(code).toMatch(/^ERR_[A-Z]+_[A-Z_]+$/);
      expect(doc, code).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    }
  });

  it("round-trips through the wire form", () => {
    const err = new CocalcError("ERR_COMMAND_REJECTED", "no", { why: 1 });
    const back = fromErrorPayload(toErrorPayload(err)) as CocalcError;
    expect(back).toBeInstanceOf(CocalcError);
    expect([back.code, back.status, back.message, back.details]).toEqual([
      "ERR_COMMAND_REJECTED",
      409,
      "no",
      { why: 1 },
    ]);
    expect(toErrorPayload(new TypeError("bug"))).toEqual({ code: "ERR_INTERNAL", message: "bug" });
  });
});
