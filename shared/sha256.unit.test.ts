import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256 } from "./sha256.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("sha256", () => {
  it("matches node:crypto on the standard vectors and on every length around block edges", () => {
    expect(hex(sha256(""))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(hex(sha256("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255);
      expect(hex(sha256(bytes)), `length ${n}`).toBe(
        createHash("sha256").update(bytes).digest("hex"),
      );
    }
    expect(hex(sha256("/home/ü/ä b.term"))).toBe(
      createHash("sha256").update("/home/ü/ä b.term", "utf8").digest("hex"),
    );
  });
});
