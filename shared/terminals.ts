/**
 * Terminals: the lifecycle events and commands, the `terms` view, terminal ids, and the wire
 * formats of the recording and screen snapshots, shared by the terminals service, the web
 * app and tests. Output is not an event: `ws.<wsid>.term.<tid>.out` holds raw output chunks
 * and size markers (headers only), which is all a terminal emulator needs to replay it.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url, randomId } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";
import { sha256 } from "./sha256.js";

/** Lines of scrollback kept by every terminal emulator of a terminal (headless and browser alike). */
export const TERM_SCROLLBACK = 10_000;
/** Largest output chunk: flood output is cut into chunks of at most this size. */
export const TERM_MAX_CHUNK = 32 * 1024;
/** Largest keystroke message; the browser cuts a paste into pieces of this size. */
export const TERM_MAX_INPUT = 16 * 1024;
/** Largest stored snapshot value (the KV bucket and nats-server's max_payload allow 1 MiB). */
export const TERM_MAX_SNAPSHOT = 960 * 1024;
/**
 * The header on each message of a terminal's recording (`.out`): the byte offset in the
 * terminal's output where it applies (for a chunk: of its first byte).
 */
export const TERM_OFFSET_HEADER = "Term-Offset";
/** The header of a size marker in the recording: `<cols>x<rows>`; such a message has no body. */
export const TERM_SIZE_HEADER = "Term-Size";

/**
 * The header of a numbered keystroke message (a request): `<stream>.<seq>.<acked>` — the
 * page's stream of keystrokes (a random id per attach), this piece's number (from 1), and the
 * highest number the page has seen acknowledged. The service writes each number once, in
 * order, and answers with an InputAck. Keystrokes without it are written as they come.
 */
export const TERM_INPUT_HEADER = "Term-Input";

export interface InputTag {
  stream: string;
  seq: number;
  acked: number;
}

export function formatInputTag(t: InputTag): string {
  return `${t.stream}.${t.seq}.${t.acked}`;
}

/** The tag of a keystroke message, or undefined when it is not one. */
export function parseInputTag(text: string | undefined): InputTag | undefined {
  const m = text ? /^([A-Za-z0-9_-]{8,64})\.(\d{1,15})\.(\d{1,15})$/.exec(text) : null;
  if (!m) return undefined;
  const seq = Number(m[2]);
  const acked = Number(m[3]);
  return seq >= 1 && acked < seq ? { stream: m[1]!, seq, acked } : undefined;
}

/**
 * The service's answer to a numbered keystroke message: written (or already written: `seq`
 * is the highest written of the stream), a gap (`expect`: the number it needs next; the page
 * sends again from there), or the terminal does not run (the keys are dropped).
 */
export type InputAck =
  | { ok: true; seq: number }
  | { ok: false; expect: number }
  | { ok: false; gone: true };

export const TERM_MIN_COLS = 2;
export const TERM_MAX_COLS = 1000;
export const TERM_MIN_ROWS = 1;
export const TERM_MAX_ROWS = 500;
export const TERM_DEFAULT_SIZE = { cols: 80, rows: 24 } as const;

const TERMINAL_ID = "^[A-Za-z0-9_-]{8,64}$";
const Cols = Type.Integer({ minimum: TERM_MIN_COLS, maximum: TERM_MAX_COLS });
const Rows = Type.Integer({ minimum: TERM_MIN_ROWS, maximum: TERM_MAX_ROWS });
/** An absolute path (the service checks that it exists when it spawns). */
const AbsolutePath = Type.String({ pattern: "^/[^\\u0000]*$", maxLength: 4096 });
const Title = Type.String({ minLength: 1, maxLength: 200 });
const Generation = Type.Integer({ minimum: 1 });

/** A new terminal id for a terminal that has no file. */
export function newTerminalId(): string {
  return `t${randomId()}`;
}

/** The id of the named terminal of a terminal file (`*.term`): the same path, the same terminal. */
export function terminalIdForPath(path: string): string {
  return `p${bytesToBase64url(sha256(path)).slice(0, 22)}`;
}

/** True for an id newTerminalId or terminalIdForPath could have made. */
export function isTerminalId(tid: string): boolean {
  return new RegExp(TERMINAL_ID).test(tid);
}

/** The title a terminal file's terminal gets: its name without `.term`. */
export function titleForPath(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.term$/, "");
  return (name || "Terminal").slice(0, 200);
}

/** The directory a path is in. */
export function directoryOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

// ---------------------------------------------------------------------------------------------
// Events (on `ws.<wsid>.term.<tid>.life`)

export const TerminalOpened = defineEvent(
  "TerminalOpened",
  1,
  Type.Object(
    {
      generation: Generation,
      title: Title,
      /** Where the shell starts; absent: the home directory. */
      cwd: Type.Optional(AbsolutePath),
      /** The terminal file this terminal belongs to, if any. */
      path: Type.Optional(AbsolutePath),
      cols: Cols,
      rows: Rows,
    },
    { additionalProperties: false },
  ),
);
/** A new shell in the same terminal (same output stream), after an exit or on request. */
export const TerminalRestarted = defineEvent(
  "TerminalRestarted",
  1,
  Type.Object({ generation: Generation }, { additionalProperties: false }),
);
/** The pty got a new size (the recording has a size marker at the same place). */
export const TerminalResized = defineEvent(
  "TerminalResized",
  1,
  Type.Object({ cols: Cols, rows: Rows }, { additionalProperties: false }),
);
/** The shell of `generation` ended (code and signal as the OS reports them). */
export const TerminalExited = defineEvent(
  "TerminalExited",
  1,
  Type.Object(
    {
      generation: Generation,
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.Integer(), Type.Null()]),
      /** Why, when it is not the shell's own doing (could not start, pty host lost). */
      reason: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
);
/** The terminal is gone: its shell is ended and it leaves the view. */
export const TerminalClosed = defineEvent(
  "TerminalClosed",
  1,
  Type.Object({ generation: Generation }, { additionalProperties: false }),
);

/**
 * A terminal from before lifecycle had a stream of its own, whose opening had expired with
 * the day its old stream kept: what the `terms` view knew of it, as the first event of its
 * lifecycle (written once, by the move to WS_TERM_LIFE).
 */
export const TerminalCarriedOver = defineEvent(
  "TerminalCarriedOver",
  1,
  Type.Object(
    {
      generation: Generation,
      title: Title,
      cwd: Type.Optional(AbsolutePath),
      path: Type.Optional(AbsolutePath),
      status: Type.Union([Type.Literal("running"), Type.Literal("exited")]),
      cols: Cols,
      rows: Rows,
      exit: Type.Optional(
        Type.Object(
          {
            code: Type.Union([Type.Integer(), Type.Null()]),
            signal: Type.Union([Type.Integer(), Type.Null()]),
            reason: Type.Optional(Type.String({ maxLength: 500 })),
            at: Type.String({ maxLength: 64 }),
          },
          { additionalProperties: false },
        ),
      ),
      openedAt: Type.String({ maxLength: 64 }),
      openedBy: Type.String({ maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
);

export const TerminalEvents = [
  TerminalOpened,
  TerminalRestarted,
  TerminalResized,
  TerminalExited,
  TerminalClosed,
  TerminalCarriedOver,
] as const;
export type TerminalEvent =
  | EventOf<typeof TerminalOpened>
  | EventOf<typeof TerminalRestarted>
  | EventOf<typeof TerminalResized>
  | EventOf<typeof TerminalExited>
  | EventOf<typeof TerminalClosed>
  | EventOf<typeof TerminalCarriedOver>;
export type TerminalEventType = TerminalEvent["type"];

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.terminals`)

/** Opens a terminal, or does nothing when it is already open (then the caller just attaches). */
export const OpenTerminal = defineCommand(
  "OpenTerminal",
  Type.Object(
    {
      tid: Type.String({ pattern: TERMINAL_ID }),
      title: Type.Optional(Title),
      cwd: Type.Optional(AbsolutePath),
      /** A terminal file: then tid must be terminalIdForPath(path). */
      path: Type.Optional(AbsolutePath),
      cols: Type.Optional(Cols),
      rows: Type.Optional(Rows),
    },
    { additionalProperties: false },
  ),
);
export const RestartTerminal = defineCommand(
  "RestartTerminal",
  Type.Object({ tid: Type.String({ pattern: TERMINAL_ID }) }, { additionalProperties: false }),
);
export const CloseTerminal = defineCommand(
  "CloseTerminal",
  Type.Object({ tid: Type.String({ pattern: TERMINAL_ID }) }, { additionalProperties: false }),
);
export const TerminalCommands = [OpenTerminal, RestartTerminal, CloseTerminal] as const;
export type OpenTerminalData = Static<typeof OpenTerminal.schema>;

// ---------------------------------------------------------------------------------------------
// Core NATS messages from viewers (never stored)

/** `ws.<wsid>.term.<tid>.resize`: the size a viewer's pane fits. */
export const ResizeRequestSchema = Type.Object(
  { cols: Cols, rows: Rows, viewer: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);
export type ResizeRequest = Static<typeof ResizeRequestSchema>;

/** `ws.<wsid>.term.<tid>.viewer`: a heartbeat while attached, and "closed" on detach. */
export const ViewerPresenceSchema = Type.Object(
  {
    viewer: Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" }),
    label: Type.String({ maxLength: 100 }),
    state: Type.Union([Type.Literal("open"), Type.Literal("closed")]),
  },
  { additionalProperties: false },
);
export type ViewerPresence = Static<typeof ViewerPresenceSchema>;
/** How often an attached viewer says it is there; it is dropped after three missed beats. */
export const VIEWER_HEARTBEAT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// The `terms` view (key `<wsid>.<tid>`)

export const TerminalStatuses = ["running", "exited"] as const;
export type TerminalStatus = (typeof TerminalStatuses)[number];

/** Someone attached to a terminal right now. */
export interface TerminalViewerInfo {
  id: string;
  label: string;
  since: string;
}

export interface TerminalView extends ShowsRejections {
  wsid: string;
  tid: string;
  title: string;
  cwd?: string;
  path?: string;
  status: TerminalStatus;
  generation: number;
  cols: number;
  rows: number;
  exit?: { code: number | null; signal: number | null; reason?: string; at: string };
  openedAt: string;
  openedBy: string;
  updatedAt: string;
  /** Live state written by the service, not projected from events: the shell's pid… */
  pid?: number;
  /** …and who is attached. */
  viewers: TerminalViewerInfo[];
}

/** How a terminal's exit reads in the UI: "exited (code 0)", "exited (signal 9)". */
export function exitSummary(exit: NonNullable<TerminalView["exit"]>): string {
  if (exit.code !== null && exit.signal === null) return `exited (code ${exit.code})`;
  if (exit.signal !== null && exit.signal !== 0) return `exited (signal ${exit.signal})`;
  if (exit.code !== null) return `exited (code ${exit.code})`;
  return "exited";
}

// ---------------------------------------------------------------------------------------------
// Snapshots (KV `term-snapshots`, key `<wsid>.<tid>`)

/**
 * What a snapshot is of: the headless terminal after every message of the terminal's
 * recording up to stream sequence `seq`, i.e. output up to byte `offset`.
 */
export interface SnapshotHeader {
  v: 1;
  seq: number;
  offset: number;
  cols: number;
  rows: number;
  generation: number;
  /** How `data` is stored: deflate (zlib format) of the UTF-8 serialization, or plain. */
  encoding: "deflate" | "none";
  at: string;
}

const SNAPSHOT_MAGIC = [0x43, 0x54, 0x53, 0x31]; // "CTS1"

/** A snapshot value: magic, header length, JSON header, then the (compressed) serialized screen. */
export function encodeSnapshot(header: SnapshotHeader, data: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  out.set(SNAPSHOT_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, head.length);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

/** The inverse of encodeSnapshot; throws ERR_TERM_INVALID on anything else. */
export function decodeSnapshot(value: Uint8Array): { header: SnapshotHeader; data: Uint8Array } {
  const bad = (why: string) => new CocalcError("ERR_TERM_INVALID", `bad snapshot: ${why}`);
  if (value.length < 8 || SNAPSHOT_MAGIC.some((b, i) => value[i] !== b)) throw bad("no magic");
  const len = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(4);
  if (8 + len > value.length) throw bad("truncated header");
  let header: SnapshotHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(value.subarray(8, 8 + len))) as SnapshotHeader;
  } catch {
    throw bad("header is not JSON");
  }
  if (
    header?.v !== 1 ||
    !Number.isSafeInteger(header.seq) ||
    !Number.isSafeInteger(header.offset) ||
    !Number.isInteger(header.cols) ||
    !Number.isInteger(header.rows) ||
    (header.encoding !== "deflate" && header.encoding !== "none")
  ) {
    throw bad("unexpected header");
  }
  return { header, data: value.subarray(8 + len) };
}

// ---------------------------------------------------------------------------------------------
// Replay: what one message of a terminal's recording means to a terminal emulator

/** One step of replaying a terminal's recording into a terminal emulator. */
export type ReplayStep =
  | { kind: "output"; offset: number; data: Uint8Array }
  | { kind: "resize"; offset: number; cols: number; rows: number };

/** Interprets a message of `terminalSubjects(...).out` from its two headers and body. */
export function replayStep(
  data: Uint8Array,
  offsetHeader: string | undefined,
  sizeHeader: string | undefined,
): ReplayStep {
  const offset = Number(offsetHeader);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new CocalcError(
      "ERR_TERM_INVALID",
      `recording message without a valid ${TERM_OFFSET_HEADER}`,
    );
  }
  if (sizeHeader !== undefined && sizeHeader !== "") {
    const m = /^(\d{1,4})x(\d{1,4})$/.exec(sizeHeader);
    const cols = Number(m?.[1]);
    const rows = Number(m?.[2]);
    if (
      !m ||
      cols < TERM_MIN_COLS ||
      cols > TERM_MAX_COLS ||
      rows < TERM_MIN_ROWS ||
      rows > TERM_MAX_ROWS
    ) {
      throw new CocalcError(
        "ERR_TERM_INVALID",
        `bad ${TERM_SIZE_HEADER} ${JSON.stringify(sizeHeader)}`,
      );
    }
    return { kind: "resize", offset, cols, rows };
  }
  return { kind: "output", offset, data };
}

/** The size marker header value. */
export function sizeHeader(cols: number, rows: number): string {
  return `${cols}x${rows}`;
}
