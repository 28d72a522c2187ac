import { describe, expect, it } from "vitest";
import { makePatch } from "../../shared/docs.js";
import { emptyNotebook, type Notebook, newCell } from "../../shared/notebook.js";
import type { NotebookEvent } from "../../shared/notebook-doc.js";
import { NotebookHead } from "../../shared/notebook-fold.js";
import {
  decideCellPatch,
  decideChange,
  decideOutsideChange,
  identifyCells,
} from "./notebook-decider.js";

function notebook(cells: [string, string][], ids = true): Notebook {
  const nb = emptyNotebook();
  if (!ids) nb.nbformat_minor = 4;
  nb.cells = cells.map(([id, source]) => newCell("code", source, id, ids));
  return nb;
}

/** A head that has stored `events` after the notebook was opened at sequence 1. */
function given(nb: Notebook, events: { type: string; data: unknown }[] = []): NotebookHead {
  const head = new NotebookHead({ path: "/n.ipynb", nb }, 1);
  for (const [i, e] of events.entries()) head.apply(e as NotebookEvent, i + 2);
  return head;
}

const texts = (head: NotebookHead) => head.state.nb.cells.map((c) => `${c.id}:${c.source}`);

function apply(head: NotebookHead, events: { type: string; data: unknown }[]): NotebookHead {
  for (const e of events) head.apply(e as NotebookEvent, head.head + 1);
  return head;
}

describe("notebook decider", () => {
  it("given a patch of another cell after its base, when a client patches a cell, then it is stored as sent", () => {
    const nb = notebook([
      ["a", "one"],
      ["b", "two"],
    ]);
    const head = given(nb, [
      {
        type: "CellPatched",
        data: {
          id: "b",
          patch: makePatch("two", [{ from: 3, to: 3, insert: "!" }]),
          source: "user",
        },
      },
    ]);
    const patch = makePatch("one", [{ from: 0, to: 0, insert: ">" }]);
    const d = decideCellPatch(head, { id: "a", base: 1, patch, client: "cccc-1", pid: "cccc-1-1" });
    expect(d).toEqual({
      type: "CellPatched",
      data: { id: "a", patch, source: "user", client: "cccc-1", pid: "cccc-1-1" },
    });
  });

  it("given a patch of the same cell after its base, when a client patches it, then it is rebased", () => {
    const head = given(notebook([["a", "hello"]]), [
      {
        type: "CellPatched",
        data: {
          id: "a",
          patch: makePatch("hello", [{ from: 0, to: 0, insert: ">> " }]),
          source: "user",
        },
      },
    ]);
    const patch = makePatch("hello", [{ from: 5, to: 5, insert: "!" }]);
    apply(head, [decideCellPatch(head, { id: "a", base: 1, patch, client: "cccc-1", pid: "p-1" })]);
    expect(texts(head)).toEqual(["a:>> hello!"]);
  });

  it("given a split, when a client splits at a position of an older text, then the position is mapped", () => {
    const head = given(notebook([["a", "x = 1\ny = 2"]]), [
      {
        type: "CellPatched",
        data: {
          id: "a",
          patch: makePatch("x = 1\ny = 2", [{ from: 0, to: 0, insert: "# top\n" }]),
          source: "user",
        },
      },
    ]);
    apply(head, decideChange(head, { op: "split", id: "a", base: 1, at: 6, newId: "b" }));
    expect(texts(head)).toEqual(["a:# top\nx = 1\n", "b:y = 2"]);
  });

  it("refuses what cannot be done, changing nothing", () => {
    const head = given(
      notebook([
        ["a", "1"],
        ["b", "2"],
        ["c", "3"],
      ]),
    );
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return "none";
    };
    expect(code(() => decideChange(head, { op: "merge", id: "a", next: "c" }))).toBe(
      "ERR_NOTEBOOK_CHANGE_INVALID",
    );
    expect(code(() => decideChange(head, { op: "move", id: "zz", after: null }))).toBe(
      "ERR_NOTEBOOK_CELL_UNKNOWN",
    );
    expect(
      code(() =>
        decideChange(head, {
          op: "insert",
          after: "a",
          cells: [{ id: "b", cell_type: "code", source: "" }],
        }),
      ),
    ).toBe("ERR_NOTEBOOK_CHANGE_INVALID");
    expect(
      code(() =>
        decideCellPatch(head, { id: "a", base: 99, patch: "", client: "cccc", pid: "pppp" }),
      ),
    ).toBe("ERR_DOC_BASE_UNKNOWN");
    expect(decideChange(head, { op: "move", id: "b", after: "a" })).toEqual([]);
    expect(texts(head)).toEqual(["a:1", "b:2", "c:3"]);
  });

  it("given pages' edits, when the file changes outside, then both are kept cell by cell", () => {
    const before = notebook([
      ["a", "alpha"],
      ["b", "beta"],
      ["c", "gamma"],
      ["d", "delta"],
    ]);
    // Since the file was written: a page edited b and inserted p after a.
    const head = given(structuredClone(before), [
      {
        type: "CellPatched",
        data: {
          id: "b",
          patch: makePatch("beta", [{ from: 4, to: 4, insert: " (page)" }]),
          source: "user",
        },
      },
      {
        type: "CellsInserted",
        data: { after: "a", cells: [newCell("code", "page cell", "p", true)] },
      },
    ]);
    // Outside: b edited at its start, c deleted, d moved to the top, n added at the end.
    const now = notebook([
      ["d", "delta"],
      ["a", "alpha"],
      ["b", "the beta"],
      ["n", "new outside"],
    ]);
    apply(head, decideOutsideChange(head, before, now));
    expect(texts(head)).toEqual([
      "d:delta",
      "a:alpha",
      "p:page cell",
      "b:the beta (page)",
      "n:new outside",
    ]);
  });

  it("given a 4.4 file, cells are matched by their text, and those between as edited", () => {
    const before = notebook(
      [
        ["a", "one"],
        ["b", "two"],
        ["c", "three"],
      ],
      false,
    );
    const now = notebook(
      [
        ["x1", "zero"],
        ["x2", "one"],
        ["x3", "two, edited"],
        ["x4", "three"],
      ],
      false,
    );
    expect(identifyCells(before, now).map((c) => c.id)).toEqual(["x1", "a", "b", "c"]);
  });
});
