/**
 * Uploads and downloads over NATS (`ws.<wsid>.req.fs-transfer`), for a workspace whose files
 * are on a launchpad host: the hub's gateway turns an HTTP upload or download into these
 * requests, which travel over the host's leaf connection to the workspace's fs service. Bytes
 * go in chunks of at most TRANSFER_CHUNK_BYTES, each one request answered by the host, and
 * the sender keeps at most TRANSFER_WINDOW of them unanswered: memory stays bounded on both
 * sides whatever the size, and a slow disk slows the browser down instead of filling a buffer.
 *
 * A message is a frame: 4 bytes (big-endian length of the JSON that follows), the JSON (the
 * request, or the reply `{ ok, result | error }`), then the chunk's bytes, if any.
 *
 * An upload writes a temp file (UPLOAD_TEMP_PREFIX) beside its target, as plus's HTTP upload
 * does, renamed into place by `finish`, removed by `abort`, by a failure, and by the host when
 * no request came for TRANSFER_IDLE_MS (the gateway went away).
 */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { CocalcError, type ErrorPayload } from "./errors.js";
import { MAX_PATH_BYTES } from "./paths.js";
import { workspaceSubjects } from "./subjects.js";

/** The request token of transfers: `ws.<wsid>.req.fs-transfer`. */
export const TRANSFER_REQUESTS = "fs-transfer";

/** The transfer requests of workspace `wsid`. */
export function transferSubject(wsid: string): string {
  return workspaceSubjects(wsid).request(TRANSFER_REQUESTS);
}

/**
 * Bytes per chunk: as large as nats-server's max_payload (1 MiB, NATS_MAX_PAYLOAD) allows with
 * room for the frame's JSON, because every message costs each process on the way (the
 * gateway, both nats-servers, the fs service) a fixed amount besides its bytes. Part of the
 * protocol: a hub and its hosts run one release.
 */
export const TRANSFER_CHUNK_BYTES = 1024 * 1024 - 4 * 1024;
/**
 * Chunks a sender may have unanswered at once (4 MiB): enough to keep every hop busy; each
 * one more is held several times on the way (the gateway's frame, nats.js's buffers on both
 * ends, the worker's socket), and 8 made the hub's RSS grow by 97 MB in a 1 GiB upload.
 */
export const TRANSFER_WINDOW = 4;
/** A transfer with no request for this long is ended by the host (and an upload's temp removed). */
export const TRANSFER_IDLE_MS = 120_000;
/** How long one transfer request may take (a chunk written to a slow disk, a finish). */
export const TRANSFER_REQUEST_TIMEOUT_MS = 60_000;

export const UploadConflicts = ["fail", "replace", "rename"] as const;
export type UploadConflict = (typeof UploadConflicts)[number];

const PathSchema = Type.String({ minLength: 1, maxLength: MAX_PATH_BYTES });
const IdSchema = Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" });
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const strict = { additionalProperties: false } as const;

/** Every transfer request, by `op`. */
export const TransferRequestSchemas = {
  /**
   * Starts an upload of `name` (a relative path: `folder/sub/file` makes its folders) into
   * `dir`; `conflict` says what happens when the name is taken (as plus's HTTP upload).
   * `save`: a document saved (the docs service's notebooks too large for one message): a file
   * it replaces keeps its mode, and the event is FileWritten (FileCreated when new), as a write's.
   */
  upload: Type.Object(
    {
      op: Type.Literal("upload"),
      dir: PathSchema,
      name: PathSchema,
      conflict: Type.Union(UploadConflicts.map((c) => Type.Literal(c))),
      save: Type.Optional(Type.Literal(true)),
    },
    strict,
  ),
  /** The chunk's bytes (in the frame) belong at `offset`; chunks come in order. */
  chunk: Type.Object({ op: Type.Literal("chunk"), id: IdSchema, offset: Bytes }, strict),
  /** Every byte was sent (`size` in all): the file is put at its name. */
  finish: Type.Object({ op: Type.Literal("finish"), id: IdSchema, size: Bytes }, strict),
  /** The upload ends without a file; its temp file is removed. */
  abort: Type.Object({ op: Type.Literal("abort"), id: IdSchema }, strict),
  /** Opens a file (its bytes) or a folder (a tar archive of it) for reading. */
  download: Type.Object({ op: Type.Literal("download"), path: PathSchema }, strict),
  /**
   * Up to `length` bytes at `offset` (a folder's archive is read in order only: `offset` must
   * be where the previous read ended).
   */
  read: Type.Object(
    {
      op: Type.Literal("read"),
      id: IdSchema,
      offset: Bytes,
      length: Type.Integer({ minimum: 1, maximum: TRANSFER_CHUNK_BYTES }),
    },
    strict,
  ),
  /** The download is over (finished or not). */
  close: Type.Object({ op: Type.Literal("close"), id: IdSchema }, strict),
} as const;

export type TransferOp = keyof typeof TransferRequestSchemas;
type TransferRequests = { [O in TransferOp]: Static<(typeof TransferRequestSchemas)[O]> };
/** A transfer request of op `O` (by default: any). */
export type TransferRequest<O extends TransferOp = TransferOp> = TransferRequests[O];

/** Where an upload ended up (the same answer as plus's HTTP upload). */
export interface UploadResult {
  path: string;
  display: string;
  name: string;
  size: number;
  replaced: boolean;
}

/** What a download is: a file (with its size) or a folder (an archive of unknown length). */
export interface DownloadInfo {
  id: string;
  kind: "file" | "dir";
  /** The file's name, or the archive's (`folder.tar`). */
  name: string;
  size?: number;
  mtime?: number;
}

/** What each op answers with. */
export interface TransferResults {
  upload: { id: string };
  chunk: { received: number };
  finish: UploadResult;
  abort: { aborted: boolean };
  download: DownloadInfo;
  /** The bytes are in the frame; `eof`: nothing follows them. */
  read: { eof: boolean };
  close: { closed: boolean };
}

export type TransferReply<O extends TransferOp = TransferOp> =
  | { ok: true; result: TransferResults[O] }
  | { ok: false; error: ErrorPayload };

const HEAD = 4;
/** Largest JSON part of a frame. */
const MAX_JSON_BYTES = 64 * 1024;

/**
 * A frame of `json` with room for `size` bytes after it (`bytes`, to be filled in place: a
 * chunk is copied once, from where it arrives into the message that carries it on).
 */
export function frameWithRoom(
  json: unknown,
  size: number,
): { frame: Uint8Array; bytes: Uint8Array } {
  const text = new TextEncoder().encode(JSON.stringify(json));
  const frame = new Uint8Array(HEAD + text.length + size);
  new DataView(frame.buffer).setUint32(0, text.length);
  frame.set(text, HEAD);
  return { frame, bytes: frame.subarray(HEAD + text.length) };
}

/**
 * `frame` (made by frameWithRoom) again, with `json` in place of its own when that is as long
 * (a chunk's at the next offset nearly always is); undefined when it is not.
 */
export function reframe(
  frame: Uint8Array,
  json: unknown,
): { frame: Uint8Array; bytes: Uint8Array } | undefined {
  const text = new TextEncoder().encode(JSON.stringify(json));
  if (new DataView(frame.buffer, frame.byteOffset, HEAD).getUint32(0) !== text.length)
    return undefined;
  frame.set(text, HEAD);
  return { frame, bytes: frame.subarray(HEAD + text.length) };
}

/** A frame of `json` followed by `bytes`. */
export function encodeFrame(json: unknown, bytes?: Uint8Array): Uint8Array {
  const out = frameWithRoom(json, bytes?.length ?? 0);
  if (bytes) out.bytes.set(bytes);
  return out.frame;
}

/** The JSON and the bytes of a frame; throws ERR_FS_REQUEST when it is not one. */
export function decodeFrame(frame: Uint8Array): { json: unknown; bytes: Uint8Array } {
  if (frame.length < HEAD)
    throw new CocalcError("ERR_FS_REQUEST", "a transfer message is shorter than its header");
  const length = new DataView(frame.buffer, frame.byteOffset, HEAD).getUint32(0);
  if (length > MAX_JSON_BYTES || HEAD + length > frame.length)
    throw new CocalcError("ERR_FS_REQUEST", "a transfer message's header is wrong");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(frame.subarray(HEAD, HEAD + length)));
  } catch {
    throw new CocalcError("ERR_FS_REQUEST", "a transfer message is not valid JSON");
  }
  return { json, bytes: frame.subarray(HEAD + length) };
}

/** Checks a decoded request; throws ERR_FS_REQUEST. */
export function parseTransferRequest(json: unknown, bytes: Uint8Array): TransferRequest {
  const op = (json as { op?: unknown } | null)?.op;
  if (typeof op !== "string" || !Object.hasOwn(TransferRequestSchemas, op))
    throw new CocalcError("ERR_FS_REQUEST", `unknown transfer op ${JSON.stringify(op ?? null)}`);
  const schema: TSchema = TransferRequestSchemas[op as TransferOp];
  if (!Value.Check(schema, json)) {
    const err = Value.Errors(schema, json).First();
    throw new CocalcError(
      "ERR_FS_REQUEST",
      `${op}: ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  if (op === "chunk" ? bytes.length > TRANSFER_CHUNK_BYTES : bytes.length > 0)
    throw new CocalcError(
      "ERR_FS_REQUEST",
      op === "chunk"
        ? `a chunk holds at most ${TRANSFER_CHUNK_BYTES} bytes`
        : `${op} carries no bytes`,
    );
  return json as TransferRequest;
}
