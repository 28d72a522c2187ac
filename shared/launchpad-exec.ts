/**
 * Streamed exec in a launchpad workspace (`cocalc-launchpad workspace exec|shell`): the
 * client opens a session with the command `OpenExec` on the workspace's command subject and
 * then drives it by request/reply on the session's subjects (hostSubjects().exec): it pulls
 * output (stdout, answered at once or held up to EXEC_HOLD_MS, so output arrives as it is
 * made), pushes stdin one request at a time, resizes the terminal and closes. Every request
 * from the client is a sign of life: a session not heard for EXEC_IDLE_MS is closed and its
 * processes killed. Pulling is the flow control: the host keeps at most EXEC_BUFFER_BYTES of
 * output the client has not acknowledged and pauses the command until it has.
 */
import { Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";

/** Opens a streamed exec session; the reply's `result` is an ExecOpened. */
export const OpenExec = defineCommand(
  "OpenExec",
  Type.Object(
    {
      argv: Type.Array(Type.String({ maxLength: 100_000 }), { minItems: 1, maxItems: 1000 }),
      /** A terminal (pty) for the command: one output stream, resizable. */
      tty: Type.Optional(Type.Boolean()),
      /** The client sends stdin; without it the command's stdin is empty. */
      stdin: Type.Optional(Type.Boolean()),
      cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      /** TERM inside (with a tty). */
      term: Type.Optional(Type.String({ pattern: "^[-_.+A-Za-z0-9]{1,64}$" })),
      root: Type.Optional(Type.Boolean()),
      /** Killed after this long (exit code 124); 0 or absent: no limit. */
      timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400_000 })),
    },
    { additionalProperties: false },
  ),
);

/** The result of OpenExec: where the session is. */
export interface ExecOpened {
  execId: string;
  /** The host that runs it (its session subjects carry the host). */
  hostId: string;
  /** The session ends when the client has not been heard for this long. */
  idleMs: number;
}

/** One piece of output; `data` is base64. Sequence numbers count pieces from 0. */
export interface ExecChunk {
  seq: number;
  stream: "out" | "err";
  data: string;
}

/** How the command ended. */
export interface ExecExit {
  /** The exit code; 128+n for signal n; 124 when it timed out. */
  code: number;
  timedOut?: boolean;
  /** Why the host ended it, when it did (timeout, client gone, closed). */
  reason?: string;
}

/** Request on `stdout`: output from `ack` on (everything before it has arrived). */
export interface ExecReadRequest {
  ack: number;
}

/** Reply on `stdout`: pieces in order; `exit` only once every piece has been sent. */
export interface ExecReadReply {
  ok: true;
  chunks: ExecChunk[];
  exit?: ExecExit;
}

/** Request on `stdin`: the piece numbered `seq` (from 0; a repeat is ignored); `eof` closes. */
export interface ExecWriteRequest {
  seq: number;
  data?: string;
  eof?: boolean;
}

/** Request on `resize`. */
export interface ExecResizeRequest {
  cols: number;
  rows: number;
}

/** A client that has not been heard for this long is gone: its session is closed. */
export const EXEC_IDLE_MS = 15_000;
/** A read with nothing to send is held this long before an empty answer. */
export const EXEC_HOLD_MS = 5_000;
/** Output bytes in one read reply (before base64). */
export const EXEC_READ_BYTES = 256 * 1024;
/** Unacknowledged output the host keeps before it pauses the command. */
export const EXEC_BUFFER_BYTES = 1024 * 1024;
/** Bytes of stdin in one write request (before base64). */
export const EXEC_WRITE_BYTES = 64 * 1024;
/** Exit code of a command ended by its timeout (as timeout(1)). */
export const EXEC_TIMEOUT_EXIT = 124;

/**
 * Opens a command in a workspace whose bytes go over a byte pipe (services/runtime/byte-pipe.ts,
 * hostSubjects().pipe(wsid, pipeId)): the hub's SSH server sends it to the workspace's host
 * directly, never a browser. `kind` "exec" runs argv in the container as the workspace user
 * (stdout on the pipe, stderr as `{ err }` control messages, the exit as `{ exit }`); "tcp"
 * connects to `port` on the container's own network (SSH's -L).
 */
export const OpenPipe = defineCommand(
  "OpenPipe",
  Type.Object(
    {
      pipeId: Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" }),
      kind: Type.Union([Type.Literal("exec"), Type.Literal("tcp")]),
      argv: Type.Optional(
        Type.Array(Type.String({ maxLength: 100_000 }), { minItems: 1, maxItems: 1000 }),
      ),
      tty: Type.Optional(Type.Boolean()),
      cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      term: Type.Optional(Type.String({ pattern: "^[-_.+A-Za-z0-9]{1,64}$" })),
      /** For "tcp": where in the container's network (127.0.0.1 by default). */
      host: Type.Optional(Type.String({ pattern: "^[-.:A-Za-z0-9]{1,255}$" })),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535 })),
    },
    { additionalProperties: false },
  ),
);

/** Control messages of a pipe of OpenPipe, host to hub. */
export type PipeExecControl = { err: string } | { exit: ExecExit };
/** Control messages of a pipe of OpenPipe, hub to host. */
export type PipeExecInput = { cols: number; rows: number };
