import { describe, expect, it } from "vitest";
import { errorCode } from "../test/helpers/errors.js";
import { sessionIdOf } from "./remote.js";
import { checkNotNested, normalizeRoot, pairIdFor, sessionIdOfPair } from "./sync.js";

describe("sync - roots", () => {
  it("relative to home by default, ~/ means home, absolute paths need the opt-in", () => {
    expect(normalizeRoot("proj")).toBe("proj");
    expect(normalizeRoot("~/proj/")).toBe("proj");
    expect(normalizeRoot("./a//b/.")).toBe("a/b");
    expect(normalizeRoot("/home/me/proj", { home: "/home/me" })).toBe("proj");
    expect(errorCode(() => normalizeRoot("/etc"))).toBe("ERR_SYNC_PATH");
    expect(normalizeRoot("/srv/data/", { outsideHome: true })).toBe("/srv/data");
    for (const bad of ["", "~", "a/../b", "~bob/x", "/", "a\0b"]) {
      expect(
        errorCode(() => normalizeRoot(bad, { outsideHome: true })),
        bad,
      ).toBe("ERR_SYNC_PATH");
    }
  });

  it("refuses pairs inside, around or equal to another, with the reason", () => {
    const others = [{ pair: "p1", session: "a@h", local: "proj", remote: "proj" }];
    expect(
      errorCode(() => checkNotNested({ session: "a@h", local: "proj/sub", remote: "x" }, others)),
    ).toBe("ERR_SYNC_NESTED");
    expect(
      errorCode(() => checkNotNested({ session: "b@h", local: "w", remote: "proj" }, others)),
    ).toBe(undefined);
    expect(
      errorCode(() => checkNotNested({ session: "a@h", local: "w", remote: "proj/x" }, others)),
    ).toBe("ERR_SYNC_NESTED");
    expect(() => checkNotNested({ session: "a@h", local: ".", remote: "x" }, [])).not.toThrow();
    expect(() =>
      checkNotNested({ session: "z", local: "pro", remote: "pro" }, others),
    ).not.toThrow();
    try {
      checkNotNested({ session: "z", local: "", remote: "" }, others);
    } catch (err) {
      expect((err as Error).message).toMatch(/contains ~\/proj/);
    }
  });

  it("pair ids", () => {
    expect(pairIdFor("a@h", "proj")).toMatch(/^p[A-Za-z0-9_-]{22}s[A-Za-z0-9_-]+$/);
    expect(sessionIdOfPair(pairIdFor("a@h", "proj"))).toBe(sessionIdOf("a@h"));
    expect(pairIdFor("a@h", "proj")).not.toBe(pairIdFor("a@h", "proj2"));
  });
});
