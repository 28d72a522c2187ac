/**
 * The docs decider: what a command or an outside change of the file turns into, given the
 * document's head, and how a stored event moves the head on. Pure (DocHead is read, except by
 * evolve); the service does the I/O around it.
 */

import {
  checkVersionName,
  type DocHead,
  type DocumentEvent,
  diffEdits,
  type Edit,
  DocHead as Head,
  makePatch,
  mapEdits,
  type PatchSource,
  parsePatch,
} from "../../shared/docs.js";
import { CocalcError } from "../../shared/errors.js";

/** A patch to store: its edits against the head and the event's data. */
export interface DecidedPatch {
  edits: Edit[];
  data: { patch: string; source: PatchSource; client?: string; pid?: string };
}

/**
 * A client's patch against base `base`: validated and rebased onto the head. Throws
 * ERR_DOC_BASE_UNKNOWN or ERR_DOC_PATCH_INVALID. An empty result is still stored, so that
 * its author sees it arrive.
 */
export function decidePatch(
  head: DocHead,
  p: { base: number; patch: string; client: string; pid: string; source?: "revert" },
): DecidedPatch {
  const edits = head.rebase(p.base, p.patch);
  return {
    edits,
    data: {
      patch: makePatch(head.text, edits),
      source: p.source ?? "user",
      client: p.client,
      pid: p.pid,
    },
  };
}

/**
 * The file now holds `now`; it held `before` when we last read or wrote it (undefined: it
 * was missing). Unsaved edits (before → head) stay and the outside change (before → now) is
 * mapped over them; a file that came back wins. Undefined: nothing to store.
 */
export function decideOutsideChange(
  head: DocHead,
  before: string | undefined,
  now: string,
): DecidedPatch | undefined {
  if (now === head.text || now === before) return undefined;
  const edits =
    before === undefined
      ? diffEdits(head.text, now)
      : mapEdits(diffEdits(before, now), diffEdits(before, head.text));
  if (edits.length === 0) return undefined;
  return { edits, data: { patch: makePatch(head.text, edits), source: "disk" } };
}

/**
 * A version's name: `seq` must be a version history keeps, between the floor (history's
 * base, or the opening) and the head, and every version but the floor is a message of the
 * document's patch subject (`storedSubject`: the subject of the stream's message at `seq`,
 * undefined when there is none or it was not looked up). Throws ERR_DOC_VERSION or
 * ERR_DOC_VERSION_NAME.
 */
export function decideVersionName(
  doc: { head: number; floor: number; subject: string; shown: string },
  r: { seq: number; name: string },
  storedSubject: string | undefined,
): { seq: number; name: string } {
  const name = checkVersionName(r.name);
  const kept = r.seq >= doc.floor && r.seq <= doc.head;
  if (!kept || (r.seq !== doc.floor && storedSubject !== doc.subject)) {
    throw new CocalcError(
      "ERR_DOC_VERSION",
      `${r.seq} is not a version of ${doc.shown} that history keeps`,
    );
  }
  return { seq: r.seq, name };
}

/** Moves the head on by stored event `seq` (replay after a restart, or after a publish). */
export function evolveHead(head: DocHead | undefined, event: DocumentEvent, seq: number): DocHead {
  if (event.type === "DocumentOpened") return new Head(event.data.text, seq);
  if (!head) throw new Error(`patch ${seq} has no document text before it`);
  head.apply(seq, parsePatch(event.data.patch, head.text));
  return head;
}
