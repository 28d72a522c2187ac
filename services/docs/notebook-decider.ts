/**
 * The notebook decider: what a page's change, a cell's patch or an outside change of the
 * file turns into, given the notebook's head. Pure; the service does the I/O around it.
 */
import { diffEdits, makePatch, mapEdits } from "../../shared/docs.js";
import { CocalcError } from "../../shared/errors.js";
import {
  checkOutputs,
  hasCellIds,
  type Notebook,
  type NotebookCell,
  newCell,
  withKernelspec,
} from "../../shared/notebook.js";
import type { NotebookChange, NotebookEvent } from "../../shared/notebook-doc.js";
import {
  evolveNotebook,
  type NotebookHead,
  type NotebookState,
} from "../../shared/notebook-fold.js";

/** An event to store, before it gets an envelope. */
export type NotebookDecision = {
  [E in NotebookEvent as E["type"]]: { type: E["type"]; data: E["data"] };
}[NotebookEvent["type"]];

function refuse(message: string): CocalcError {
  return new CocalcError("ERR_NOTEBOOK_CHANGE_INVALID", message);
}

/** A client's patch of one cell, rebased onto the cell's text now. */
export function decideCellPatch(
  head: NotebookHead,
  p: { id: string; base: number; patch: string; client: string; pid: string },
): NotebookDecision {
  const edits = head.rebase(p.id, p.base, p.patch);
  return {
    type: "CellPatched",
    data: {
      id: p.id,
      patch: makePatch(head.cell(p.id).source, edits),
      source: "user",
      client: p.client,
      pid: p.pid,
    },
  };
}

/** The events of a page's structure change. Throws ERR_NOTEBOOK_*; an empty list: no change. */
export function decideChange(head: NotebookHead, change: NotebookChange): NotebookDecision[] {
  const cells = head.state.nb.cells;
  const known = (id: string) => head.cell(id);
  switch (change.op) {
    case "insert": {
      if (change.after !== null) known(change.after);
      const ids = new Set<string>();
      for (const c of change.cells) {
        if (head.has(c.id) || ids.has(c.id)) throw refuse(`the cell id ${c.id} is taken`);
        ids.add(c.id);
      }
      const withIds = hasCellIds(head.state.nb);
      return [
        {
          type: "CellsInserted",
          data: {
            after: change.after,
            cells: change.cells.map((c) => newCell(c.cell_type, c.source, c.id, withIds)),
          },
        },
      ];
    }
    case "move": {
      known(change.id);
      if (change.after === change.id) throw refuse("a cell cannot move after itself");
      if (change.after !== null) known(change.after);
      const i = cells.findIndex((c) => c.id === change.id);
      const prev = i === 0 ? null : cells[i - 1]!.id;
      if (prev === change.after) return [];
      return [{ type: "CellMoved", data: { id: change.id, after: change.after } }];
    }
    case "delete": {
      const ids = [...new Set(change.ids)].filter((id) => head.has(id));
      if (ids.length === 0) known(change.ids[0]!);
      return [{ type: "CellsDeleted", data: { ids } }];
    }
    case "type": {
      if (known(change.id).cell_type === change.cell_type) return [];
      return [{ type: "CellTypeChanged", data: { id: change.id, cell_type: change.cell_type } }];
    }
    case "split": {
      known(change.id);
      if (head.has(change.newId)) throw refuse(`the cell id ${change.newId} is taken`);
      const at = head.mapPos(change.id, change.base, change.at);
      return [{ type: "CellSplit", data: { id: change.id, at, newId: change.newId } }];
    }
    case "merge": {
      known(change.id);
      known(change.next);
      const i = cells.findIndex((c) => c.id === change.id);
      if (cells[i + 1]?.id !== change.next)
        throw refuse("only a cell and the cell right below it can be merged");
      return [{ type: "CellsMerged", data: { id: change.id, next: change.next } }];
    }
    case "clear": {
      const out: NotebookDecision[] = [];
      for (const id of new Set(change.ids)) {
        if (!head.has(id)) continue;
        const c = known(id);
        if (c.cell_type !== "code" || (c.outputs === "[]" && c.execution_count == null)) continue;
        out.push({ type: "OutputsSet", data: { id, outputs: "[]", execution_count: null } });
      }
      return out;
    }
    case "outputs": {
      if (known(change.id).cell_type !== "code")
        throw refuse(`cell ${change.id} is not a code cell: it has no outputs`);
      checkOutputs(change.outputs);
      return [
        {
          type: "OutputsSet",
          data: {
            id: change.id,
            outputs: change.outputs,
            execution_count: change.execution_count,
          },
        },
      ];
    }
    case "kernel": {
      const metadata = withKernelspec(head.state.nb.metadata, change.kernelspec);
      if (metadata === head.state.nb.metadata) return [];
      return [{ type: "NotebookMetadataSet", data: { metadata } }];
    }
    default: {
      const never: never = change;
      throw new Error(`unhandled change ${(never as { op: string }).op}`);
    }
  }
}

/**
 * The cells of `now` (a file read from disk) with the ids of `before` (what the file held
 * when last read or written) where the file has no ids of its own (nbformat 4.4): cells of
 * the same text in the same order keep their id, and cells between two such are taken as
 * edited in place.
 */
export function identifyCells(before: Notebook, now: Notebook): NotebookCell[] {
  if (now.cells.every((c) => c.keys.includes("id"))) return now.cells;
  const a = before.cells;
  const b = now.cells;
  // Longest common subsequence of texts (the cells of a notebook number in the thousands).
  const n = a.length;
  const m = b.length;
  // Too many cells for the table: cells are taken as edited in place, in order.
  if (n * m > 4_000_000) return b.map((c, j) => (j < n ? { ...c, id: a[j]!.id } : c));
  const dp: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i]![j] =
        a[i]!.source === b[j]!.source && a[i]!.cell_type === b[j]!.cell_type
          ? dp[i + 1]![j + 1]! + 1
          : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const ids: (string | undefined)[] = new Array(m).fill(undefined);
  const pairs: [number, number][] = [];
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (a[i]!.source === b[j]!.source && a[i]!.cell_type === b[j]!.cell_type) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) i++;
    else j++;
  }
  pairs.push([n, m]);
  let pi = 0;
  let pj = 0;
  for (const [i, j] of pairs) {
    // Between two matches: pair the cells in order (edited in place).
    for (let k = 0; pi + k < i && pj + k < j; k++) ids[pj + k] = a[pi + k]!.id;
    if (i < n) ids[j] = a[i]!.id;
    pi = i + 1;
    pj = j + 1;
  }
  const taken = new Set(ids.filter((x): x is string => x !== undefined));
  return b.map((c, j) => {
    const id = ids[j];
    if (id !== undefined) return { ...c, id };
    // A new cell whose random id happens to be an old one's: it gets another.
    return taken.has(c.id) ? { ...c, id: `${c.id}x` } : c;
  });
}

/**
 * The file changed to `now`; it held `before` when last read or written (undefined: it was
 * missing). The outside change (before → now) is merged cell by cell into the head, so that
 * what pages did since stays: cells deleted, inserted, moved; each cell's text change mapped
 * over the pages' edits of that cell; types, outputs and metadata set as the file has them.
 */
export function decideOutsideChange(
  head: NotebookHead,
  before: Notebook | undefined,
  now: Notebook,
  /** `now` has the ids of `before` (a past version of the notebook, not a file). */
  sameIds = false,
): NotebookDecision[] {
  const base = before ?? head.state.nb;
  const nowCells = sameIds ? now.cells : identifyCells(base, now);
  const beforeById = new Map(base.cells.map((c) => [c.id, c]));
  const nowIds = new Set(nowCells.map((c) => c.id));
  const out: NotebookDecision[] = [];
  let state: NotebookState = head.state;
  const emit = (d: NotebookDecision) => {
    out.push(d);
    state = evolveNotebook(state, d as NotebookEvent);
  };
  const inHead = (id: string) => state.nb.cells.some((c) => c.id === id);

  const gone = base.cells.filter((c) => !nowIds.has(c.id) && inHead(c.id)).map((c) => c.id);
  if (gone.length > 0) emit({ type: "CellsDeleted", data: { ids: gone } });

  // Inserted cells, each group after its predecessor in the file.
  let prev: string | null = null;
  let group: NotebookCell[] = [];
  let groupAfter: string | null = null;
  const flush = () => {
    if (group.length > 0)
      emit({ type: "CellsInserted", data: { after: groupAfter, cells: group } });
    group = [];
  };
  for (const c of nowCells) {
    if (!beforeById.has(c.id) && !inHead(c.id)) {
      if (group.length === 0) groupAfter = prev;
      group.push(c);
    } else {
      flush();
    }
    if (inHead(c.id) || group.some((g) => g.id === c.id)) prev = c.id;
  }
  flush();

  // Cells changed in the file: type, text, outputs, metadata.
  for (const c of nowCells) {
    const was = beforeById.get(c.id);
    if (!was || !inHead(c.id)) continue;
    const cur = state.nb.cells.find((x) => x.id === c.id)!;
    if (c.cell_type !== was.cell_type && cur.cell_type !== c.cell_type)
      emit({ type: "CellTypeChanged", data: { id: c.id, cell_type: c.cell_type } });
    if (c.source !== was.source) {
      const edits = mapEdits(diffEdits(was.source, c.source), diffEdits(was.source, cur.source));
      if (edits.length > 0)
        emit({
          type: "CellPatched",
          data: { id: c.id, patch: makePatch(cur.source, edits), source: "disk" },
        });
    }
    if (
      c.cell_type === "code" &&
      (c.outputs !== was.outputs || (c.execution_count ?? null) !== (was.execution_count ?? null))
    )
      emit({
        type: "OutputsSet",
        data: {
          id: c.id,
          outputs: c.outputs ?? "[]",
          execution_count: c.execution_count ?? null,
          // A past version's (a restore): a file's cells have none.
          ...(c.displays && { displays: c.displays }),
        },
      });
    if (c.metadata !== was.metadata && c.metadata !== cur.metadata)
      emit({ type: "CellMetadataSet", data: { id: c.id, metadata: c.metadata } });
  }

  // Order: the file's order of the cells it shares with the head; the cells pages added
  // since stay after the cell they were inserted after.
  const order = nowCells.map((c) => c.id).filter(inHead);
  const pos = () => new Map(state.nb.cells.map((c, i) => [c.id, i]));
  let p = pos();
  const keep = longestIncreasing(order.map((id) => p.get(id)!));
  for (let k = 0; k < order.length; k++) {
    if (keep.has(k)) continue;
    const id = order[k]!;
    const after = k === 0 ? null : order[k - 1]!;
    emit({ type: "CellMoved", data: { id, after } });
    p = pos();
  }

  if (now.metadata !== base.metadata && now.metadata !== state.nb.metadata)
    emit({ type: "NotebookMetadataSet", data: { metadata: now.metadata } });
  return out;
}

/**
 * The events that make the notebook as it was (`past`, folded from the stream up to a
 * sequence) again: a restore, as ordinary changes, so that it is one more version.
 */
export function decideRestore(head: NotebookHead, past: Notebook): NotebookDecision[] {
  return decideOutsideChange(head, head.state.nb, past, true).map((d) =>
    d.type === "CellPatched" ? { ...d, data: { ...d.data, source: "revert" } } : d,
  );
}

/** Indices of a longest strictly increasing subsequence of `xs`. */
function longestIncreasing(xs: number[]): Set<number> {
  const tails: number[] = [];
  const prev: number[] = new Array(xs.length).fill(-1);
  for (let i = 0; i < xs.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[tails[mid]!]! < xs[i]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1]!;
    tails[lo] = i;
  }
  const keep = new Set<number>();
  for (let i = tails.length ? tails[tails.length - 1]! : -1; i !== -1; i = prev[i]!) keep.add(i);
  return keep;
}
