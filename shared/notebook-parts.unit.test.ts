import { describe, expect, it } from "vitest";
import { bigNotebook } from "../test/helpers/big-notebook.js";
import { envelope } from "./envelope.js";
import { parseNotebook, serializeNotebook } from "./notebook.js";
import {
  CellsInserted,
  NOTEBOOK_EVENT_MAX_BYTES,
  type NotebookEvent,
  NotebookOpened,
  type NotebookStreamEvent,
  OutputsSet,
} from "./notebook-doc.js";
import {
  NotebookPartJoiner,
  splitForJson,
  splitNotebookEvent,
  utf8Bytes,
} from "./notebook-parts.js";

const meta = { actor: "user", at: "2024-01-01T00:00:00.000Z" };

function joinAll(events: NotebookStreamEvent[]): NotebookEvent[] {
  const j = new NotebookPartJoiner();
  return events.map((e) => j.push(e)).filter((e): e is NotebookEvent => e !== undefined);
}

describe("notebook events in parts", () => {
  it("parts - a small event is one message, as it is", () => {
    const ev = envelope(OutputsSet, { id: "a", outputs: "[]", execution_count: 1 }, meta);
    expect(splitNotebookEvent(ev, 7)).toEqual([ev]);
  });

  it("parts - a 5 MiB notebook opened is parts under the limit that join to the same event", () => {
    const text = bigNotebook({ cells: 20, imageBytes: 190_000, hugeImageBytes: 700_000 });
    expect(text.length).toBeGreaterThan(5 * 1024 * 1024);
    const nb = parseNotebook(text);
    expect(serializeNotebook(nb)).toBe(text);
    const ev = envelope(NotebookOpened, { path: "/home/a.ipynb", notebook: nb }, meta);
    const parts = splitNotebookEvent(ev, 0);
    expect(parts.length).toBeGreaterThan(20);
    for (const p of parts)
      expect(utf8Bytes(JSON.stringify(p))).toBeLessThanOrEqual(NOTEBOOK_EVENT_MAX_BYTES);
    const last = parts.at(-1)!;
    expect(last.type === "NotebookPartStored" && last.data).toMatchObject({
      of: "NotebookOpened",
      path: "/home/a.ipynb",
      cells: 22,
    });
    const [whole] = joinAll(parts);
    expect(JSON.stringify(whole) === JSON.stringify(ev)).toBe(true);
    expect(serializeNotebook((whole as typeof ev).data.notebook)).toBe(text);
  });

  it("parts - text that escapes and is not ASCII is cut at whole characters within the limit", () => {
    const text = '"\\\n\u0001é漢😀'.repeat(5000);
    const pieces = splitForJson(text, 1000);
    expect(pieces.join("")).toBe(text);
    for (const p of pieces) expect(utf8Bytes(JSON.stringify(p))).toBeLessThanOrEqual(1000);
    const cells = [
      { id: "x", cell_type: "markdown" as const, source: text, metadata: "{}", keys: [] },
    ];
    const ev = envelope(CellsInserted, { after: null, cells }, meta);
    const parts = splitNotebookEvent(ev, 3, 16 * 1024);
    expect(parts.length).toBeGreaterThan(4);
    expect(joinAll(parts)).toEqual([ev]);
  });

  it("parts - a run left unfinished is dropped; the events after it stay", () => {
    const big = "x".repeat(600_000);
    const a = envelope(OutputsSet, { id: "a", outputs: `["${big}"]`, execution_count: 1 }, meta);
    const b = envelope(OutputsSet, { id: "b", outputs: "[]", execution_count: null }, meta);
    const parts = splitNotebookEvent(a, 1);
    const again = splitNotebookEvent(a, 9);
    // Each attempt's parts have ids of their own.
    expect(new Set([...parts, ...again].map((p) => p.id)).size).toBe(parts.length * 2);
    expect(joinAll([...parts.slice(0, 2), b])).toEqual([b]);
    expect(joinAll([...parts.slice(0, 2), ...again])).toEqual([a]);
    expect(joinAll([...parts.slice(1), b])).toEqual([b]);
  });
});
