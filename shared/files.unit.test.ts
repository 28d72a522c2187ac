import { describe, expect, it } from "vitest";
import type { CocalcError } from "./errors.js";
import { compareNames, entryComparator, nextFreeName, parseFsRequest } from "./files.js";

describe("files", () => {
  it("sorts names naturally and case-insensitively, with a total order", () => {
    const names = ["file10", "File2", "file1", "a", "B", "file01", "_x", "file2", "é"];
    expect([...names].sort(compareNames)).toEqual([
      "_x",
      "a",
      "B",
      "file01",
      "file1",
      "File2",
      "file2",
      "file10",
      "é",
    ]);
    expect(compareNames("x", "x")).toBe(0);
    const dirsFirst = entryComparator("name", true);
    const entries = [
      { name: "b", isDir: false },
      { name: "a", isDir: false },
      { name: "z", isDir: true },
    ];
    expect(entries.sort(dirsFirst).map((e) => e.name)).toEqual(["z", "b", "a"]);
  });

  it("finds free names for copies and kept-both uploads", () => {
    const taken = new Set(["a.txt", "a (1).txt", "a (copy).txt"]);
    expect(nextFreeName("a.txt", (n) => taken.has(n))).toBe("a (2).txt");
    expect(nextFreeName("a.txt", (n) => taken.has(n), " (copy)")).toBe("a (copy 2).txt");
    expect(nextFreeName("dir", (n) => n === "dir")).toBe("dir (1)");
    expect(nextFreeName(".bashrc", (n) => n === ".bashrc")).toBe(".bashrc (1)");
    expect(nextFreeName("new.txt", () => false)).toBe("new.txt");
  });

  it("validates requests at the edge", () => {
    expect(parseFsRequest(JSON.stringify({ op: "stat", path: "~/x" }))).toEqual({
      op: "stat",
      path: "~/x",
    });
    for (const bad of [
      "nope",
      "null",
      JSON.stringify({ op: "toString" }),
      JSON.stringify({ op: "stat" }),
      JSON.stringify({ op: "stat", path: "" }),
      JSON.stringify({ op: "delete", paths: [] }),
      JSON.stringify({ op: "watch", path: "/", client: "short" }),
    ]) {
      try {
        parseFsRequest(bad);
        expect.unreachable(bad);
      } catch (err) {
        expect((err as CocalcError).code, bad).toBe("ERR_FS_REQUEST");
      }
    }
  });
});
