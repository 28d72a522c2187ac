/**
 * Folding a notebook's events: the notebook as of a sequence (both sides), the text edits
 * an event makes to cells, and the head the docs service keeps to rebase a cell's patch made
 * against an older base onto that cell's text now. Pure.
 */
import { applyEdits, type Edit, mapPos, parsePatch, rebaseEdits } from "./docs.js";
import { CocalcError } from "./errors.js";
import { appendedOutputs, type Notebook, type NotebookCell, withCellType } from "./notebook.js";
import type { NotebookEvent } from "./notebook-doc.js";

/** A notebook as of one sequence of its stream. */
export interface NotebookState {
  path: string;
  nb: Notebook;
}

function bug(message: string): Error {
  return new Error(`notebook stream: ${message}`);
}

function indexOf(cells: readonly NotebookCell[], id: string): number {
  const i = cells.findIndex((c) => c.id === id);
  if (i === -1) throw bug(`no cell ${id}`);
  return i;
}

/** Where a cell goes for `after` (null: the top). */
function insertAt(cells: readonly NotebookCell[], after: string | null): number {
  return after === null ? 0 : indexOf(cells, after) + 1;
}

/**
 * The text edits an event makes to cells, against the texts before it: a patch, the tail a
 * split takes away, the text a merge appends.
 */
export function cellTextEdits(
  state: NotebookState,
  event: NotebookEvent,
): { id: string; edits: Edit[] }[] {
  const cells = state.nb.cells;
  switch (event.type) {
    case "CellPatched": {
      const cell = cells[indexOf(cells, event.data.id)]!;
      return [{ id: cell.id, edits: parsePatch(event.data.patch, cell.source) }];
    }
    case "CellSplit": {
      const cell = cells[indexOf(cells, event.data.id)]!;
      const len = cell.source.length;
      return event.data.at >= len
        ? []
        : [{ id: cell.id, edits: [{ from: event.data.at, to: len, insert: "" }] }];
    }
    case "CellsMerged": {
      const cell = cells[indexOf(cells, event.data.id)]!;
      const next = cells[indexOf(cells, event.data.next)]!;
      const len = cell.source.length;
      return [{ id: cell.id, edits: [{ from: len, to: len, insert: `\n${next.source}` }] }];
    }
    default:
      return [];
  }
}

/** The notebook after one stored event. Throws on an event that does not fit (a bug). */
export function evolveNotebook(
  state: NotebookState | undefined,
  event: NotebookEvent,
): NotebookState {
  if (event.type === "NotebookOpened") return { path: event.data.path, nb: event.data.notebook };
  if (!state) throw bug(`${event.type} before the notebook was opened`);
  const cells = state.nb.cells.slice();
  let nb: Notebook = { ...state.nb, cells };
  const update = (id: string, fn: (c: NotebookCell) => NotebookCell) => {
    const i = indexOf(cells, id);
    cells[i] = fn(cells[i]!);
  };
  switch (event.type) {
    case "CellsInserted":
      cells.splice(insertAt(cells, event.data.after), 0, ...event.data.cells);
      break;
    case "CellMoved": {
      const [cell] = cells.splice(indexOf(cells, event.data.id), 1);
      cells.splice(insertAt(cells, event.data.after), 0, cell!);
      break;
    }
    case "CellsDeleted": {
      const gone = new Set(event.data.ids);
      nb = { ...nb, cells: cells.filter((c) => !gone.has(c.id)) };
      break;
    }
    case "CellTypeChanged":
      update(event.data.id, (c) => withCellType(c, event.data.cell_type));
      break;
    case "CellSplit": {
      const i = indexOf(cells, event.data.id);
      const cell = cells[i]!;
      const tail = cell.source.slice(event.data.at);
      cells[i] = { ...cell, source: cell.source.slice(0, event.data.at) };
      const {
        outputs: _o,
        execution_count: _e,
        extra: _x,
        sourceString: _s,
        displays: _d,
        ...rest
      } = cell;
      const fresh: NotebookCell = { ...rest, id: event.data.newId, source: tail, metadata: "{}" };
      if (cell.cell_type === "code") {
        fresh.outputs = "[]";
        fresh.execution_count = null;
      }
      fresh.keys = cell.keys.filter((k) => k in fresh || k === "id");
      cells.splice(i + 1, 0, fresh);
      break;
    }
    case "CellsMerged": {
      const i = indexOf(cells, event.data.id);
      const j = indexOf(cells, event.data.next);
      cells[i] = { ...cells[i]!, source: `${cells[i]!.source}\n${cells[j]!.source}` };
      cells.splice(j, 1);
      break;
    }
    case "CellPatched":
      update(event.data.id, (c) => ({
        ...c,
        source: applyEdits(c.source, parsePatch(event.data.patch, c.source)),
      }));
      break;
    case "OutputsSet":
      update(event.data.id, (c) => {
        if (c.cell_type !== "code") return c;
        const { displays: _d, ...rest } = c;
        const { outputs, execution_count, displays } = event.data;
        return { ...rest, outputs, execution_count, ...(displays?.length && { displays }) };
      });
      break;
    case "OutputsAppended":
      update(event.data.id, (c) => {
        if (c.cell_type !== "code") return c;
        const { outputs, count } = appendedOutputs(c.outputs ?? "[]", event.data.outputs);
        const display = event.data.display;
        if (display === undefined) return { ...c, outputs };
        return { ...c, outputs, displays: [...(c.displays ?? []), [count - 1, display]] };
      });
      break;
    case "CellMetadataSet":
      update(event.data.id, (c) => ({ ...c, metadata: event.data.metadata }));
      break;
    case "NotebookMetadataSet":
      nb = { ...nb, metadata: event.data.metadata };
      break;
    default: {
      const never: never = event;
      throw bug(`unknown event ${(never as { type: string }).type}`);
    }
  }
  return { ...state, nb };
}

/** Patches of one cell the service keeps to rebase patches against older bases. */
interface CellHistory {
  /** The sequence the oldest known base is at, and the cell's text length then. */
  since: number;
  lengthAt: number;
  patches: { seq: number; edits: Edit[]; length: number }[];
}

/**
 * The head of a notebook as the docs service keeps it: the notebook, its sequence, and the
 * recent edits of each cell, so that a patch made against an older base can be rebased onto
 * the cell's newest text.
 */
export class NotebookHead {
  state: NotebookState;
  head: number;
  private history = new Map<string, CellHistory>();

  constructor(
    state: NotebookState,
    head: number,
    private readonly keep = 2000,
  ) {
    this.state = state;
    this.head = head;
    for (const c of state.nb.cells)
      this.history.set(c.id, { since: head, lengthAt: c.source.length, patches: [] });
  }

  /** The cell `id`, or ERR_NOTEBOOK_CELL_UNKNOWN. */
  cell(id: string): NotebookCell {
    const c = this.state.nb.cells.find((x) => x.id === id);
    if (!c) throw new CocalcError("ERR_NOTEBOOK_CELL_UNKNOWN", `the notebook has no cell ${id}`);
    return c;
  }

  has(id: string): boolean {
    return this.history.has(id);
  }

  private since(id: string, base: number): { length: number; after: Edit[][] } {
    const h = this.history.get(id);
    if (!h) throw new CocalcError("ERR_NOTEBOOK_CELL_UNKNOWN", `the notebook has no cell ${id}`);
    if (base < h.since || base > this.head)
      throw new CocalcError(
        "ERR_DOC_BASE_UNKNOWN",
        `base ${base} is not a version of cell ${id} this service knows (head ${this.head})`,
      );
    let i = h.patches.length;
    while (i > 0 && h.patches[i - 1]!.seq > base) i--;
    return {
      length: i === 0 ? h.lengthAt : h.patches[i - 1]!.length,
      after: h.patches.slice(i).map((p) => p.edits),
    };
  }

  /** A client's patch of cell `id` against `base`, rebased onto the cell's text now. */
  rebase(id: string, base: number, patch: string): Edit[] {
    const { length, after } = this.since(id, base);
    return rebaseEdits(patch, length, after, after.length === 0 ? this.cell(id).source : undefined);
  }

  /** Position `pos` of cell `id`'s text as of `base`, in its text now. */
  mapPos(id: string, base: number, pos: number): number {
    const { length, after } = this.since(id, base);
    if (pos > length)
      throw new CocalcError(
        "ERR_NOTEBOOK_CHANGE_INVALID",
        `position ${pos} is past the cell's end`,
      );
    return after.reduce((p, edits) => mapPos(p, edits, false), pos);
  }

  /** Records stored event `seq`. */
  apply(event: NotebookEvent, seq: number): void {
    const edits = event.type === "NotebookOpened" ? [] : cellTextEdits(this.state, event);
    this.state = evolveNotebook(this.state, event);
    this.head = seq;
    if (event.type === "NotebookOpened") {
      this.history.clear();
      for (const c of this.state.nb.cells)
        this.history.set(c.id, { since: seq, lengthAt: c.source.length, patches: [] });
      return;
    }
    const fresh = (id: string) => {
      const c = this.state.nb.cells.find((x) => x.id === id)!;
      this.history.set(id, { since: seq, lengthAt: c.source.length, patches: [] });
    };
    if (event.type === "CellsInserted") for (const c of event.data.cells) fresh(c.id);
    if (event.type === "CellSplit") fresh(event.data.newId);
    if (event.type === "CellsDeleted") for (const id of event.data.ids) this.history.delete(id);
    if (event.type === "CellsMerged") this.history.delete(event.data.next);
    for (const { id, edits: e } of edits) {
      const h = this.history.get(id);
      if (!h) continue;
      const length = this.state.nb.cells.find((x) => x.id === id)!.source.length;
      h.patches.push({ seq, edits: e, length });
      if (h.patches.length > this.keep) {
        const drop = h.patches.splice(0, h.patches.length - this.keep);
        const last = drop[drop.length - 1]!;
        h.since = last.seq;
        h.lengthAt = last.length;
      }
    }
  }
}
