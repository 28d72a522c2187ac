import { describe, expect, it } from "vitest";
import { CocalcError } from "./errors.js";
import {
  checkName,
  checkNewName,
  checkRelativePath,
  displayPath,
  expandPath,
  extensionOf,
  fileUrl,
  isInside,
  normalize,
  parentOf,
  pathOfUrl,
} from "./paths.js";

const HOME = "/home/me";

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    return err instanceof CocalcError ? err.code : "bug";
  }
}

describe("paths", () => {
  it("reads a name's extension, lowercased, and none for a dotfile", () => {
    expect(extensionOf("/a/B.PNG")).toBe("png");
    expect(extensionOf("/a.d/notes.tar.gz")).toBe("gz");
    expect(extensionOf("/a.d/Makefile")).toBe("");
    expect(extensionOf("/home/.bashrc")).toBe("");
  });
  it("normalises lexically and never climbs above /", () => {
    expect(normalize("/a//b/./c/../d/")).toBe("/a/b/d");
    expect(normalize("/../../etc")).toBe("/etc");
    expect(parentOf("/")).toBe("/");
    expect(parentOf("/a")).toBe("/");
    expect(isInside("/home/me2", HOME)).toBe(false);
    expect(isInside("/home/me/x", HOME)).toBe(true);
    expect(isInside("/anything", "/")).toBe(true);
  });

  it("expands ~ and relative input, shows home-relative", () => {
    expect(expandPath("~", HOME)).toBe(HOME);
    expect(expandPath("~/a/b", HOME)).toBe("/home/me/a/b");
    expect(expandPath("notes.md", HOME)).toBe("/home/me/notes.md");
    expect(expandPath("/etc/hosts", HOME)).toBe("/etc/hosts");
    expect(expandPath("../x", HOME, "/home/me/src")).toBe("/home/me/x");
    expect(displayPath(HOME, HOME)).toBe("~");
    expect(displayPath("/home/me/a", HOME)).toBe("~/a");
    expect(displayPath("/home/meme", HOME)).toBe("/home/meme");
    expect(codeOf(() => expandPath("a\0b", HOME))).toBe("ERR_FS_PATH");
    expect(codeOf(() => expandPath("", HOME))).toBe("ERR_FS_PATH");
  });

  it("checks names and the relative paths of folder uploads", () => {
    for (const ok of ["a.txt", ".hidden", "ünï code", "x".repeat(255)]) {
      expect(
        codeOf(() => checkName(ok)),
        ok,
      ).toBe("ok");
    }
    for (const bad of ["", ".", "..", "a/b", "a\0b", "é".repeat(128)]) {
      expect(
        codeOf(() => checkName(bad)),
        bad,
      ).toBe("ERR_FS_NAME");
    }
    // A new name also holds no control character and is not only dots; an existing one may.
    const controls = [
      ...Array.from({ length: 0x20 }, (_, c) => String.fromCharCode(c)),
      "\x7f",
      "\x85",
      "\x9f",
      "\u2028",
      "\u2029",
    ];
    for (const c of controls) {
      expect(
        codeOf(() => checkNewName(`a${c}b`)),
        JSON.stringify(c),
      ).toBe("ERR_FS_NAME");
      if (c !== "\0")
        expect(
          codeOf(() => checkName(`a${c}b`)),
          JSON.stringify(c),
        ).toBe("ok");
    }
    for (const bad of ["...", "....", "", ".", "..", "a/b", "x".repeat(256)])
      expect(
        codeOf(() => checkNewName(bad)),
        bad,
      ).toBe("ERR_FS_NAME");
    for (const ok of ["a.txt", ".hidden", "...a", "a...", "ünï code", "日本語.md", "x".repeat(255)])
      expect(
        codeOf(() => checkNewName(ok)),
        ok,
      ).toBe("ok");
    expect(() => checkNewName("a\nb")).toThrow(/U\+000A \(a newline\)/);
    expect(codeOf(() => checkRelativePath("album/a\nb.txt"))).toBe("ERR_FS_NAME");
    expect(codeOf(() => checkRelativePath("a\rb/x.txt"))).toBe("ERR_FS_NAME");
    expect(checkRelativePath("photos/2024/a.jpg")).toEqual(["photos", "2024", "a.jpg"]);
    for (const bad of ["../x", "a/../../x", "/etc/x", "a//b", "a/", "./a"]) {
      expect(
        codeOf(() => checkRelativePath(bad)),
        bad,
      ).not.toBe("ok");
    }
  });

  it("gives each path one URL and reads both forms back", () => {
    const table: [string, string][] = [
      [HOME, "/files/"],
      ["/home/me/src/main.py", "/files/src/main.py"],
      ["/home/me/a b/ü#?.txt", "/files/a%20b/%C3%BC%23%3F.txt"],
      ["/etc/hosts", "/fs/etc/hosts"],
      ["/", "/fs/"],
      ["/home/meme", "/fs/home/meme"],
    ];
    for (const [path, url] of table) {
      expect(fileUrl(path, HOME)).toBe(url);
      expect(pathOfUrl(url, HOME)).toBe(path);
    }
    expect(pathOfUrl("/files", HOME)).toBe(HOME);
    expect(pathOfUrl("/fs/home/me/x", HOME)).toBe("/home/me/x");
    expect(fileUrl("/home/me/x", HOME)).toBe("/files/x");
    // An encoded '/' or '..' is one name, never a way up.
    expect(pathOfUrl("/files/..%2F..%2Fetc", HOME)).toBeUndefined();
    expect(pathOfUrl("/files/%2e%2e/etc", HOME)).toBeUndefined();
    expect(pathOfUrl("/files/%E0%A4%A", HOME)).toBeUndefined();
    expect(pathOfUrl("/settings", HOME)).toBeUndefined();
    expect(pathOfUrl("/filesystem", HOME)).toBeUndefined();
  });
});
