import { describe, expect, it } from "vitest";
import { formatMode, formatSize, formatTime, reasonOf, visibleName } from "./format.js";

describe("explorer formatting", () => {
  it("names with control characters show them", () => {
    expect(visibleName("a\nb")).toBe("a\u240ab");
    expect(visibleName("tab\there")).toBe("tab\u2409here");
    expect(visibleName("x\x7f\x85\u2028")).toBe("x\u2421\\u{85}\\u{2028}");
    expect(visibleName("plain ünï 日本.txt")).toBe("plain ünï 日本.txt");
  });

  it("sizes", () => {
    expect(formatSize(0)).toBe("0 B");
    expect(formatSize(999)).toBe("999 B");
    expect(formatSize(1024)).toBe("1.0 KB");
    expect(formatSize(12 * 1024)).toBe("12 KB");
    expect(formatSize(1.5 * 1024 ** 3)).toBe("1.5 GB");
    expect(formatSize(-1)).toBe("");
  });
  it("times", () => {
    const now = new Date(2025, 10, 22, 15, 0).getTime();
    expect(formatTime(new Date(2025, 10, 22, 14, 3).getTime(), now)).toBe("14:03");
    expect(formatTime(new Date(2025, 0, 2, 9, 5).getTime(), now)).toBe("Jan 2, 09:05");
    expect(formatTime(new Date(2023, 10, 22).getTime(), now)).toBe("2023-11-22");
    expect(formatTime(0, now)).toBe("");
  });
  it("modes", () => {
    expect(formatMode(0o755)).toBe("rwxr-xr-x");
    expect(formatMode(0o640)).toBe("rw-r-----");
  });
  it("reasons", () => {
    expect(reasonOf("cannot open ~/a b: permission denied")).toBe("Permission denied");
    expect(reasonOf("cannot read /x: no such file or directory")).toBe("No such file or directory");
    expect(reasonOf("the fs service did not answer in time")).toBe(
      "The fs service did not answer in time",
    );
  });
});
