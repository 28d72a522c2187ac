/**
 * Kernels: one Jupyter kernel per notebook, run by the kernels service. Its lifecycle and
 * execution queue are events on `ws.<wsid>.kernel.<kid>.life` (the aggregate commands are
 * decided on), what executions produce (outputs, display updates, clears) are events on
 * `ws.<wsid>.kernel.<kid>.out`; both are in stream WS_KERNEL, so a notebook opened later
 * replays every output made while no browser was open. The `kernels` view holds each
 * kernel's state and queue. Completion and inspection are requests, not events.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import type { ShowsRejections } from "./rejections.js";
import { sha256 } from "./sha256.js";

/** Largest source of one execution (a command carries it, and commands are at most 256 KiB). */
export const KERNEL_MAX_CODE = 200_000;
/** Largest output event: bigger outputs are replaced by a note saying how big they were. */
export const KERNEL_MAX_OUTPUT_BYTES = 900 * 1024;
/** Stream text is gathered into events of at most this many characters. */
export const KERNEL_MAX_STREAM_CHUNK = 64 * 1024;
/** How much of a dead kernel's stderr its KernelDied event keeps (the end of it). */
export const KERNEL_MAX_STDERR = 8000;

const KERNEL_ID = "^k[A-Za-z0-9_-]{8,64}$";
const EXECUTION_ID = "^[A-Za-z0-9_-]{8,64}$";
/** A kernelspec's name, as `jupyter kernelspec list` shows it (its directory's name). */
export const KERNELSPEC_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$";

const KernelId = Type.String({ pattern: KERNEL_ID });
const ExecutionId = Type.String({ pattern: EXECUTION_ID });
/** A notebook cell's id (nbformat 4.5: 1-64 of letters, digits, '-' and '_'). */
const CellId = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const KernelspecName = Type.String({ pattern: KERNELSPEC_NAME });
const AbsolutePath = Type.String({ pattern: "^/[^\\u0000]*$", maxLength: 4096 });
const Generation = Type.Integer({ minimum: 1 });
const ShortText = Type.String({ maxLength: 500 });

/** The kernel of a notebook: the same path, the same kernel, for every tab. */
export function kernelIdForPath(path: string): string {
  return `k${bytesToBase64url(sha256(path)).slice(0, 22)}`;
}

/** True for an id kernelIdForPath could have made. */
export function isKernelId(kid: string): boolean {
  return new RegExp(KERNEL_ID).test(kid);
}

// ---------------------------------------------------------------------------------------------
// Outputs, as nbformat 4 writes them in a notebook

/** A MIME bundle: `text/plain`, `image/png` (base64), `text/html`, … */
const MimeBundle = Type.Record(Type.String(), Type.Unknown());
const Metadata = Type.Record(Type.String(), Type.Unknown());

export const OutputSchema = Type.Union([
  Type.Object(
    {
      output_type: Type.Literal("stream"),
      name: Type.Union([Type.Literal("stdout"), Type.Literal("stderr")]),
      text: Type.String(),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      output_type: Type.Literal("display_data"),
      data: MimeBundle,
      metadata: Metadata,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      output_type: Type.Literal("execute_result"),
      execution_count: Type.Union([Type.Integer(), Type.Null()]),
      data: MimeBundle,
      metadata: Metadata,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      output_type: Type.Literal("error"),
      ename: Type.String(),
      evalue: Type.String(),
      traceback: Type.Array(Type.String()),
    },
    { additionalProperties: false },
  ),
]);
/** One output of a cell. */
export type Output = Static<typeof OutputSchema>;

// ---------------------------------------------------------------------------------------------
// Lifecycle and queue events (on `ws.<wsid>.kernel.<kid>.life`)

const Spec = {
  kernelspec: KernelspecName,
  displayName: Type.String({ maxLength: 200 }),
  language: Type.String({ maxLength: 100 }),
};

/** A kernel was asked for (a new one, or another kernelspec for the notebook). */
export const KernelStarted = defineEvent(
  "KernelStarted",
  1,
  Type.Object(
    { generation: Generation, path: AbsolutePath, ...Spec },
    { additionalProperties: false },
  ),
);
/** The kernel process of `generation` runs and answered kernel_info. */
export const KernelReady = defineEvent(
  "KernelReady",
  1,
  Type.Object(
    {
      generation: Generation,
      pid: Type.Integer({ minimum: 1 }),
      /** The kernel's own words: "ipython 8.5.0", protocol "5.3". */
      implementation: Type.Optional(ShortText),
      protocolVersion: Type.Optional(Type.String({ maxLength: 20 })),
    },
    { additionalProperties: false },
  ),
);
/** A new kernel process for the same notebook (same outputs stream), on request. */
export const KernelRestarted = defineEvent(
  "KernelRestarted",
  1,
  Type.Object({ generation: Generation }, { additionalProperties: false }),
);
/** The kernel process ended without being asked to (or could not start). */
export const KernelDied = defineEvent(
  "KernelDied",
  1,
  Type.Object(
    {
      generation: Generation,
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 20 }), Type.Null()]),
      reason: ShortText,
      /** The end of what the kernel wrote to stderr. */
      stderr: Type.String({ maxLength: KERNEL_MAX_STDERR }),
    },
    { additionalProperties: false },
  ),
);
/** The kernel was ended on request; it leaves the view (its outputs stay in the stream). */
export const KernelShutDown = defineEvent(
  "KernelShutDown",
  1,
  Type.Object({ generation: Generation }, { additionalProperties: false }),
);
/** An interrupt was asked for (the running execution gets KeyboardInterrupt). */
export const KernelInterrupted = defineEvent(
  "KernelInterrupted",
  1,
  Type.Object({ generation: Generation }, { additionalProperties: false }),
);
/** A cell's code is queued on the kernel; executions run in the order they were queued. */
export const ExecutionQueued = defineEvent(
  "ExecutionQueued",
  1,
  Type.Object(
    {
      generation: Generation,
      executionId: ExecutionId,
      cellId: CellId,
      code: Type.String({ maxLength: KERNEL_MAX_CODE }),
    },
    { additionalProperties: false },
  ),
);
/** An execution ended: its outputs are all before this event in the stream. */
export const ExecutionFinished = defineEvent(
  "ExecutionFinished",
  1,
  Type.Object(
    {
      executionId: ExecutionId,
      cellId: CellId,
      /** "aborted": it never ran to its end (an earlier cell failed, restart, death, shutdown). */
      status: Type.Union([Type.Literal("ok"), Type.Literal("error"), Type.Literal("aborted")]),
      executionCount: Type.Union([Type.Integer(), Type.Null()]),
    },
    { additionalProperties: false },
  ),
);
/** The running code asks for a line of input (`input()`, `getpass()`). */
export const InputRequested = defineEvent(
  "InputRequested",
  1,
  Type.Object(
    {
      executionId: ExecutionId,
      cellId: CellId,
      prompt: Type.String({ maxLength: 4000 }),
      password: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
);
/** Input was given; a password's value is never stored (`hidden`). */
export const InputReplied = defineEvent(
  "InputReplied",
  1,
  Type.Object(
    {
      executionId: ExecutionId,
      value: Type.Optional(Type.String({ maxLength: 100_000 })),
      hidden: Type.Optional(Type.Literal(true)),
    },
    { additionalProperties: false },
  ),
);

export const KernelLifeEvents = [
  KernelStarted,
  KernelReady,
  KernelRestarted,
  KernelDied,
  KernelShutDown,
  KernelInterrupted,
  ExecutionQueued,
  ExecutionFinished,
  InputRequested,
  InputReplied,
] as const;
export type KernelLifeEvent =
  | EventOf<typeof KernelStarted>
  | EventOf<typeof KernelReady>
  | EventOf<typeof KernelRestarted>
  | EventOf<typeof KernelDied>
  | EventOf<typeof KernelShutDown>
  | EventOf<typeof KernelInterrupted>
  | EventOf<typeof ExecutionQueued>
  | EventOf<typeof ExecutionFinished>
  | EventOf<typeof InputRequested>
  | EventOf<typeof InputReplied>;

// ---------------------------------------------------------------------------------------------
// Output events (on `ws.<wsid>.kernel.<kid>.out`)

const OfExecution = { executionId: ExecutionId, cellId: CellId };

/** The kernel began running an execution (its number, as `In [n]` shows it). */
export const ExecutionStarted = defineEvent(
  "ExecutionStarted",
  1,
  Type.Object(
    { ...OfExecution, executionCount: Type.Union([Type.Integer(), Type.Null()]) },
    { additionalProperties: false },
  ),
);
/** An output of a cell; `displayId`: later DisplayUpdated events replace it in place. */
export const OutputAdded = defineEvent(
  "OutputAdded",
  1,
  Type.Object(
    {
      ...OfExecution,
      output: OutputSchema,
      displayId: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
);
/** update_display_data: every output with `displayId`, in any cell, now shows this. */
export const DisplayUpdated = defineEvent(
  "DisplayUpdated",
  1,
  Type.Object(
    {
      ...OfExecution,
      displayId: Type.String({ maxLength: 200 }),
      data: MimeBundle,
      metadata: Metadata,
    },
    { additionalProperties: false },
  ),
);
/** clear_output: the cell's outputs go; with `wait`, only once its next output comes. */
export const OutputCleared = defineEvent(
  "OutputCleared",
  1,
  Type.Object({ ...OfExecution, wait: Type.Boolean() }, { additionalProperties: false }),
);

export const KernelOutputEvents = [
  ExecutionStarted,
  OutputAdded,
  DisplayUpdated,
  OutputCleared,
] as const;
export type KernelOutputEvent =
  | EventOf<typeof ExecutionStarted>
  | EventOf<typeof OutputAdded>
  | EventOf<typeof DisplayUpdated>
  | EventOf<typeof OutputCleared>;

/** Every event of a kernel, as a reader of `kernelSubjects(...).all` meets them. */
export const KernelEvents = [...KernelLifeEvents, ...KernelOutputEvents] as const;
export type KernelEvent = KernelLifeEvent | KernelOutputEvent;

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.kernels`)

/** Starts the notebook's kernel; nothing when it already runs that kernelspec. */
export const StartKernel = defineCommand(
  "StartKernel",
  Type.Object(
    { kid: KernelId, path: AbsolutePath, kernelspec: KernelspecName },
    { additionalProperties: false },
  ),
);
/** Queues a cell's code; `executionId` (new, from the caller) names the execution's events. */
export const ExecuteCell = defineCommand(
  "ExecuteCell",
  Type.Object(
    {
      kid: KernelId,
      executionId: ExecutionId,
      cellId: CellId,
      code: Type.String({ maxLength: KERNEL_MAX_CODE }),
    },
    { additionalProperties: false },
  ),
);
export const InterruptKernel = defineCommand(
  "InterruptKernel",
  Type.Object({ kid: KernelId }, { additionalProperties: false }),
);
export const RestartKernel = defineCommand(
  "RestartKernel",
  Type.Object({ kid: KernelId }, { additionalProperties: false }),
);
export const ShutdownKernel = defineCommand(
  "ShutdownKernel",
  Type.Object({ kid: KernelId }, { additionalProperties: false }),
);
/** Answers the execution's input request. */
export const ReplyInput = defineCommand(
  "ReplyInput",
  Type.Object(
    { kid: KernelId, executionId: ExecutionId, value: Type.String({ maxLength: 100_000 }) },
    { additionalProperties: false },
  ),
);
export const KernelCommands = [
  StartKernel,
  ExecuteCell,
  InterruptKernel,
  RestartKernel,
  ShutdownKernel,
  ReplyInput,
] as const;

// ---------------------------------------------------------------------------------------------
// Requests (to `ws.<wsid>.req.kernels`; answered `{ ok: true, result }` or an error)

const CursorPos = Type.Integer({ minimum: 0, maximum: KERNEL_MAX_CODE });
export const KernelRequestSchema = Type.Union([
  /** The kernelspecs on the machine, like `jupyter kernelspec list`. */
  Type.Object({ op: Type.Literal("kernelspecs") }, { additionalProperties: false }),
  /** Tab completion at `cursorPos` (in UTF-16 code units of `code`, as the editor counts). */
  Type.Object(
    {
      op: Type.Literal("complete"),
      kid: KernelId,
      code: Type.String({ maxLength: KERNEL_MAX_CODE }),
      cursorPos: CursorPos,
    },
    { additionalProperties: false },
  ),
  /** Shift-Tab: what the kernel knows of the name at `cursorPos`. */
  Type.Object(
    {
      op: Type.Literal("inspect"),
      kid: KernelId,
      code: Type.String({ maxLength: KERNEL_MAX_CODE }),
      cursorPos: CursorPos,
      detailLevel: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
    },
    { additionalProperties: false },
  ),
]);
export type KernelRequest = Static<typeof KernelRequestSchema>;

/** A kernelspec found on the machine. */
export interface KernelspecInfo {
  name: string;
  displayName: string;
  language: string;
  /** The directory it was found in (its resources). */
  dir: string;
}

export interface KernelResults {
  kernelspecs: { kernelspecs: KernelspecInfo[] };
  complete: { matches: string[]; cursorStart: number; cursorEnd: number };
  inspect: { found: boolean; data: Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------
// The `kernels` view (key `<wsid>.<kid>`)

export const KernelStates = ["starting", "idle", "busy", "restarting", "dead"] as const;
/** What the kernel does now, as the notebook shows it. */
export type KernelState = (typeof KernelStates)[number];

export interface QueuedExecution {
  executionId: string;
  cellId: string;
}

export interface KernelView extends ShowsRejections {
  wsid: string;
  kid: string;
  path: string;
  kernelspec: string;
  displayName: string;
  language: string;
  generation: number;
  state: KernelState;
  /** Executions not finished, in order: the first one runs, the others wait. */
  queue: QueuedExecution[];
  /** The running execution waits for this input. */
  input?: { executionId: string; cellId: string; prompt: string; password: boolean };
  pid?: number;
  implementation?: string;
  died?: {
    code: number | null;
    signal: string | null;
    reason: string;
    stderr: string;
    at: string;
  };
  startedAt: string;
  startedBy: string;
  updatedAt: string;
}
