/**
 * A notebook as a document: one stream per notebook (its `.patch` subject in WS_DOCS) whose
 * events are the notebook as opened, structure changes (cells inserted, moved, deleted,
 * retyped, split, merged; outputs and metadata set) and text patches of one cell each. Cell
 * text goes through the same patch pipeline as a text document (diff-match-patch patches
 * against a base sequence, rebased by the docs service onto the cell's newest text), per
 * cell. evolveNotebook folds the events (both sides); NotebookHead adds what the service
 * needs to rebase a cell's patch. Pure.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { applyEdits, type Edit, mapPos, PatchSources, parsePatch, rebaseEdits } from "./docs.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import { NOTEBOOK_MAX_BYTES, type Notebook, type NotebookCell, withCellType } from "./notebook.js";
import { sha256 } from "./sha256.js";

/** The document id of the notebook at canonical path `path` (never a text document's id). */
export function notebookIdForPath(path: string): string {
  return bytesToBase64url(sha256(`notebook:${path}`).subarray(0, 16));
}

/** Whether a path is opened as a notebook. */
export function isNotebookPath(path: string): boolean {
  return /\.ipynb$/i.test(path);
}

const AbsolutePath = Type.String({ pattern: "^/[^\\u0000]*$", maxLength: 4096 });
const CellId = Type.String({ pattern: "^[a-zA-Z0-9_-]{1,64}$" });
const ClientId = Type.String({ pattern: "^[A-Za-z0-9_-]{4,64}$" });
const PatchId = Type.String({ pattern: "^[A-Za-z0-9_-]{4,80}$" });
const Json = Type.String({ maxLength: NOTEBOOK_MAX_BYTES });
const CellTypeSchema = Type.Union([
  Type.Literal("code"),
  Type.Literal("markdown"),
  Type.Literal("raw"),
]);
const After = Type.Union([CellId, Type.Null()]);
const Count = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]);

const CellSchema = Type.Object(
  {
    id: CellId,
    cell_type: CellTypeSchema,
    source: Type.String({ maxLength: NOTEBOOK_MAX_BYTES }),
    metadata: Json,
    outputs: Type.Optional(Json),
    execution_count: Type.Optional(Count),
    extra: Type.Optional(Json),
    keys: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 200 }),
    sourceString: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const NotebookSchema = Type.Object(
  {
    nbformat: Type.Integer(),
    nbformat_minor: Type.Integer({ minimum: 0 }),
    metadata: Json,
    extra: Type.Optional(Json),
    keys: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 200 }),
    indent: Type.Integer({ minimum: 0, maximum: 16 }),
    newline: Type.Boolean(),
    cells: Type.Array(CellSchema, { maxItems: 20000 }),
  },
  { additionalProperties: false },
);

const obj = <T extends Parameters<typeof Type.Object>[0]>(props: T) =>
  Type.Object(props, { additionalProperties: false });

/** The notebook was created from the file's content. */
export const NotebookOpened = defineEvent(
  "NotebookOpened",
  1,
  obj({ path: AbsolutePath, notebook: NotebookSchema }),
);
/** Cells inserted after cell `after` (null: at the top). */
export const CellsInserted = defineEvent(
  "CellsInserted",
  1,
  obj({ after: After, cells: Type.Array(CellSchema, { minItems: 1, maxItems: 5000 }) }),
);
/** A cell moved to after cell `after` (null: to the top). */
export const CellMoved = defineEvent("CellMoved", 1, obj({ id: CellId, after: After }));
export const CellsDeleted = defineEvent(
  "CellsDeleted",
  1,
  obj({ ids: Type.Array(CellId, { minItems: 1, maxItems: 20000 }) }),
);
export const CellTypeChanged = defineEvent(
  "CellTypeChanged",
  1,
  obj({ id: CellId, cell_type: CellTypeSchema }),
);
/** The text of cell `id` from `at` on became new cell `newId` below it. */
export const CellSplit = defineEvent(
  "CellSplit",
  1,
  obj({ id: CellId, at: Type.Integer({ minimum: 0 }), newId: CellId }),
);
/** Cell `next`'s text was appended to cell `id` (on a new line) and `next` removed. */
export const CellsMerged = defineEvent("CellsMerged", 1, obj({ id: CellId, next: CellId }));
/** A patch of one cell's text, exact against that text as of the previous event. */
export const CellPatched = defineEvent(
  "CellPatched",
  1,
  obj({
    id: CellId,
    patch: Type.String({ maxLength: 200 * 1024 }),
    source: Type.Union(PatchSources.map((s) => Type.Literal(s))),
    client: Type.Optional(ClientId),
    pid: Type.Optional(PatchId),
  }),
);
/** A code cell's outputs (nbformat JSON text) and execution count. */
export const OutputsSet = defineEvent(
  "OutputsSet",
  1,
  obj({ id: CellId, outputs: Json, execution_count: Count }),
);
export const CellMetadataSet = defineEvent(
  "CellMetadataSet",
  1,
  obj({ id: CellId, metadata: Json }),
);
export const NotebookMetadataSet = defineEvent("NotebookMetadataSet", 1, obj({ metadata: Json }));

export const NotebookEvents = [
  NotebookOpened,
  CellsInserted,
  CellMoved,
  CellsDeleted,
  CellTypeChanged,
  CellSplit,
  CellsMerged,
  CellPatched,
  OutputsSet,
  CellMetadataSet,
  NotebookMetadataSet,
] as const;
export type NotebookEvent =
  | EventOf<typeof NotebookOpened>
  | EventOf<typeof CellsInserted>
  | EventOf<typeof CellMoved>
  | EventOf<typeof CellsDeleted>
  | EventOf<typeof CellTypeChanged>
  | EventOf<typeof CellSplit>
  | EventOf<typeof CellsMerged>
  | EventOf<typeof CellPatched>
  | EventOf<typeof OutputsSet>
  | EventOf<typeof CellMetadataSet>
  | EventOf<typeof NotebookMetadataSet>;
const notebookTypes = new Set<string>(NotebookEvents.map((e) => e.type));
/** Whether an event of the docs stream is a notebook's. */
export function isNotebookEvent(e: { type: string }): e is NotebookEvent {
  return notebookTypes.has(e.type);
}

/** A cursor or selection in one cell of a notebook (core NATS, never stored). */
export const NotebookPresenceSchema = Type.Object(
  {
    client: ClientId,
    name: Type.String({ maxLength: 80 }),
    color: Type.String({ pattern: "^#[0-9a-fA-F]{6}$" }),
    cell: CellId,
    seq: Type.Integer({ minimum: 0 }),
    anchor: Type.Integer({ minimum: 0 }),
    head: Type.Integer({ minimum: 0 }),
    gone: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type NotebookPresence = Static<typeof NotebookPresenceSchema>;

// ---- commands ----

const NewCell = obj({
  id: CellId,
  cell_type: CellTypeSchema,
  source: Type.String({ maxLength: 100 * 1024 }),
});

/** A structure change a page asks for. */
export const NotebookChangeSchema = Type.Union([
  obj({
    op: Type.Literal("insert"),
    after: After,
    cells: Type.Array(NewCell, { minItems: 1, maxItems: 1000 }),
  }),
  obj({ op: Type.Literal("move"), id: CellId, after: After }),
  obj({ op: Type.Literal("delete"), ids: Type.Array(CellId, { minItems: 1, maxItems: 5000 }) }),
  obj({ op: Type.Literal("type"), id: CellId, cell_type: CellTypeSchema }),
  /** Split at `at` of the cell's text as of sequence `base`. */
  obj({
    op: Type.Literal("split"),
    id: CellId,
    base: Type.Integer({ minimum: 0 }),
    at: Type.Integer({ minimum: 0 }),
    newId: CellId,
  }),
  obj({ op: Type.Literal("merge"), id: CellId, next: CellId }),
  obj({ op: Type.Literal("clear"), ids: Type.Array(CellId, { minItems: 1, maxItems: 20000 }) }),
  /** A kernel's outputs of a code cell (nbformat JSON text of the outputs list). */
  obj({ op: Type.Literal("outputs"), id: CellId, outputs: Json, execution_count: Count }),
]);
export type NotebookChange =
  | {
      op: "insert";
      after: string | null;
      cells: { id: string; cell_type: NotebookCell["cell_type"]; source: string }[];
    }
  | { op: "move"; id: string; after: string | null }
  | { op: "delete"; ids: string[] }
  | { op: "type"; id: string; cell_type: NotebookCell["cell_type"] }
  | { op: "split"; id: string; base: number; at: number; newId: string }
  | { op: "merge"; id: string; next: string }
  | { op: "clear"; ids: string[] }
  | { op: "outputs"; id: string; outputs: string; execution_count: number | null };

/** Opens (creates on first open) the notebook document of a `.ipynb` file. */
export const OpenNotebook = defineCommand("OpenNotebook", obj({ path: AbsolutePath }));
/** A patch of cell `id`'s text against base sequence `base`. */
export const PatchCell = defineCommand(
  "PatchCell",
  obj({
    path: AbsolutePath,
    id: CellId,
    base: Type.Integer({ minimum: 0 }),
    patch: Type.String({ maxLength: 200 * 1024 }),
    client: ClientId,
    pid: PatchId,
  }),
);
/** A structure change; `pid` makes a change sent again after a lost reply count once. */
export const ChangeNotebook = defineCommand(
  "ChangeNotebook",
  obj({ path: AbsolutePath, change: NotebookChangeSchema, client: ClientId, pid: PatchId }),
);
/** Makes the notebook as it was at sequence `seq` again (as new changes: history keeps all). */
export const RestoreNotebook = defineCommand(
  "RestoreNotebook",
  obj({
    path: AbsolutePath,
    seq: Type.Integer({ minimum: 1 }),
    client: ClientId,
    pid: PatchId,
  }),
);
/** Writes the notebook to disk now. */
export const SaveNotebook = defineCommand("SaveNotebook", obj({ path: AbsolutePath }));

export const NotebookCommands = [
  OpenNotebook,
  PatchCell,
  ChangeNotebook,
  RestoreNotebook,
  SaveNotebook,
] as const;
const notebookCommandTypes = new Set<string>(NotebookCommands.map((c) => c.type));
/** Whether a command type is one of the notebook's. */
export function isNotebookCommand(type: string): boolean {
  return notebookCommandTypes.has(type);
}

/** The reply to OpenNotebook. */
export interface OpenNotebookResult {
  doc: string;
  /** Too large to open as a notebook. */
  refused?: "too-large" | "binary";
  size?: number;
  /** The file is not a valid notebook: why, and its text, to be shown as it is. */
  invalid?: { message: string; text: string };
}

// ---- folding ----

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
      const { outputs: _o, execution_count: _e, extra: _x, sourceString: _s, ...rest } = cell;
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
      update(event.data.id, (c) =>
        c.cell_type === "code"
          ? { ...c, outputs: event.data.outputs, execution_count: event.data.execution_count }
          : c,
      );
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
