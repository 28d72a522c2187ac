/**
 * Messages between an fs service and its worker process (Node's IPC channel, with advanced
 * serialization so a download's bytes travel as bytes; an upload's come on a socket of their
 * own, worker-bytes.ts).
 */
import type { Uncommitted } from "../../shared/envelope.js";
import type { ErrorPayload } from "../../shared/errors.js";
import type { FsChange, FsEvent } from "../../shared/files.js";

export type ToWorker =
  | {
      type: "init";
      uid: number;
      gid: number;
      home: string;
      sandbox?: string;
      hideOutside?: boolean;
    }
  | { type: "request"; id: number; request: unknown }
  /**
   * An upload or download request (shared/file-transfer.ts); a chunk's `bytes` (its length)
   * come on the bytes socket (worker-bytes.ts).
   */
  | { type: "transfer"; id: number; request: unknown; bytes: number }
  /** Removes an abandoned upload's temp file (from the service's journal). */
  | { type: "remove-temp"; id: number; path: string }
  /** The event `n` is published (or given up): the operation that caused it may reply. */
  | { type: "emitted"; n: number }
  | { type: "stop" };

export type FromWorker =
  | { type: "ready"; home: string; sandbox: string | null }
  | { type: "failed"; message: string }
  | { type: "reply"; id: number; ok: true; result: unknown; bytes?: Uint8Array }
  | { type: "reply"; id: number; ok: false; error: ErrorPayload }
  | { type: "event"; n: number; event: Uncommitted<FsEvent> }
  | { type: "change"; change: FsChange };
