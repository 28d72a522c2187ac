/**
 * Notebook events too large for one NATS message (a notebook opened with its images, a cell's
 * outputs, a restore): the docs service stores such an event as NotebookPartStored parts, one
 * after another on the notebook's subject, each a piece of the event's JSON; every reader
 * joins them back into the one event before folding it, so the fold, history and the pages
 * see whole events only, each at the sequence of its last part. Pure.
 *
 * A run of parts the service did not finish (it stopped between two) was never answered: the
 * next event that is not its continuation ends it, and it is dropped.
 */
import { bytesToBase64url } from "./base64url.js";
import { EventRegistry, envelope } from "./envelope.js";
import {
  NOTEBOOK_EVENT_MAX_BYTES,
  NOTEBOOK_EVENT_MAX_PARTS,
  type NotebookEvent,
  NotebookEvents,
  type NotebookPart,
  NotebookPartStored,
  type NotebookStreamEvent,
} from "./notebook-doc.js";
import { sha256 } from "./sha256.js";

/** Room in a part's message for its envelope and fields besides `text`. */
const PART_ROOM = 8 * 1024;

const wholeEvents = new EventRegistry<NotebookEvent>(NotebookEvents);
const encoder = new TextEncoder();

/** Bytes of `s` as UTF-8. */
export function utf8Bytes(s: string): number {
  return encoder.encode(s).length;
}

/** What one UTF-16 unit at `i` of `s` (with its pair) costs inside a JSON string, in bytes. */
function jsonCost(s: string, i: number): [bytes: number, units: number] {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x5c) return [2, 1];
  if (c < 0x20) return [6, 1];
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [4, 2];
    return [6, 1];
  }
  if (c >= 0xdc00 && c <= 0xdfff) return [6, 1];
  return [3, 1];
}

/** `text` cut into pieces each at most `max` bytes once written as a JSON string. */
export function splitForJson(text: string, max: number): string[] {
  const out: string[] = [];
  let start = 0;
  let bytes = 2;
  for (let i = 0; i < text.length; ) {
    const [b, n] = jsonCost(text, i);
    if (bytes + b > max && i > start) {
      out.push(text.slice(start, i));
      start = i;
      bytes = 2;
    }
    bytes += b;
    i += n;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** The envelope id of part `part` of the event `id`, stored when the stream ended at `last`. */
function partId(id: string, part: number, last: number): string {
  return bytesToBase64url(sha256(`${id}\npart ${part}\nafter ${last}`).subarray(0, 18));
}

/**
 * The messages that store `event`: itself when it fits one, else its parts. `last` is the
 * stream's last sequence before them: a part's id is unique to this attempt, so a run left
 * unfinished never makes a later attempt's parts duplicates.
 */
export function splitNotebookEvent(
  event: NotebookEvent,
  last: number,
  max = NOTEBOOK_EVENT_MAX_BYTES,
): NotebookStreamEvent[] {
  const json = JSON.stringify(event);
  if (utf8Bytes(json) <= max) return [event];
  const pieces = splitForJson(json, max - PART_ROOM);
  if (pieces.length > NOTEBOOK_EVENT_MAX_PARTS)
    throw new Error(`notebook event of ${json.length} characters needs too many parts`);
  const summary =
    event.type === "NotebookOpened"
      ? { path: event.data.path, cells: event.data.notebook.cells.length }
      : event.type === "CellsInserted"
        ? { cells: event.data.cells.length }
        : {};
  return pieces.map((text, part) =>
    envelope(
      NotebookPartStored,
      {
        of: event.type,
        part,
        parts: pieces.length,
        text,
        ...(part === pieces.length - 1 && summary),
      },
      { actor: event.actor, at: event.at, id: partId(event.id, part, last) },
    ),
  );
}

/**
 * Joins a stream's parts back into events: give it every event of the notebook's stream in
 * order; it answers each whole event (a part's: once its last part came).
 */
export class NotebookPartJoiner {
  private run: { of: string; parts: number; texts: string[] } | undefined;

  /** A run of parts waits for its rest (the stream's tail, or a run left unfinished). */
  get waiting(): boolean {
    return this.run !== undefined;
  }

  push(event: NotebookStreamEvent): NotebookEvent | undefined {
    if (event.type !== NotebookPartStored.type) {
      this.run = undefined;
      return event as NotebookEvent;
    }
    const p = (event as NotebookPart).data;
    const run = this.run;
    if (p.part === 0) this.run = { of: p.of, parts: p.parts, texts: [p.text] };
    else if (run && run.of === p.of && run.parts === p.parts && run.texts.length === p.part)
      run.texts.push(p.text);
    else {
      // The rest of a run left unfinished, or a part without its start: not an event.
      this.run = undefined;
      return undefined;
    }
    const done = this.run!;
    if (done.texts.length < done.parts) return undefined;
    this.run = undefined;
    const whole = wholeEvents.parse(done.texts.join(""));
    if (whole.type !== done.of)
      throw new Error(`notebook stream: parts of ${done.of} joined into ${whole.type}`);
    return whole;
  }
}
