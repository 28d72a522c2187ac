/**
 * The wire between the terminals service and its pty host: length-prefixed frames over a
 * unix socket in the host's 0700 directory. Output and keystrokes are binary frames; the
 * rest is JSON. Output carries its byte offset, so after a reconnect the service asks for
 * exactly what it has not stored yet, and acknowledges what it has (flow control).
 */
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A terminal as the host knows it. */
export interface HostTerminal {
  tid: string;
  generation: number;
  pid: number;
  cols: number;
  rows: number;
  /** Bytes of output produced so far (over all generations). */
  offset: number;
  /** Bytes the service has acknowledged (stored); the host keeps what lies after. */
  acked: number;
  alive: boolean;
  exit?: HostExit;
}

export interface HostExit {
  generation: number;
  code: number | null;
  signal: number | null;
  reason?: string;
}

/** What the service asks the host to start (or keep, when it already runs). */
export interface SpawnSpec {
  tid: string;
  generation: number;
  /** Replace a running shell of an older generation (restart). */
  restart: boolean;
  shell: string;
  args: string[];
  /** Where to start; the home directory is used (with a notice) when it does not exist. */
  cwd: string;
  home: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
  /** For a terminal the host does not know: the offset its output continues from. */
  startOffset: number;
  /**
   * Hold keystrokes until the shell's first output: the shell is reached through a program
   * (`podman exec`) that drops what is typed before it has connected the terminal.
   */
  holdInput?: boolean;
}

export type ServiceMessage =
  | ({ op: "spawn"; req: number } & SpawnSpec)
  | { op: "attach"; tid: string; from: number }
  | { op: "ack"; tid: string; offset: number }
  | { op: "resize"; tid: string; cols: number; rows: number }
  | { op: "kill"; req: number; tid: string }
  | { op: "forget"; tid: string }
  | { op: "shutdown"; req: number };

export type HostMessage =
  | { op: "hello"; pid: number; terminals: HostTerminal[] }
  | { op: "reply"; req: number; ok: true; pid?: number; adopted?: boolean }
  | { op: "reply"; req: number; ok: false; error: string }
  /** Sent after every byte of that generation's output (up to `offset`) was sent. */
  | ({ op: "exit"; tid: string; offset: number } & HostExit);

export const FrameKinds = { json: 1, output: 2, input: 3 } as const;

/** Refuse frames larger than this: a confused peer must not make us allocate gigabytes. */
export const MAX_FRAME = 8 * 1024 * 1024;

/** The host's files: its socket, pid file (also its lock) and log. */
export function hostFiles(dir: string) {
  let socket = join(dir, "pty-host.sock");
  // Unix socket paths are limited to ~107 bytes; a deep data directory gets one in /tmp instead
  // (named by a hash of the directory; the socket itself is still 0600 and its peer checked).
  if (Buffer.byteLength(socket) > 100) {
    const hash = createHash("sha256").update(dir).digest("hex").slice(0, 16);
    socket = join(tmpdir(), `cocalc-pty-${process.getuid?.() ?? 0}-${hash}.sock`);
  }
  return {
    socket,
    pid: join(dir, "pty-host.pid"),
    log: join(dir, "pty-host.log"),
  };
}

function frame(kind: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out[4] = kind;
  out.set(body, 5);
  return out;
}

export function jsonFrame(message: ServiceMessage | HostMessage): Buffer {
  return frame(FrameKinds.json, Buffer.from(JSON.stringify(message)));
}

/** Output of `tid` starting at byte `offset`. */
export function outputFrame(tid: string, offset: number, data: Uint8Array): Buffer {
  const id = Buffer.from(tid, "latin1");
  const out = Buffer.allocUnsafe(5 + 1 + id.length + 8 + data.length);
  out.writeUInt32BE(1 + 1 + id.length + 8 + data.length, 0);
  out[4] = FrameKinds.output;
  out[5] = id.length;
  id.copy(out, 6);
  out.writeDoubleBE(offset, 6 + id.length);
  out.set(data, 14 + id.length);
  return out;
}

/** Keystrokes for `tid`. */
export function inputFrame(tid: string, data: Uint8Array): Buffer {
  const id = Buffer.from(tid, "latin1");
  const out = Buffer.allocUnsafe(5 + 1 + id.length + data.length);
  out.writeUInt32BE(1 + 1 + id.length + data.length, 0);
  out[4] = FrameKinds.input;
  out[5] = id.length;
  id.copy(out, 6);
  out.set(data, 6 + id.length);
  return out;
}

export type Frame =
  | { kind: "json"; message: unknown }
  | { kind: "output"; tid: string; offset: number; data: Buffer }
  | { kind: "input"; tid: string; data: Buffer };

/** Cuts a byte stream into frames. Throws on a malformed frame (the peer is then dropped). */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Feeds bytes; returns the complete frames they finish. */
  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.size += data.length;
    const frames: Frame[] = [];
    while (this.size >= 4) {
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (len < 1 || len > MAX_FRAME) throw new Error(`bad frame length ${len}`);
      if (this.size < 4 + len) break;
      const body = this.take(4 + len).subarray(4);
      frames.push(parseFrame(body));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks);
      out = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.size -= n;
    return out;
  }
}

function parseFrame(body: Buffer): Frame {
  const kind = body[0];
  if (kind === FrameKinds.json) {
    return { kind: "json", message: JSON.parse(body.subarray(1).toString("utf8")) as unknown };
  }
  if (kind === FrameKinds.output || kind === FrameKinds.input) {
    const idLen = body[1]!;
    const tid = body.subarray(2, 2 + idLen).toString("latin1");
    if (kind === FrameKinds.output) {
      const offset = body.readDoubleBE(2 + idLen);
      return { kind: "output", tid, offset, data: body.subarray(10 + idLen) };
    }
    return { kind: "input", tid, data: body.subarray(2 + idLen) };
  }
  throw new Error(`unknown frame kind ${kind}`);
}
