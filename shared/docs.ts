/**
 * Documents: a document is the ordered stream of its patches. A patch is a diff-match-patch
 * patch (its text form) made against a known base: the stream sequence of the last patch its
 * author had applied. The docs service rebases a patch onto the head by mapping its edits
 * through the patches after its base, and stores the exact result, so every client applies
 * the same exact patches in the same order and ends with the same text. Clients keep their
 * own edits that are not yet stored and rebase them onto each incoming patch (DocClient).
 */
import { type Static, Type } from "@sinclair/typebox";
import DiffMatchPatch from "diff-match-patch";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import { sha256 } from "./sha256.js";

/** Largest file opened as a text document; larger files are offered for download. */
export const DOC_MAX_BYTES = 384 * 1024;
/** Largest patch text one command may carry. */
export const DOC_MAX_PATCH = 200 * 1024;
/** A snapshot of the text is stored after this many patches. */
export const DOC_SNAPSHOT_EVERY = 200;
/** Presence (cursor, selection) is repeated this often and forgotten after three misses. */
export const DOC_PRESENCE_MS = 5000;
/** Characters of context around each change in a patch (for readers that apply fuzzily). */
const CONTEXT = 8;

/** The document id of canonical path `path`: a key token, the same everywhere. */
export function docIdForPath(path: string): string {
  return bytesToBase64url(sha256(path).subarray(0, 16));
}

/** One edit: replace [from, to) of the old text with `insert`. */
export interface Edit {
  from: number;
  to: number;
  insert: string;
}

/** How much longer `edits` make a text (negative: shorter). */
export function lengthChange(edits: readonly Edit[]): number {
  return edits.reduce((n, e) => n + e.insert.length - (e.to - e.from), 0);
}

const dmp = new DiffMatchPatch();
/** diff-match-patch's hunk class: its toString is the text form. */
const PatchObject = (DiffMatchPatch as unknown as { patch_obj: new () => object }).patch_obj;
dmp.Diff_Timeout = 0.5;
const DIFF_DELETE = -1;
const DIFF_INSERT = 1;
const DIFF_EQUAL = 0;

function invalid(message: string): CocalcError {
  return new CocalcError("ERR_DOC_PATCH_INVALID", message);
}

/** Applies sorted, non-overlapping edits (positions in `text`). */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  if (edits.length === 0) return text;
  if (edits.length === 1) {
    const e = edits[0]!;
    return text.slice(0, e.from) + e.insert + text.slice(e.to);
  }
  const parts: string[] = [];
  let at = 0;
  for (const e of edits) {
    parts.push(text.slice(at, e.from), e.insert);
    at = e.to;
  }
  parts.push(text.slice(at));
  return parts.join("");
}

/** Checks that edits are sorted, non-overlapping and inside a text of `length`. */
export function checkEdits(edits: readonly Edit[], length: number): void {
  let at = 0;
  for (const e of edits) {
    if (!Number.isInteger(e.from) || !Number.isInteger(e.to) || e.from < at || e.to < e.from) {
      throw invalid("the patch's changes overlap or are out of order");
    }
    if (e.to > length) {
      throw invalid(`the patch changes position ${e.to} of a text of ${length} characters`);
    }
    at = e.to;
  }
}

/** Where position `pos` of a text is after `edits`; `after` puts it after text inserted there. */
export function mapPos(pos: number, edits: readonly Edit[], after: boolean): number {
  let delta = 0;
  for (const e of edits) {
    if (e.from > pos) break;
    if (e.from === pos) {
      if (e.to === pos) {
        if (after) delta += e.insert.length;
        continue;
      }
      return pos + delta;
    }
    if (e.to <= pos) {
      delta += e.insert.length - (e.to - e.from);
      continue;
    }
    return e.from + delta + (after ? e.insert.length : 0);
  }
  return pos + delta;
}

/**
 * Edits of a text rewritten for that text after `through` (both made against the same text).
 * Concurrent insertions at one place: `through`'s come first. Text that `through` deleted is
 * not deleted twice.
 */
export function mapEdits(edits: readonly Edit[], through: readonly Edit[]): Edit[] {
  if (through.length === 0) return edits.slice();
  const out: Edit[] = [];
  for (const e of edits) {
    const from = mapPos(e.from, through, true);
    const to = e.to === e.from ? from : Math.max(from, mapPos(e.to, through, false));
    if (from === to && e.insert === "") continue;
    out.push({ from, to, insert: e.insert });
  }
  return out;
}

/** The edits that turn `a` into `b` (diff-match-patch's diff, merged into replacements). */
export function diffEdits(a: string, b: string): Edit[] {
  if (a === b) return [];
  const diffs = dmp.diff_main(a, b, false);
  const out: Edit[] = [];
  let pos = 0;
  let cur: Edit | undefined;
  for (const [op, text] of diffs) {
    if (op === DIFF_EQUAL) {
      if (cur) out.push(cur);
      cur = undefined;
      pos += text.length;
    } else if (op === DIFF_DELETE) {
      cur ??= { from: pos, to: pos, insert: "" };
      cur.to += text.length;
      pos += text.length;
    } else {
      cur ??= { from: pos, to: pos, insert: "" };
      cur.insert += text;
    }
  }
  if (cur) out.push(cur);
  return out;
}

type PatchObj = {
  diffs: [number, string][];
  start1: number;
  start2: number;
  length1: number;
  length2: number;
};

/** The diff-match-patch patch (text form) of `edits` on `text`, with a little context. */
export function makePatch(text: string, edits: readonly Edit[]): string {
  checkEdits(edits, text.length);
  const patches: PatchObj[] = [];
  let delta = 0;
  let cur: PatchObj | undefined;
  let curEnd = 0; // end in the old text of what `cur` covers, context included
  for (const e of edits) {
    if (e.from === e.to && e.insert === "") continue;
    if (cur && e.from - CONTEXT <= curEnd) {
      // Close to the previous change: one hunk, the text between as equal.
      const lastEq = cur.diffs[cur.diffs.length - 1]!;
      const between = text.slice(curEnd - lastEq[1].length, e.from);
      // Replace the trailing context by the full text between the two changes.
      cur.diffs.pop();
      cur.length1 -= lastEq[1].length;
      cur.length2 -= lastEq[1].length;
      if (between) cur.diffs.push([DIFF_EQUAL, between]);
      cur.length1 += between.length;
      cur.length2 += between.length;
    } else {
      if (cur) patches.push(cur);
      const start = Math.max(0, e.from - CONTEXT);
      const pre = text.slice(start, e.from);
      cur = Object.assign(new PatchObject(), {
        diffs: pre ? [[DIFF_EQUAL, pre]] : [],
        start1: start,
        start2: start + delta,
        length1: pre.length,
        length2: pre.length,
      }) as PatchObj;
    }
    if (e.to > e.from) {
      cur.diffs.push([DIFF_DELETE, text.slice(e.from, e.to)]);
      cur.length1 += e.to - e.from;
    }
    if (e.insert) {
      cur.diffs.push([DIFF_INSERT, e.insert]);
      cur.length2 += e.insert.length;
    }
    delta += e.insert.length - (e.to - e.from);
    const post = text.slice(e.to, e.to + CONTEXT);
    // Always end with an equal (possibly empty) so the merge above can find it.
    cur.diffs.push([DIFF_EQUAL, post]);
    cur.length1 += post.length;
    cur.length2 += post.length;
    curEnd = e.to + post.length;
  }
  if (cur) patches.push(cur);
  for (const p of patches) {
    const last = p.diffs[p.diffs.length - 1];
    if (last && last[0] === DIFF_EQUAL && last[1] === "") p.diffs.pop();
  }
  return dmp.patch_toText(patches as never);
}

/** The hunks of a patch (text form); throws ERR_DOC_PATCH_INVALID when it is not one. */
function hunksOf(patch: string): PatchObj[] {
  if (typeof patch !== "string") throw invalid("the patch is not text");
  try {
    return dmp.patch_fromText(patch) as unknown as PatchObj[];
  } catch (err) {
    throw invalid(`the patch is malformed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The edits of a patch (text form), checked: well-formed, hunks in order, and, when `text` is
 * given, every deleted and context character matching it. Throws ERR_DOC_PATCH_INVALID.
 */
export function parsePatch(patch: string, text?: string): Edit[] {
  const patches = hunksOf(patch);
  const edits: Edit[] = [];
  let delta = 0;
  let prevEnd = 0;
  for (const p of patches) {
    let pos = p.start1;
    if (pos < prevEnd) throw invalid("the patch's hunks overlap or are out of order");
    if (p.start2 !== pos + delta) throw invalid("the patch's hunk positions disagree");
    let cur: Edit | undefined;
    for (const [op, s] of p.diffs) {
      if (op === DIFF_EQUAL) {
        if (text !== undefined && text.slice(pos, pos + s.length) !== s) {
          throw invalid(`the patch does not match the text at ${pos}`);
        }
        if (cur) edits.push(cur);
        cur = undefined;
        pos += s.length;
      } else if (op === DIFF_DELETE) {
        if (text !== undefined && text.slice(pos, pos + s.length) !== s) {
          throw invalid(`the patch deletes text that is not there at ${pos}`);
        }
        cur ??= { from: pos, to: pos, insert: "" };
        cur.to += s.length;
        pos += s.length;
      } else {
        cur ??= { from: pos, to: pos, insert: "" };
        cur.insert += s;
      }
    }
    if (cur) edits.push(cur);
    if (pos - p.start1 !== p.length1) throw invalid("a hunk's length disagrees with its changes");
    for (const e of edits) if (e.from >= p.start1) delta += e.insert.length - (e.to - e.from);
    prevEnd = pos;
  }
  if (text !== undefined) checkEdits(edits, text.length);
  return edits;
}

/** Applies a stored patch exactly; a mismatch is a broken invariant (throws). */
export function applyPatch(text: string, patch: string): string {
  return applyEdits(text, parsePatch(patch, text));
}

/**
 * The text before a stored patch, from the text after it: what the patch deleted put back,
 * what it inserted taken out (a stored patch is exact and holds what it deleted), so that a
 * past version is reached from a newer one. Throws ERR_DOC_PATCH_INVALID when `after` is not
 * a text the patch could have made.
 */
export function unapplyPatch(after: string, patch: string): string {
  const edits: Edit[] = [];
  for (const p of hunksOf(patch)) {
    let pos = p.start2;
    let cur: Edit | undefined;
    for (const [op, s] of p.diffs) {
      if (op === DIFF_EQUAL) {
        if (cur) edits.push(cur);
        cur = undefined;
        pos += s.length;
        continue;
      }
      cur ??= { from: pos, to: pos, insert: "" };
      if (op === DIFF_DELETE) {
        cur.insert += s;
      } else {
        if (after.slice(pos, pos + s.length) !== s)
          throw invalid(`the text does not hold what the patch inserted at ${pos}`);
        cur.to += s.length;
        pos += s.length;
      }
    }
    if (cur) edits.push(cur);
  }
  checkEdits(edits, after.length);
  return applyEdits(after, edits);
}

/** A patch as it travels to a client: its text form, its sequence and whose it was. */
export interface StreamPatch {
  seq: number;
  patch: string;
  /** The client and patch id the author gave it (absent for patches from disk). */
  client?: string;
  pid?: string;
}

/** Edits a client had not got stored (see DocClient.unstored). */
export interface Unstored {
  seq: number;
  /** The text the unsent edits were made on (the confirmed text plus the patch in flight). */
  sent: string;
  local: string;
  inflight?: { client: string; pid: string; base: number; patch: string };
}

/** The text `u.local` becomes on `text`, the document as it is now (in flight included). */
export function restoreUnstored(u: Unstored, text: string): string {
  const unsent = diffEdits(u.sent, u.local);
  return applyEdits(text, mapEdits(unsent, diffEdits(u.sent, text)));
}

/**
 * A client's view of one document: the confirmed text (what the stream says up to `seq`),
 * the patch in flight (at most one), and local edits made since. The editor's text is
 * always `local`. Pure: the web editor and the tests drive it.
 */
export class DocClient {
  /** The text as of stream sequence `seq`. */
  confirmed: string;
  seq: number;
  /** The text the editor shows. */
  local: string;
  /** The edits in flight, relative to `confirmed`. */
  private inflight:
    | { pid: string; edits: Edit[]; wire: { pid: string; base: number; patch: string } }
    | undefined;
  /** `confirmed` with the in-flight edits applied: what `local` was when they were sent. */
  private sent: string;
  private counter = 0;

  constructor(
    readonly client: string,
    text: string,
    seq: number,
  ) {
    this.confirmed = text;
    this.local = text;
    this.sent = text;
    this.seq = seq;
  }

  /** Nothing in flight and nothing unsent. */
  get idle(): boolean {
    return this.inflight === undefined && this.local === this.sent;
  }

  get pending(): boolean {
    return this.inflight !== undefined;
  }

  /** A local edit (the editor's text changed to `text`). */
  edit(text: string): void {
    this.local = text;
  }

  /** The next patch to send, if nothing is in flight and there is something to send. */
  take(): { pid: string; base: number; patch: string } | undefined {
    if (this.inflight || this.local === this.sent) return undefined;
    const edits = diffEdits(this.confirmed, this.local);
    const pid = `${this.client}-${++this.counter}`;
    const wire = { pid, base: this.seq, patch: makePatch(this.confirmed, edits) };
    this.inflight = { pid, edits, wire };
    this.sent = this.local;
    return wire;
  }

  /**
   * What is not stored yet, to be kept across a page reload: the texts it is relative to and
   * the patch in flight. Undefined when everything is stored.
   */
  unstored(): Unstored | undefined {
    if (this.idle) return undefined;
    return {
      seq: this.seq,
      sent: this.sent,
      local: this.local,
      ...(this.inflight && { inflight: { client: this.client, ...this.inflight.wire } }),
    };
  }

  /** The patch in flight again, exactly as first sent (the service stores it at most once). */
  again(): { pid: string; base: number; patch: string } | undefined {
    return this.inflight?.wire;
  }

  /** The in-flight patch was refused: its edits stay local and go again with the next take(). */
  refused(): void {
    this.inflight = undefined;
    this.sent = this.confirmed;
  }

  /** Applies the next stored patch; returns the editor's new text (unchanged if equal). */
  receive(p: StreamPatch): string {
    if (p.seq <= this.seq) return this.local;
    const incoming = parsePatch(p.patch, this.confirmed);
    const confirmed = applyEdits(this.confirmed, incoming);
    let sent: string;
    if (this.inflight && p.client === this.client && p.pid === this.inflight.pid) {
      this.inflight = undefined;
      sent = confirmed;
    } else if (this.inflight) {
      this.inflight.edits = mapEdits(this.inflight.edits, incoming);
      sent = applyEdits(confirmed, this.inflight.edits);
    } else {
      sent = confirmed;
    }
    if (this.local === this.sent) {
      this.local = sent;
    } else {
      const unsent = diffEdits(this.sent, this.local);
      this.local = applyEdits(sent, mapEdits(unsent, diffEdits(this.sent, sent)));
    }
    this.confirmed = confirmed;
    this.sent = sent;
    this.seq = p.seq;
    return this.local;
  }

  /** Starts over from a snapshot (e.g. after the stream was compacted past `seq`). */
  reset(text: string, seq: number): void {
    const unsent = diffEdits(this.confirmed, this.local);
    this.local = applyEdits(text, mapEdits(unsent, diffEdits(this.confirmed, text)));
    this.confirmed = text;
    this.sent = text;
    this.seq = seq;
    this.inflight = undefined;
  }
}

/**
 * The service side of a patch: the edits of `patch`, made against the text of base `base`,
 * rebased onto the head. `after` holds the edits of every patch after the base, in order.
 */
export function rebaseEdits(
  patch: string,
  baseLength: number,
  after: readonly (readonly Edit[])[],
  baseText?: string,
): Edit[] {
  let edits = parsePatch(patch, baseText);
  checkEdits(edits, baseLength);
  for (const through of after) edits = mapEdits(edits, through);
  return edits;
}

// ---- events, commands and views ----

const AbsolutePath = Type.String({ pattern: "^/[^\\u0000]*$", maxLength: 4096 });
const ClientId = Type.String({ pattern: "^[A-Za-z0-9_-]{4,64}$" });
const PatchId = Type.String({ pattern: "^[A-Za-z0-9_-]{4,80}$" });
const PatchText = Type.String({ maxLength: DOC_MAX_PATCH });

/** Where a patch came from. */
export const PatchSources = ["user", "disk", "revert"] as const;
export type PatchSource = (typeof PatchSources)[number];

/** The document was created from the file's content. */
export const DocumentOpened = defineEvent(
  "DocumentOpened",
  1,
  Type.Object(
    { path: AbsolutePath, text: Type.String({ maxLength: DOC_MAX_BYTES }) },
    { additionalProperties: false },
  ),
);

/** A patch, exact against the document's previous patch. */
export const DocumentPatched = defineEvent(
  "DocumentPatched",
  1,
  Type.Object(
    {
      patch: PatchText,
      source: Type.Union(PatchSources.map((s) => Type.Literal(s))),
      client: Type.Optional(ClientId),
      pid: Type.Optional(PatchId),
    },
    { additionalProperties: false },
  ),
);

export const DocumentEvents = [DocumentOpened, DocumentPatched] as const;
export type DocumentEvent = EventOf<typeof DocumentOpened> | EventOf<typeof DocumentPatched>;

/** Longest name of a version, in characters. */
export const VERSION_NAME_MAX = 80;

/**
 * A version (the document as of patch `seq`) was given a name, or its name was taken away
 * (`name` ""). Kept on the document's names subject, beside its patches: the newest event
 * for a sequence is its name.
 */
export const VersionNamed = defineEvent(
  "VersionNamed",
  1,
  Type.Object(
    {
      seq: Type.Integer({ minimum: 1 }),
      name: Type.String({ maxLength: VERSION_NAME_MAX }),
    },
    { additionalProperties: false },
  ),
);
export const VersionNameEvents = [VersionNamed] as const;
export type VersionNameEvent = EventOf<typeof VersionNamed>;

/**
 * A version's name as it is kept: trimmed, at most VERSION_NAME_MAX characters, no control
 * character. Throws ERR_DOC_VERSION_NAME.
 */
export function checkVersionName(name: string): string {
  const trimmed = name.trim();
  if ([...trimmed].length > VERSION_NAME_MAX) {
    throw new CocalcError(
      "ERR_DOC_VERSION_NAME",
      `a version's name has at most ${VERSION_NAME_MAX} characters`,
    );
  }
  for (const ch of trimmed) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) {
      throw new CocalcError(
        "ERR_DOC_VERSION_NAME",
        "a version's name is one line without control characters",
      );
    }
  }
  return trimmed;
}

/** Opens (creates on first open) the document of a file. */
export const OpenDocument = defineCommand(
  "OpenDocument",
  Type.Object({ path: AbsolutePath }, { additionalProperties: false }),
);

/** A patch against base sequence `base` (the last patch of the document its author applied). */
export const PatchDocument = defineCommand(
  "PatchDocument",
  Type.Object(
    {
      path: AbsolutePath,
      base: Type.Integer({ minimum: 0 }),
      patch: PatchText,
      client: ClientId,
      pid: PatchId,
      source: Type.Optional(Type.Literal("revert")),
    },
    { additionalProperties: false },
  ),
);

/** Writes the document to disk now (Ctrl-S, or "save again" after the file was deleted). */
export const SaveDocument = defineCommand(
  "SaveDocument",
  Type.Object({ path: AbsolutePath }, { additionalProperties: false }),
);

/** Names version `seq` of the document (an empty name takes the name away). */
export const NameVersion = defineCommand(
  "NameVersion",
  Type.Object(
    {
      path: AbsolutePath,
      seq: Type.Integer({ minimum: 1 }),
      name: Type.String({ maxLength: VERSION_NAME_MAX * 4 }),
    },
    { additionalProperties: false },
  ),
);

export const DocumentCommands = [OpenDocument, PatchDocument, SaveDocument, NameVersion] as const;

/** The reply to OpenDocument. */
export interface OpenDocumentResult {
  doc: string;
  /** Not text or too large: not opened. */
  refused?: "binary" | "too-large";
  size?: number;
}

/** The `docs` view: one value per document. */
export interface DocView {
  path: string;
  doc: string;
  /** Sequence of the last patch. */
  head: number;
  length: number;
  /** Sequence written to disk last, and whether the file is there (a notebook's: and valid). */
  saved: number;
  disk: "present" | "deleted" | "invalid";
  /** A notebook document (see shared/notebook-doc.ts): `length` counts its cells. */
  kind?: "notebook";
  /** The first sequence history reaches back to (older patches were compacted). */
  floor: number;
  updatedAt: string;
}

/** A stored text at a sequence: the newest (`head`) and the oldest history keeps (`base`). */
export interface DocSnapshot {
  seq: number;
  text: string;
  at: string;
}

/** A cursor or selection of one viewer (core NATS, never stored). */
export const DocPresenceSchema = Type.Object(
  {
    client: ClientId,
    name: Type.String({ maxLength: 80 }),
    color: Type.String({ pattern: "^#[0-9a-fA-F]{6}$" }),
    seq: Type.Integer({ minimum: 0 }),
    anchor: Type.Integer({ minimum: 0 }),
    head: Type.Integer({ minimum: 0 }),
    gone: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type DocPresence = Static<typeof DocPresenceSchema>;

/**
 * The head of a document as the docs service keeps it: the text, its sequence, and the edits
 * of recent patches so that a patch against an older base can be rebased. Pure.
 */
export class DocHead {
  text: string;
  head: number;
  /** Patches after `start`, in order: their sequence, edits and the length after them. */
  private recent: { seq: number; edits: Edit[]; length: number }[] = [];
  private start: { seq: number; length: number };

  constructor(
    text: string,
    head: number,
    private readonly keep = 5000,
  ) {
    this.text = text;
    this.head = head;
    this.start = { seq: head, length: text.length };
  }

  /** The oldest base a patch may have. */
  get oldestBase(): number {
    return this.start.seq;
  }

  /** The length of the text at oldestBase. */
  get oldestLength(): number {
    return this.start.length;
  }

  /**
   * Adds the patch at `seq` (= oldestBase, loaded from the stream) in front, so that its
   * predecessor `previousSeq` becomes a known base.
   */
  prepend(seq: number, edits: Edit[], lengthBefore: number, previousSeq: number): void {
    if (seq !== this.start.seq)
      throw new Error(`prepend: ${seq} is not the oldest base ${this.start.seq}`);
    this.recent.unshift({ seq, edits, length: this.start.length });
    this.start = { seq: previousSeq, length: lengthBefore };
  }

  /**
   * The edits of a client's patch against `base`, rebased onto the head. Throws
   * ERR_DOC_BASE_UNKNOWN or ERR_DOC_PATCH_INVALID; changes nothing.
   */
  rebase(base: number, patch: string): Edit[] {
    if (base === this.head) return parsePatch(patch, this.text);
    let length: number;
    let i: number;
    if (base === this.start.seq) {
      length = this.start.length;
      i = 0;
    } else {
      i = this.recent.findIndex((r) => r.seq === base);
      if (i === -1 || base > this.head) {
        throw new CocalcError(
          "ERR_DOC_BASE_UNKNOWN",
          `base ${base} is not a version of this document this service knows (head ${this.head}, oldest ${this.start.seq})`,
        );
      }
      length = this.recent[i]!.length;
      i += 1;
    }
    return rebaseEdits(
      patch,
      length,
      this.recent.slice(i).map((r) => r.edits),
    );
  }

  /** Records stored patch `seq` with `edits` (exact against the head). */
  apply(seq: number, edits: Edit[]): void {
    this.text = applyEdits(this.text, edits);
    this.head = seq;
    this.recent.push({ seq, edits, length: this.text.length });
    if (this.recent.length > this.keep) {
      const drop = this.recent.splice(0, this.recent.length - this.keep);
      const last = drop[drop.length - 1]!;
      this.start = { seq: last.seq, length: last.length };
    }
  }

  /** Records a stored event that does not change the text (nothing is rebased across it). */
  skip(seq: number): void {
    this.apply(seq, []);
  }
}

/** What sending a patch to the docs service came to. */
export type SendResult = { ok: true } | { ok: false; code: string; message: string };

/**
 * Keeps one document in sync: local edits go out as patches (one in flight at a time),
 * stored patches come in in stream order. Transport-free: the caller sends and feeds the
 * stream. `changed` is told the new local text after a remote patch.
 */
export class DocSync {
  private sending = false;
  /** The patch in flight got no answer: flush() sends it again. */
  private stalled = false;
  /** The last refusal of a patch (cleared by the next success). */
  problem: { code: string; message: string } | undefined;

  constructor(
    readonly client: DocClient,
    private readonly path: string,
    private readonly send: (p: {
      path: string;
      base: number;
      patch: string;
      client: string;
      pid: string;
    }) => Promise<SendResult>,
    private readonly changed: (text: string) => void = () => undefined,
  ) {}

  /** The local text changed (a keystroke, a paste). Call flush() when it should go out. */
  edit(text: string): void {
    this.client.edit(text);
  }

  /** Sends what is unsent, unless a patch is in flight (it goes when that one is stored). */
  async flush(): Promise<void> {
    if (this.sending) return;
    // A patch whose reply was lost goes again, unchanged: stored at most once.
    const p = this.stalled ? this.client.again() : this.client.take();
    this.stalled = false;
    if (!p) return;
    this.sending = true;
    let result: SendResult;
    try {
      result = await this.send({ path: this.path, client: this.client.client, ...p });
    } catch (err) {
      result = { ok: false, code: "ERR_INTERNAL", message: String(err) };
    } finally {
      this.sending = false;
    }
    if (result.ok) {
      this.problem = undefined;
    } else {
      this.problem = { code: result.code, message: result.message };
      // The patch may have been stored with its reply lost: it is sent again as it was
      // (flush()), never rewritten, so it cannot be stored twice.
      if (result.code === "ERR_COMMAND_TIMEOUT" || result.code === "ERR_INTERNAL") {
        this.stalled = true;
      } else {
        this.client.refused();
      }
    }
  }

  /** The next stored patch of the stream. */
  receive(p: StreamPatch): void {
    const before = this.client.local;
    const after = this.client.receive(p);
    if (!this.client.pending) this.stalled = false;
    if (after !== before) this.changed(after);
    if (!this.client.pending && !this.client.idle && !this.sending) void this.flush();
  }

  /** Everything typed is stored. */
  get synced(): boolean {
    return this.client.idle;
  }
}

/** A readable diff of `a` to `b`: runs of equal (0), deleted (-1) and inserted (1) text. */
export function readableDiff(a: string, b: string): [-1 | 0 | 1, string][] {
  const diffs = dmp.diff_main(a, b);
  dmp.diff_cleanupSemantic(diffs);
  return diffs as [-1 | 0 | 1, string][];
}
