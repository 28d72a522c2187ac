/**
 * Notebook files (nbformat 4): parse, validate and serialise so that a file Jupyter wrote
 * comes back byte for byte. Keys keep their order (Jupyter writes them sorted), metadata and
 * unknown keys are kept as they were (numbers as written: lossless-json), cell text is one
 * string in the model and a list of lines in the file (as Python's splitlines makes them),
 * the file's indent and trailing newline are kept. nbformat 4.5 cell ids are used as they
 * are; a 4.4 file's cells get ids in the model that the file never sees. Pure.
 */
import {
  isLosslessNumber,
  parse as losslessParse,
  stringify as losslessStringify,
} from "lossless-json";
import { CocalcError } from "./errors.js";

export const CellTypes = ["code", "markdown", "raw"] as const;
export type CellType = (typeof CellTypes)[number];

/**
 * Largest notebook file opened: 32 MiB on disk. Its events are stored in parts of at most
 * NOTEBOOK_EVENT_MAX_BYTES (shared/notebook-parts.ts), so its size is not bound by a NATS
 * message; a text document's is (DOC_MAX_BYTES).
 */
export const NOTEBOOK_MAX_BYTES = 32 * 1024 * 1024;

/** One cell. Parts the page does not edit as text are kept as JSON text, as in the file. */
export interface NotebookCell {
  id: string;
  cell_type: CellType;
  /** The cell's text. */
  source: string;
  /** JSON text of the cell's metadata object. */
  metadata: string;
  /** Code cells: JSON text of the outputs array (nbformat's form, lines as lists). */
  outputs?: string;
  /** Code cells: the execution count (null: not run). */
  execution_count?: number | null;
  /** JSON text of an object with the cell's other keys (attachments, unknown keys). */
  extra?: string;
  /** The cell's keys in the file's order. */
  keys: string[];
  /** The file had the text as one string rather than a list of lines. */
  sourceString?: boolean;
  /**
   * Code cells: the outputs a kernel showed with a display id, as [index in the outputs,
   * `<kernel id>/<display id>`], so a later update_display_data finds them (also after a
   * restart of the docs service). The notebook's only: Jupyter writes no display ids to files.
   */
  displays?: [number, string][];
}

/** A notebook as the document holds it. */
export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  /** JSON text of the notebook's metadata object. */
  metadata: string;
  /** JSON text of an object with other top-level keys. */
  extra?: string;
  /** The top-level keys in the file's order. */
  keys: string[];
  /** Spaces of indent the file uses (Jupyter: 1). */
  indent: number;
  /** The file ends with a newline (Jupyter writes one). */
  newline: boolean;
  cells: NotebookCell[];
}

/** The parts of an output the page draws (nbformat 4). */
export type NotebookOutput =
  | { output_type: "stream"; name: string; text: string }
  | {
      output_type: "display_data" | "execute_result";
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      execution_count?: number | null;
    }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

const CELL_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const OUTPUT_TYPES = new Set(["stream", "display_data", "execute_result", "error"]);

function invalid(message: string): CocalcError {
  return new CocalcError("ERR_NOTEBOOK_INVALID", message);
}

/** A fresh cell id (nbformat 4.5: letters, digits, '-' and '_'). */
export function newCellId(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** Whether `id` is a valid nbformat cell id. */
export function isCellId(id: unknown): id is string {
  return typeof id === "string" && CELL_ID.test(id);
}

/** Lines with their ends, as Python's str.splitlines(True) makes them (Jupyter's split_lines). */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  // Python's line boundaries include the file, group and record separators (0x1c-0x1e).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is matched
  const re = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(text.slice(at, m.index + m[0].length));
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Multiline text as nbformat has it: a string or a list of strings. */
function joinText(v: unknown, where: string): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v.join("");
  throw invalid(`${where} is neither text nor a list of lines`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (isLosslessNumber(v)) return Number(v.value);
  return undefined;
}

/** JSON text of a value parsed by lossless-json (numbers as written). */
function jsonText(v: unknown): string {
  return losslessStringify(v) ?? "null";
}

/** Line and column of a character position, for error messages. */
function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return `line ${line}, column ${pos - before.lastIndexOf("\n")}`;
}

function checkOutput(o: unknown, where: string): void {
  if (!isObject(o)) throw invalid(`${where} is not an object`);
  const type = o.output_type;
  if (typeof type !== "string" || !OUTPUT_TYPES.has(type))
    throw invalid(`${where} has an unknown output_type ${JSON.stringify(type)}`);
  if (type === "stream") {
    if (typeof o.name !== "string") throw invalid(`${where} (stream) has no name`);
    joinText(o.text, `${where}'s text`);
  } else if (type === "error") {
    if (typeof o.ename !== "string" || typeof o.evalue !== "string")
      throw invalid(`${where} (error) lacks ename or evalue`);
    if (!Array.isArray(o.traceback) || !o.traceback.every((s) => typeof s === "string"))
      throw invalid(`${where} (error) has a traceback that is not a list of lines`);
  } else {
    if (!isObject(o.data)) throw invalid(`${where} (${type}) has no data object`);
    if (o.metadata !== undefined && !isObject(o.metadata))
      throw invalid(`${where} (${type}) has metadata that is not an object`);
  }
}

/**
 * Checks the JSON text of a cell's outputs (a kernel's, before they are stored); throws
 * ERR_NOTEBOOK_INVALID naming the bad output.
 */
export function checkOutputs(text: string): void {
  let v: unknown;
  try {
    v = losslessParse(text);
  } catch {
    throw invalid("the outputs are not valid JSON");
  }
  if (!Array.isArray(v)) throw invalid("the outputs are not a list");
  for (const [j, o] of v.entries()) checkOutput(o, `output ${j + 1}`);
}

const CELL_KNOWN = new Set(["id", "cell_type", "source", "metadata", "outputs", "execution_count"]);

function parseCell(c: unknown, i: number, seen: Set<string>): NotebookCell {
  const where = `cell ${i + 1}`;
  if (!isObject(c)) throw invalid(`${where} is not an object`);
  const type = c.cell_type;
  if (type !== "code" && type !== "markdown" && type !== "raw")
    throw invalid(`${where} has an unknown cell_type ${JSON.stringify(type)}`);
  if (c.source === undefined) throw invalid(`${where} has no source`);
  const source = joinText(c.source, `${where}'s source`);
  const metadata = c.metadata ?? {};
  if (!isObject(metadata)) throw invalid(`${where}'s metadata is not an object`);
  let id: string;
  if (c.id !== undefined) {
    if (!isCellId(c.id)) throw invalid(`${where} has an invalid id ${JSON.stringify(c.id)}`);
    if (seen.has(c.id)) throw invalid(`${where} has the id ${c.id} of an earlier cell`);
    id = c.id;
  } else {
    do id = newCellId();
    while (seen.has(id));
  }
  seen.add(id);
  const cell: NotebookCell = {
    id,
    cell_type: type,
    source,
    metadata: jsonText(metadata),
    keys: Object.keys(c),
  };
  if (typeof c.source === "string") cell.sourceString = true;
  if (type === "code") {
    const outputs = c.outputs ?? [];
    if (!Array.isArray(outputs)) throw invalid(`${where}'s outputs are not a list`);
    for (const [j, o] of outputs.entries()) checkOutput(o, `output ${j + 1} of ${where}`);
    cell.outputs = jsonText(outputs);
    const count = c.execution_count ?? null;
    const n = asNumber(count);
    if (count !== null && (n === undefined || !Number.isInteger(n) || n < 0))
      throw invalid(`${where}'s execution_count is not a count`);
    cell.execution_count = count === null ? null : n!;
  }
  const extra: Record<string, unknown> = {};
  let hasExtra = false;
  for (const k of Object.keys(c)) {
    if (CELL_KNOWN.has(k) && !(type !== "code" && (k === "outputs" || k === "execution_count")))
      continue;
    extra[k] = c[k];
    hasExtra = true;
  }
  if (hasExtra) cell.extra = jsonText(extra);
  return cell;
}

/**
 * Parses and validates a notebook file. Throws ERR_NOTEBOOK_INVALID naming what is wrong
 * and where (not JSON, not nbformat 4, a bad cell or output).
 */
export function parseNotebook(text: string): Notebook {
  let root: unknown;
  try {
    root = losslessParse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /at position (\d+)/.exec(message);
    const reason = message.replace(/ at position \d+$/, "");
    throw invalid(
      `the file is not valid JSON${pos ? ` at ${lineCol(text, Number(pos[1]))}` : ""}: ${reason}`,
    );
  }
  if (!isObject(root)) throw invalid("the file is not a JSON object");
  const major = asNumber(root.nbformat);
  const minor = asNumber(root.nbformat_minor);
  if (major === undefined) throw invalid("the file has no nbformat version: not a notebook");
  if (major !== 4) throw invalid(`nbformat ${major} notebooks are not supported (only nbformat 4)`);
  if (minor === undefined || !Number.isInteger(minor) || minor < 0)
    throw invalid("the file has no valid nbformat_minor");
  if (!Array.isArray(root.cells)) throw invalid("the notebook has no list of cells");
  const metadata = root.metadata ?? {};
  if (!isObject(metadata)) throw invalid("the notebook's metadata is not an object");
  const seen = new Set<string>();
  // A cell without an id (every cell before 4.5) gets one in the model, never written.
  const cells = root.cells.map((c, i) => parseCell(c, i, seen));
  const extra: Record<string, unknown> = {};
  let hasExtra = false;
  for (const k of Object.keys(root)) {
    if (k === "cells" || k === "metadata" || k === "nbformat" || k === "nbformat_minor") continue;
    extra[k] = root[k];
    hasExtra = true;
  }
  const indentMatch = /^\{\r?\n( +)"/.exec(text);
  const nb: Notebook = {
    nbformat: major,
    nbformat_minor: minor,
    metadata: jsonText(metadata),
    keys: Object.keys(root),
    indent: indentMatch ? indentMatch[1]!.length : 1,
    newline: text.endsWith("\n"),
    cells,
  };
  if (hasExtra) nb.extra = jsonText(extra);
  return nb;
}

function cellTree(cell: NotebookCell): Record<string, unknown> {
  const extra = cell.extra ? (losslessParse(cell.extra) as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const k of cell.keys) {
    switch (k) {
      case "id":
        out.id = cell.id;
        break;
      case "cell_type":
        out.cell_type = cell.cell_type;
        break;
      case "source":
        out.source = cell.sourceString ? cell.source : splitLines(cell.source);
        break;
      case "metadata":
        out.metadata = losslessParse(cell.metadata);
        break;
      case "outputs":
        if (cell.cell_type === "code") out.outputs = losslessParse(cell.outputs ?? "[]");
        break;
      case "execution_count":
        if (cell.cell_type === "code") out.execution_count = cell.execution_count ?? null;
        break;
      default:
        if (k in extra) out[k] = extra[k];
    }
  }
  return out;
}

/** The file's text of a notebook, as Jupyter writes it (for a parsed file: the file itself). */
export function serializeNotebook(nb: Notebook): string {
  const extra = nb.extra ? (losslessParse(nb.extra) as Record<string, unknown>) : {};
  const root: Record<string, unknown> = {};
  for (const k of nb.keys) {
    if (k === "cells") root.cells = nb.cells.map(cellTree);
    else if (k === "metadata") root.metadata = losslessParse(nb.metadata);
    else if (k === "nbformat") root.nbformat = nb.nbformat;
    else if (k === "nbformat_minor") root.nbformat_minor = nb.nbformat_minor;
    else if (k in extra) root[k] = extra[k];
  }
  const text = losslessStringify(root, undefined, nb.indent) ?? "{}";
  return nb.newline ? `${text}\n` : text;
}

/** Whether a notebook's files carry cell ids (nbformat 4.5 and later). */
export function hasCellIds(nb: Pick<Notebook, "nbformat" | "nbformat_minor">): boolean {
  return nb.nbformat > 4 || nb.nbformat_minor >= 5;
}

/** The keys of a new cell as Jupyter writes them (sorted; `id` from nbformat 4.5). */
export function cellKeys(type: CellType, ids: boolean): string[] {
  const keys =
    type === "code"
      ? ["cell_type", "execution_count", "id", "metadata", "outputs", "source"]
      : ["cell_type", "id", "metadata", "source"];
  return ids ? keys : keys.filter((k) => k !== "id");
}

/** A new cell of a notebook whose file does (`ids`) or does not carry cell ids. */
export function newCell(type: CellType, source: string, id: string, ids: boolean): NotebookCell {
  const cell: NotebookCell = {
    id,
    cell_type: type,
    source,
    metadata: "{}",
    keys: cellKeys(type, ids),
  };
  if (type === "code") {
    cell.outputs = "[]";
    cell.execution_count = null;
  }
  return cell;
}

/** A cell changed to `type`: code cells get (empty) outputs, others lose theirs. */
export function withCellType(cell: NotebookCell, type: CellType): NotebookCell {
  if (cell.cell_type === type) return cell;
  const { outputs: _o, execution_count: _e, displays: _d, ...rest } = cell;
  let keys = cell.keys.filter((k) => k !== "outputs" && k !== "execution_count");
  if (type === "code") {
    keys = [...keys, "execution_count", "outputs"].sort();
    return { ...rest, cell_type: type, keys, outputs: "[]", execution_count: null };
  }
  return { ...rest, cell_type: type, keys };
}

/** A new, empty notebook (nbformat 4.5) for `language`. */
export function emptyNotebook(): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: "{}",
    keys: ["cells", "metadata", "nbformat", "nbformat_minor"],
    indent: 1,
    newline: true,
    cells: [],
  };
}

/** The outputs of a code cell as the page draws them (multiline text joined). */
export function cellOutputs(cell: Pick<NotebookCell, "outputs">): NotebookOutput[] {
  if (!cell.outputs) return [];
  const raw = JSON.parse(cell.outputs) as Record<string, unknown>[];
  return raw.map((o) => {
    if (o.output_type === "stream")
      return { output_type: "stream", name: String(o.name), text: joinText(o.text, "stream") };
    if (o.output_type === "error")
      return {
        output_type: "error",
        ename: String(o.ename),
        evalue: String(o.evalue),
        traceback: (o.traceback as string[]) ?? [],
      };
    const data: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((o.data as Record<string, unknown>) ?? {})) {
      data[k] = Array.isArray(v) && !isJsonMime(k) ? v.join("") : v;
    }
    return {
      output_type: o.output_type as "display_data" | "execute_result",
      data,
      metadata: (o.metadata as Record<string, unknown>) ?? {},
      ...(o.execution_count !== undefined && {
        execution_count: o.execution_count as number | null,
      }),
    };
  });
}

/** nbformat's JSON mime types, whose data is JSON rather than text. */
export function isJsonMime(mime: string): boolean {
  return mime === "application/json" || /^application\/(.+\+)?json$/.test(mime);
}

/**
 * An output as a kernel reports it (text as strings), in nbformat's file form: multiline
 * text as lists of lines, as Jupyter writes them.
 */
export function outputForFile(o: NotebookOutput): Record<string, unknown> {
  if (o.output_type === "stream") return { ...o, text: splitLines(o.text) };
  if (o.output_type === "error") return { ...o };
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o.data))
    data[k] = typeof v === "string" && !isJsonMime(k) ? splitLines(v) : v;
  return { ...o, data };
}

/**
 * Outputs (nbformat JSON text of a list, file form) with `more` appended: a stream output
 * right after one of the same stream continues it (its text joined and split into lines
 * again), as Jupyter's notebook writes a cell's output.
 */
export function appendOutputs(outputs: string, more: string): string {
  return appendedOutputs(outputs, more).outputs;
}

/** appendOutputs, and how many outputs there are then. */
export function appendedOutputs(outputs: string, more: string): { outputs: string; count: number } {
  const list = JSON.parse(outputs) as Record<string, unknown>[];
  const text = (o: Record<string, unknown>) =>
    Array.isArray(o.text) ? o.text.join("") : String(o.text ?? "");
  for (const o of JSON.parse(more) as Record<string, unknown>[]) {
    const last = list.at(-1);
    if (o.output_type === "stream" && last?.output_type === "stream" && last.name === o.name) {
      list[list.length - 1] = { ...last, text: splitLines(text(last) + text(o)) };
    } else list.push(o);
  }
  return { outputs: JSON.stringify(list), count: list.length };
}

/** The kernelspec a notebook names (metadata.kernelspec: name, display_name), if it names one. */
export function notebookKernelspec(
  nb: Pick<Notebook, "metadata"> | undefined,
): { name: string; displayName?: string } | undefined {
  if (!nb) return undefined;
  try {
    const k = (
      JSON.parse(nb.metadata) as { kernelspec?: { name?: unknown; display_name?: unknown } }
    ).kernelspec;
    if (typeof k?.name !== "string" || !k.name) return undefined;
    return {
      name: k.name,
      ...(typeof k.display_name === "string" && k.display_name && { displayName: k.display_name }),
    };
  } catch {
    return undefined; // not JSON: none
  }
}

/** A kernelspec as a notebook's metadata names it (nbformat's `kernelspec`). */
export interface NotebookKernelspec {
  name: string;
  display_name: string;
  language: string;
}

/**
 * A notebook's metadata (JSON text) naming `spec` as its kernel: `kernelspec` set (its keys
 * sorted, as Jupyter writes them), and `language_info` made `{ name: language }` when it
 * named another language (a kernel of the same language keeps what its kernel wrote there).
 * The rest stays as it was, numbers as written; a new key goes where sorting puts it when the
 * keys were sorted, else last.
 */
export function withKernelspec(metadata: string, spec: NotebookKernelspec): string {
  const m = losslessParse(metadata);
  if (!isObject(m)) throw invalid("the notebook's metadata is not an object");
  const info = m.language_info;
  const sameLanguage = isObject(info) && info.name === spec.language;
  const set: Record<string, unknown> = {
    kernelspec: { display_name: spec.display_name, language: spec.language, name: spec.name },
    ...(!sameLanguage && { language_info: { name: spec.language } }),
  };
  const keys = Object.keys(m);
  const sorted = keys.every((k, i) => i === 0 || keys[i - 1]! <= k);
  const all = [...keys, ...Object.keys(set).filter((k) => !(k in m))];
  if (sorted) all.sort();
  const out: Record<string, unknown> = {};
  for (const k of all) out[k] = k in set ? set[k] : m[k];
  return jsonText(out);
}

/** The language of a notebook's code cells, from its metadata (language_info, kernelspec). */
export function notebookLanguage(nb: Pick<Notebook, "metadata">): string {
  try {
    const m = JSON.parse(nb.metadata) as {
      language_info?: { name?: unknown };
      kernelspec?: { language?: unknown; name?: unknown };
    };
    const name = m.language_info?.name ?? m.kernelspec?.language;
    if (typeof name === "string" && name) return name.toLowerCase();
  } catch {
    // not JSON: the default
  }
  return "python";
}
