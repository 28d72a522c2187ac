import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CocalcError } from "./errors.js";
import {
  cellOutputs,
  newCell,
  notebookLanguage,
  outputForFile,
  parseNotebook,
  serializeNotebook,
  splitLines,
  withCellType,
  withKernelspec,
} from "./notebook.js";

const FIXTURES = join(import.meta.dirname, "..", "test", "fixtures", "notebooks");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

function invalidMessage(text: string): string {
  try {
    parseNotebook(text);
  } catch (err) {
    expect(err).toBeInstanceOf(CocalcError);
    expect((err as CocalcError).code).toBe("ERR_NOTEBOOK_INVALID");
    return (err as Error).message;
  }
  throw new Error("parsed a broken notebook");
}

describe("notebook files", () => {
  for (const name of readdirSync(FIXTURES).filter((f) => f.endsWith(".ipynb"))) {
    it(`notebook - ${name} round-trips byte for byte`, () => {
      const text = fixture(name);
      expect(serializeNotebook(parseNotebook(text))).toBe(text);
    });
  }

  it("notebook - every output kind is read as the page draws it", () => {
    const nb = parseNotebook(fixture("every-output.ipynb"));
    expect(nb.cells.map((c) => c.cell_type)).toEqual([
      "markdown",
      "code",
      "code",
      "code",
      "code",
      "code",
      "code",
      "raw",
      "code",
    ]);
    expect(nb.cells[0]!.source).toContain("$$\\int_0^1");
    const [stream, result, images, json, plain, error] = nb.cells.slice(1, 7).map(cellOutputs);
    expect(stream).toEqual([
      { output_type: "stream", name: "stdout", text: "hello from stdout\nsecond line\n" },
      { output_type: "stream", name: "stderr", text: "a warning on stderr\n" },
    ]);
    expect(result![0]).toMatchObject({ output_type: "execute_result", execution_count: 2 });
    expect(images!.map((o) => Object.keys((o as { data: object }).data)[0])).toEqual([
      "image/png",
      "image/jpeg",
      "image/svg+xml",
    ]);
    expect((json![0] as { data: Record<string, unknown> }).data["application/json"]).toEqual({
      answer: 42,
      nested: { list: [1, 2, "three"] },
    });
    expect((plain![0] as { data: Record<string, unknown> }).data["text/plain"]).toBe("42");
    expect(error![0]).toMatchObject({ output_type: "error", ename: "ZeroDivisionError" });
    expect(nb.cells[1]!.execution_count).toBe(1);
    expect(nb.cells[8]!.execution_count).toBeNull();
    expect(nb.cells[8]!.source).toBe("");
    expect(notebookLanguage(nb)).toBe("python");
  });

  it("notebook - a 4.4 file gets cell ids in the model only, and stays 4.4 on disk", () => {
    const text = fixture("nbformat-4-4.ipynb");
    const nb = parseNotebook(text);
    expect(nb.nbformat_minor).toBe(4);
    const ids = nb.cells.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(serializeNotebook(nb)).not.toContain('"id"');
    expect(notebookLanguage(nb)).toBe("r");
    // A new cell in a 4.4 notebook has no id in the file either.
    nb.cells.push(newCell("code", "x <- 1", "fresh", false));
    expect(serializeNotebook(nb)).not.toContain('"id"');
  });

  it("notebook - metadata keeps unknown keys, their order and numbers as written", () => {
    const text = fixture("every-output.ipynb");
    const nb = parseNotebook(text);
    expect(nb.metadata).toContain('"threshold":4.0');
    expect(nb.metadata).toContain('"a":[1,2.5,1e-05,null]');
    const odd = parseNotebook(fixture("odd-layout.ipynb"));
    expect(odd.indent).toBe(2);
    expect(odd.newline).toBe(false);
    expect(odd.keys).toEqual(["nbformat", "nbformat_minor", "metadata", "cells", "x-top"]);
    expect(odd.cells[0]!.keys).toContain("attachments");
    expect(odd.cells[0]!.sourceString).toBe(true);
  });

  it("notebook - an edited cell is written as Jupyter writes it", () => {
    const nb = parseNotebook(fixture("every-output.ipynb"));
    nb.cells[5] = { ...nb.cells[5]!, source: "a = 1\nb = 2\n" };
    nb.cells.push(newCell("markdown", "new *cell*", "new-md", true));
    const text = serializeNotebook(nb);
    const root = JSON.parse(text) as { cells: Record<string, unknown>[] };
    expect(root.cells[5]!.source).toEqual(["a = 1\n", "b = 2\n"]);
    expect(root.cells[9]).toEqual({
      cell_type: "markdown",
      id: "new-md",
      metadata: {},
      source: ["new *cell*"],
    });
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain('\n  {\n   "cell_type": "markdown",\n   "id": "new-md"');
    expect(serializeNotebook(parseNotebook(text))).toBe(text);
  });

  it("notebook - a cell changed to markdown loses its outputs; to code gets empty ones", () => {
    const nb = parseNotebook(fixture("every-output.ipynb"));
    const md = withCellType(nb.cells[1]!, "markdown");
    expect(md.outputs).toBeUndefined();
    expect(md.keys).toEqual(["cell_type", "id", "metadata", "source"]);
    const code = withCellType(md, "code");
    expect(code).toMatchObject({ outputs: "[]", execution_count: null });
    expect(code.keys).toEqual([
      "cell_type",
      "execution_count",
      "id",
      "metadata",
      "outputs",
      "source",
    ]);
  });

  it("notebook - lines are split as Python's splitlines keeps them", () => {
    expect(splitLines("")).toEqual([]);
    expect(splitLines("a\nb")).toEqual(["a\n", "b"]);
    expect(splitLines("a\r\nb\rc\n")).toEqual(["a\r\n", "b\r", "c\n"]);
    expect(splitLines("a\u2028b")).toEqual(["a\u2028", "b"]);
    expect(outputForFile({ output_type: "stream", name: "stdout", text: "1\n2\n" })).toEqual({
      output_type: "stream",
      name: "stdout",
      text: ["1\n", "2\n"],
    });
    expect(
      outputForFile({
        output_type: "display_data",
        data: { "text/plain": "a\nb", "application/json": { x: "a\nb" } },
        metadata: {},
      }),
    ).toMatchObject({ data: { "text/plain": ["a\n", "b"], "application/json": { x: "a\nb" } } });
  });

  it("notebook - a broken file is refused with what and where", () => {
    expect(invalidMessage('{\n "cells": [\n  {,\n ]\n}')).toMatch(/not valid JSON at line 3/);
    expect(invalidMessage("[]")).toMatch(/not a JSON object/);
    // Hostile: nesting deep enough to exhaust a recursive parser is an error like any other.
    expect(invalidMessage(`{"metadata": ${"[".repeat(200_000)}`)).toMatch(/not valid JSON/);
    expect(invalidMessage('{"cells": []}')).toMatch(/no nbformat version/);
    expect(invalidMessage('{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}')).toMatch(
      /nbformat 3 notebooks are not supported/,
    );
    const base = { nbformat: 4, nbformat_minor: 5, metadata: {} };
    const nb = (cells: unknown) => JSON.stringify({ ...base, cells });
    expect(invalidMessage(JSON.stringify(base))).toMatch(/no list of cells/);
    expect(invalidMessage(nb([{ cell_type: "python", source: "", metadata: {} }]))).toMatch(
      /cell 1 has an unknown cell_type "python"/,
    );
    expect(invalidMessage(nb([{ cell_type: "code", source: [1], metadata: {} }]))).toMatch(
      /cell 1's source is neither text nor a list of lines/,
    );
    expect(
      invalidMessage(
        nb([
          { id: "a", cell_type: "markdown", source: "", metadata: {} },
          { id: "a", cell_type: "markdown", source: "", metadata: {} },
        ]),
      ),
    ).toMatch(/cell 2 has the id a of an earlier cell/);
    expect(
      invalidMessage(nb([{ id: "a b", cell_type: "markdown", source: "", metadata: {} }])),
    ).toMatch(/invalid id/);
    expect(
      invalidMessage(
        nb([
          {
            id: "a",
            cell_type: "code",
            source: "",
            metadata: {},
            outputs: [{ output_type: "magic" }],
          },
        ]),
      ),
    ).toMatch(/output 1 of cell 1 has an unknown output_type "magic"/);
    expect(
      invalidMessage(
        nb([
          {
            id: "a",
            cell_type: "code",
            source: "",
            metadata: {},
            outputs: [],
            execution_count: -1,
          },
        ]),
      ),
    ).toMatch(/execution_count is not a count/);
  });

  it("notebook - choosing a kernel sets kernelspec and language_info, keeps the rest as written", () => {
    const r = { name: "ir", display_name: "R", language: "R" };
    const m = '{"authors":[1.0],"language_info":{"name":"python","version":"3.11"},"zeta":1e-05}';
    expect(withKernelspec(m, r)).toBe(
      '{"authors":[1.0],"kernelspec":{"display_name":"R","language":"R","name":"ir"},"language_info":{"name":"R"},"zeta":1e-05}',
    );
    // The same language keeps what its kernel wrote of it; unsorted keys get the new one last.
    const py = { name: "py2", display_name: "Python (other)", language: "python" };
    expect(withKernelspec('{"z":1,"language_info":{"name":"python","version":"3.11"}}', py)).toBe(
      '{"z":1,"language_info":{"name":"python","version":"3.11"},"kernelspec":{"display_name":"Python (other)","language":"python","name":"py2"}}',
    );
    expect(withKernelspec(withKernelspec("{}", py), py)).toBe(withKernelspec("{}", py));
  });
});
