import { describe, expect, it } from "vitest";
import { smallestK } from "./listing.js";

describe("listing", () => {
  it("smallestK picks the same first rows as a full sort", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const values = Array.from({ length: 5000 }, () => random() % 1000);
    const cmp = (a: number, b: number) => values[a]! - values[b]! || a - b;
    const full = values.map((_, i) => i).sort(cmp);
    for (const k of [0, 1, 10, 300, 5000]) {
      expect(smallestK(values.length, k, cmp)).toEqual(full.slice(0, k));
    }
  });
});
