import { describe, expect, it } from "vitest";
import { appendOutputs } from "../../shared/notebook.js";
import { capOutputs, capShown } from "./kernel-outputs.js";

describe("kernel outputs in a notebook", () => {
  it("kernel outputs - a stream continues the stream before it, as Jupyter writes; others are appended", () => {
    const one = JSON.stringify([{ output_type: "stream", name: "stdout", text: ["a\n", "b"] }]);
    const more = JSON.stringify([
      { output_type: "stream", name: "stdout", text: ["c\n"] },
      { output_type: "stream", name: "stderr", text: ["err\n"] },
      { output_type: "display_data", data: { "text/plain": ["x"] }, metadata: {} },
    ]);
    expect(JSON.parse(appendOutputs(one, more))).toEqual([
      { output_type: "stream", name: "stdout", text: ["a\n", "bc\n"] },
      { output_type: "stream", name: "stderr", text: ["err\n"] },
      { output_type: "display_data", data: { "text/plain": ["x"] }, metadata: {} },
    ]);
  });

  it("kernel outputs - past the cap the oldest outputs and the start of the text go, and the cell says how much", () => {
    const line = "y".repeat(99);
    const big = [
      { output_type: "display_data", data: { "text/plain": ["old"] }, metadata: {} },
      { output_type: "stream", name: "stdout", text: [`${line}\n`.repeat(5000)] },
    ];
    const capped = capOutputs(big, 64 * 1024);
    expect(JSON.stringify(capped).length).toBeLessThanOrEqual(64 * 1024 + 200);
    expect(capped[0]).toMatchObject({ output_type: "stream", name: "stderr" });
    expect((capped[0]!.text as string[])[0]).toMatch(/^\[\d+ bytes of earlier output dropped/);
    expect(capped).toHaveLength(2);
    const kept = (capped[1]!.text as string[]).join("");
    expect(kept.endsWith(`${line}\n`)).toBe(true);
    // Under the cap nothing changes.
    expect(capOutputs(big.slice(0, 1))).toEqual(big.slice(0, 1));
  });

  it("kernel outputs - capped, the displays kept move with their outputs and the dropped ones go", () => {
    const shown = (n: number) => ({
      output_type: "display_data",
      data: { "text/plain": [`${n}`.repeat(400)] },
      metadata: {},
    });
    const list = [shown(0), shown(1), shown(2), shown(3)];
    const displays: [number, string][] = [
      [0, "k/a"],
      [2, "k/b"],
      [3, "k/c"],
    ];
    expect(capShown(list, displays, 100_000).displays).toEqual(displays);
    const capped = capShown(list, displays, 1000);
    // A note, then the last two outputs.
    expect(capped.outputs.slice(1)).toEqual([shown(2), shown(3)]);
    expect(capped.displays).toEqual([
      [1, "k/b"],
      [2, "k/c"],
    ]);
  });
});
