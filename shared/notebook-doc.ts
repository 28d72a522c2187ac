/**
 * A notebook as a document: one stream per notebook (its `.patch` subject in WS_DOCS) whose
 * events are the notebook as opened, structure changes (cells inserted, moved, deleted,
 * retyped, split, merged; outputs and metadata set) and text patches of one cell each. Cell
 * text goes through the same patch pipeline as a text document (diff-match-patch patches
 * against a base sequence, rebased by the docs service onto the cell's newest text), per
 * cell. shared/notebook-fold.ts folds the events. Pure.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { PatchSources } from "./docs.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { KERNELSPEC_NAME } from "./kernels.js";
import { NOTEBOOK_MAX_BYTES, type NotebookCell, type NotebookKernelspec } from "./notebook.js";
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
/** `<kernel id>/<display id>` of an output a kernel showed with a display id. */
const DisplayKey = Type.String({ minLength: 1, maxLength: 300 });
const Displays = Type.Array(Type.Tuple([Type.Integer({ minimum: 0 }), DisplayKey]), {
  maxItems: 10000,
});
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
    displays: Type.Optional(Displays),
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
    // An outside change of a long cell can make a long patch: stored in parts if need be.
    patch: Type.String({ maxLength: NOTEBOOK_MAX_BYTES }),
    source: Type.Union(PatchSources.map((s) => Type.Literal(s))),
    client: Type.Optional(ClientId),
    pid: Type.Optional(PatchId),
  }),
);
/**
 * A code cell's outputs (nbformat JSON text) and execution count; `displays`: which of them
 * show a kernel's display (none when left out).
 */
export const OutputsSet = defineEvent(
  "OutputsSet",
  1,
  obj({ id: CellId, outputs: Json, execution_count: Count, displays: Type.Optional(Displays) }),
);
/**
 * A kernel's new outputs of a code cell (nbformat JSON text of a list), appended to what it
 * has: a stream output right after one of the same stream continues it, as Jupyter writes.
 */
export const OutputsAppended = defineEvent(
  "OutputsAppended",
  1,
  // `display`: the one output appended shows this display (`<kernel id>/<display id>`).
  obj({ id: CellId, outputs: Json, display: Type.Optional(DisplayKey) }),
);
export const CellMetadataSet = defineEvent(
  "CellMetadataSet",
  1,
  obj({ id: CellId, metadata: Json }),
);
export const NotebookMetadataSet = defineEvent("NotebookMetadataSet", 1, obj({ metadata: Json }));

/** Largest message of a notebook's stream: a larger event is stored in parts. */
export const NOTEBOOK_EVENT_MAX_BYTES = 256 * 1024;
/** Most parts of one event (a 32 MiB notebook of escaped text needs a few hundred). */
export const NOTEBOOK_EVENT_MAX_PARTS = 4096;

/**
 * One part of a notebook event too large for one message: `text` is a piece of the event's
 * JSON (its whole envelope); the parts are stored one after another and folded as the one
 * event once the last is read (shared/notebook-parts.ts). The last part says what the docs
 * view needs of the whole event: the notebook's path (NotebookOpened) and how many cells it
 * carries (NotebookOpened, CellsInserted).
 */
export const NotebookPartStored = defineEvent(
  "NotebookPartStored",
  1,
  obj({
    of: Type.String({ pattern: "^[A-Z][A-Za-z0-9]{0,99}$" }),
    part: Type.Integer({ minimum: 0, maximum: NOTEBOOK_EVENT_MAX_PARTS - 1 }),
    parts: Type.Integer({ minimum: 2, maximum: NOTEBOOK_EVENT_MAX_PARTS }),
    text: Type.String({ minLength: 1, maxLength: NOTEBOOK_EVENT_MAX_BYTES }),
    path: Type.Optional(AbsolutePath),
    cells: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
);
export type NotebookPart = EventOf<typeof NotebookPartStored>;

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
  OutputsAppended,
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
  | EventOf<typeof OutputsAppended>
  | EventOf<typeof CellMetadataSet>
  | EventOf<typeof NotebookMetadataSet>;
/** What a notebook's stream holds: its events, and parts of those too large for a message. */
export const NotebookStreamEvents = [...NotebookEvents, NotebookPartStored] as const;
export type NotebookStreamEvent = NotebookEvent | NotebookPart;
const notebookTypes = new Set<string>(NotebookStreamEvents.map((e) => e.type));
/** Whether an event of the docs stream is a notebook's (or a part of one). */
export function isNotebookEvent(e: { type: string }): e is NotebookStreamEvent {
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
  /** The notebook's kernel chosen: its metadata names it (kernelspec, language_info). */
  obj({
    op: Type.Literal("kernel"),
    kernelspec: obj({
      name: Type.String({ pattern: KERNELSPEC_NAME }),
      display_name: Type.String({ minLength: 1, maxLength: 200 }),
      language: Type.String({ minLength: 1, maxLength: 100 }),
    }),
  }),
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
  | { op: "outputs"; id: string; outputs: string; execution_count: number | null }
  | { op: "kernel"; kernelspec: NotebookKernelspec };

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
  /** Too large to open as a notebook, or not text. */
  refused?: "too-large" | "binary";
  size?: number;
  /** The largest file opened (too-large): NOTEBOOK_MAX_BYTES. */
  limit?: number;
  /**
   * The file is not a valid notebook: why, and its text, to be shown as it is (a long file's
   * start: `length` is then the whole text's).
   */
  invalid?: { message: string; text: string; length?: number };
}
