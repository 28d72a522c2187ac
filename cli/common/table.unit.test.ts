import { describe, expect, it } from "vitest";
import { table } from "./table.js";

describe("table", () => {
  it("aligns columns by their widest cell, without trailing blanks", () => {
    expect(
      table([
        ["ID", "STATUS", "NOTE"],
        ["a-long-id", "ok", ""],
        ["b", "paused", "x"],
      ]),
    ).toBe(["ID         STATUS  NOTE", "a-long-id  ok", "b          paused  x"].join("\n"));
  });

  it("takes a short row and no rows", () => {
    expect(table([["A", "B"], ["x"]])).toBe("A  B\nx");
    expect(table([])).toBe("");
  });
});
