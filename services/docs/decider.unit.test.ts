import { describe, expect, it } from "vitest";
import { applyEdits, DocHead, makePatch } from "../../shared/docs.js";
import { CocalcError } from "../../shared/errors.js";
import { decideOutsideChange, decidePatch, decideVersionName, evolveHead } from "./decider.js";

const headOf = (text: string, seq = 1) => new DocHead(text, seq);

describe("docs decider", () => {
  it("given a head, when a client patches the head, then the patch is stored as sent", () => {
    const head = headOf("hello");
    const patch = makePatch("hello", [{ from: 5, to: 5, insert: "!" }]);
    const d = decidePatch(head, { base: 1, patch, client: "cccc", pid: "cccc-1" });
    expect(d.data).toEqual({ patch, source: "user", client: "cccc", pid: "cccc-1" });
    expect(applyEdits(head.text, d.edits)).toBe("hello!");
  });

  it("given patches after its base, when a client patches, then it is rebased onto the head", () => {
    const head = headOf("hello");
    head.apply(2, [{ from: 0, to: 0, insert: ">> " }]);
    const patch = makePatch("hello", [{ from: 5, to: 5, insert: "!" }]);
    const d = decidePatch(head, {
      base: 1,
      patch,
      client: "cccc",
      pid: "cccc-1",
      source: "revert",
    });
    expect(applyEdits(head.text, d.edits)).toBe(">> hello!");
    expect(d.data.source).toBe("revert");
  });

  it("refuses unknown bases and malformed patches", () => {
    const head = headOf("abc");
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err instanceof CocalcError ? err.code : "other";
      }
      return "none";
    };
    const p = makePatch("abc", [{ from: 0, to: 1, insert: "" }]);
    expect(code(() => decidePatch(head, { base: 9, patch: p, client: "cccc", pid: "p1pp" }))).toBe(
      "ERR_DOC_BASE_UNKNOWN",
    );
    expect(
      code(() => decidePatch(head, { base: 1, patch: "@@ x", client: "cccc", pid: "p1pp" })),
    ).toBe("ERR_DOC_PATCH_INVALID");
  });

  it("an outside change keeps unsaved edits, is not doubled, and a returning file wins", () => {
    const head = headOf("line 1\n");
    head.apply(2, [{ from: 0, to: 0, insert: "typed " }]);
    const d = decideOutsideChange(head, "line 1\n", "line 1\nappended\n")!;
    expect(d.data.source).toBe("disk");
    expect(applyEdits(head.text, d.edits)).toBe("typed line 1\nappended\n");
    // What the file already says, or what we wrote, is no change.
    expect(decideOutsideChange(head, "line 1\n", "line 1\n")).toBeUndefined();
    expect(decideOutsideChange(head, "x", head.text)).toBeUndefined();
    // The file was missing and came back: its content wins.
    const back = decideOutsideChange(head, undefined, "new content")!;
    expect(applyEdits(head.text, back.edits)).toBe("new content");
  });

  it("evolve: opened starts a head, patches move it on", () => {
    let head = evolveHead(
      undefined,
      {
        type: "DocumentOpened",
        v: 1,
        id: "abcdefgh",
        at: "2026-01-01T00:00:00.000Z",
        actor: "user",
        data: { path: "/a", text: "ab" },
      },
      5,
    );
    head = evolveHead(
      head,
      {
        type: "DocumentPatched",
        v: 1,
        id: "abcdefgi",
        at: "2026-01-01T00:00:00.000Z",
        actor: "user",
        data: { patch: makePatch("ab", [{ from: 1, to: 1, insert: "X" }]), source: "user" },
      },
      7,
    );
    expect([head.text, head.head]).toEqual(["aXb", 7]);
  });

  it("given a document, when a version is named, then only a kept version of it with a one-line name is", () => {
    const doc = { head: 10, floor: 3, subject: "ws.w.doc.d.patch", shown: "~/a.txt" };
    const code = (seq: number, name: string, stored?: string) => {
      try {
        decideVersionName(doc, { seq, name }, stored);
        return "ok";
      } catch (err) {
        return err instanceof CocalcError ? err.code : "other";
      }
    };
    expect(decideVersionName(doc, { seq: 7, name: "  draft " }, doc.subject)).toEqual({
      seq: 7,
      name: "draft",
    });
    // History's base is kept without a message in the stream.
    expect(code(3, "base")).toBe("ok");
    expect(code(7, "", doc.subject)).toBe("ok");
    expect(code(11, "future", doc.subject)).toBe("ERR_DOC_VERSION");
    expect(code(2, "compacted", doc.subject)).toBe("ERR_DOC_VERSION");
    expect(code(7, "another document's", "ws.w.doc.other.patch")).toBe("ERR_DOC_VERSION");
    expect(code(7, "not in the stream")).toBe("ERR_DOC_VERSION");
    expect(code(7, "a\nb", doc.subject)).toBe("ERR_DOC_VERSION_NAME");
    expect(code(7, "x".repeat(81), doc.subject)).toBe("ERR_DOC_VERSION_NAME");
  });
});
