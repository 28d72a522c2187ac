import { describe, expect, it } from "vitest";
import { ansiRuns } from "./ansi.js";

describe("ansi", () => {
  it("ansi - colours and resets become runs, other sequences are dropped", () => {
    expect(ansiRuns("\u001b[0;31mError\u001b[0m: x\u001b[2K")).toEqual([
      { text: "Error", fg: "#c9302c" },
      { text: ": x" },
    ]);
    expect(ansiRuns("\u001b[38;5;241m1\u001b[39m/")).toEqual([
      { text: "1", fg: "rgb(98, 98, 98)" },
      { text: "/" },
    ]);
    expect(ansiRuns("\u001b[1;4mb\u001b[22mu")).toEqual([
      { text: "b", bold: true, underline: true },
      { text: "u", bold: false, underline: true },
    ]);
  });
});
