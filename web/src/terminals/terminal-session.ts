/**
 * One attached terminal in the page: the NATS side of a terminal tab. It replays the newest
 * snapshot and the recording after it into a terminal emulator (the sink), follows live
 * output with bounded buffering, jumps ahead to a newer snapshot when it falls far behind
 * (a flood must not freeze the page), sends keystrokes (numbered, until acknowledged) and
 * size requests over core NATS, and says it is there (presence) while attached. It
 * re-attaches after reconnects.
 */
import type { KV } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../../shared/base64url.js";
import { Buckets, Keys, Streams, terminalSubjects } from "../../../shared/subjects.js";
import {
  decodeSnapshot,
  type InputAck,
  replayStep,
  TERM_INPUT_HEADER,
  TERM_MAX_INPUT,
  TERM_OFFSET_HEADER,
  TERM_SIZE_HEADER,
  VIEWER_HEARTBEAT_MS,
} from "../../../shared/terminals.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { backoffMs, delay, messageOf } from "../lib/delay.js";
import { pagePerson } from "../lib/page-person.js";
import { openReader, type Reader } from "../lib/stream-reader.js";
import { openView } from "../lib/views.js";
import { InputQueue } from "./input-queue.js";

/** What the session writes into: the xterm wrapper implements it. */
export interface TerminalSink {
  reset(): void;
  resize(cols: number, rows: number): void;
  write(data: Uint8Array | string, done?: () => void): void;
}

export type SessionStatus = "attaching" | "live" | "error";

/** Keystrokes not delivered yet (`waiting` pieces), or given up (`lost`, and why). */
export type KeysState = { waiting: number } | { lost: number; why: "gone" | "timeout" };

export interface SessionHooks {
  status(status: SessionStatus, problem?: string): void;
  /** Keystrokes waiting for the connection (`waiting` > 0), or dropped (`lost`). */
  keys?(state: KeysState): void;
}

export interface TerminalSession {
  readonly viewerId: string;
  /** Keystrokes (a paste is cut into pieces the service accepts). */
  input(data: string | Uint8Array): void;
  /** Asks for a new pty size; the screen follows when the recording says so. */
  resize(cols: number, rows: number): void;
  stop(): void;
}

/** Unparsed output the page may hold before it stops pulling more. */
const MAX_PENDING_BYTES = 1024 * 1024;
/** Messages behind at which the page looks for a newer snapshot to jump to. */
const JUMP_BEHIND = 300;

async function inflate(data: Uint8Array): Promise<string> {
  const stream = new Blob([data as BlobPart])
    .stream()
    .pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).text();
}

async function snapshotOf(kv: KV, key: string) {
  const e = await kv.get(key);
  return e && e.operation === "PUT" && e.length > 0 ? decodeSnapshot(e.value) : undefined;
}

/**
 * This browser tab's viewer id for a terminal: kept across reloads of the tab (sessionStorage),
 * so a reload is the same viewer, not one more until the old one times out.
 */
function viewerIdFor(tid: string): string {
  const key = `cocalc-terminal-viewer:${tid}`;
  try {
    const known = sessionStorage.getItem(key);
    if (known && /^[A-Za-z0-9_-]{8,64}$/.test(known)) return known;
    const id = `v${randomId()}`;
    sessionStorage.setItem(key, id);
    return id;
  } catch {
    return `v${randomId()}`;
  }
}

/** Attaches `sink` to terminal `tid` until stop(). */
export function attachTerminal(
  conn: WorkspaceConnection,
  tid: string,
  sink: TerminalSink,
  hooks: SessionHooks,
): TerminalSession {
  const subjects = terminalSubjects(conn.wsid, tid);
  const key = Keys.terminal(conn.wsid, tid);
  const viewerId = viewerIdFor(tid);
  const label = pagePerson(conn).name;
  const stopping = new AbortController();
  let current: Reader | undefined;
  let nc: NatsConnection | undefined;
  const encoder = new TextEncoder();
  // Status changes only (a per-message "live" would make the view ask for its size again
  // and again, and two viewers of different sizes would take turns forever).
  let lastStatus: string | undefined;
  const status = (s: SessionStatus, problem?: string) => {
    const key = `${s}:${problem ?? ""}`;
    if (key === lastStatus) return;
    lastStatus = key;
    hooks.status(s, problem);
  };

  // Output written to the sink whose parsing has not finished.
  let pending = 0;
  let drained: (() => void) | undefined;
  const write = (data: Uint8Array | string) => {
    const n = data.length;
    pending += n;
    sink.write(data, () => {
      pending -= n;
      if (pending <= MAX_PENDING_BYTES / 2) drained?.();
    });
  };
  const idle = () => new Promise<void>((resolve) => sink.write("", resolve));

  const presence = (state: "open" | "closed") => {
    try {
      nc?.publish(subjects.viewer, JSON.stringify({ viewer: viewerId, label, state }));
    } catch {
      // not connected: the next beat says it again
    }
  };

  /** One attach: snapshot + tail + live. Returns when it should attach again. */
  async function attachOnce(): Promise<void> {
    nc = await conn.ready(stopping.signal);
    if (!nc || stopping.signal.aborted) return;
    status("attaching");
    const kv = await openView(nc, Buckets.termSnapshots, conn.jsDomain);
    const snapshot = await snapshotOf(kv, key);
    if (stopping.signal.aborted) return;
    presence("open");
    sink.reset();
    let seq = 0;
    let offset = 0;
    if (snapshot) {
      sink.resize(snapshot.header.cols, snapshot.header.rows);
      const text =
        snapshot.header.encoding === "deflate"
          ? await inflate(snapshot.data)
          : new TextDecoder().decode(snapshot.data);
      write(text);
      seq = snapshot.header.seq;
      offset = snapshot.header.offset;
    }
    const reader = await openReader(nc, {
      ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
      ...(conn.readers && { slots: conn.readers }),
      ...(conn.makeReader && { make: conn.makeReader }),
      stream: Streams.WS_TERM,
      filter: subjects.out,
      from: seq > 0 ? { seq: seq + 1 } : { all: true },
      maxBytes: MAX_PENDING_BYTES,
      prefix: "term",
    });
    current = reader;
    if (stopping.signal.aborted) reader.release();
    // Live once nothing stored is left to replay: at once when the snapshot is the newest.
    void reader
      .pending()
      .then((n) => {
        if (n === 0 && current === reader) status("live");
      })
      .catch(() => undefined);
    let lastJumpCheck = 0;
    for await (const m of reader.messages) {
      // A chunk lost on the way: attach again (from the newest snapshot).
      if (!reader.inOrder(m)) {
        reader.release();
        return;
      }
      const step = replayStep(
        m.data,
        m.headers?.get(TERM_OFFSET_HEADER),
        m.headers?.get(TERM_SIZE_HEADER),
      );
      if (step.kind === "resize") {
        await idle();
        sink.resize(step.cols, step.rows);
      } else if (step.offset + step.data.length > offset) {
        const data = step.offset < offset ? step.data.subarray(offset - step.offset) : step.data;
        write(data);
        offset = Math.max(offset, step.offset) + data.length;
      }
      seq = m.seq;
      if (m.info.pending === 0) status("live");
      if (pending > MAX_PENDING_BYTES) {
        await new Promise<void>((resolve) => {
          drained = resolve;
        });
        drained = undefined;
      }
      // Far behind a flood: showing every byte would take longer than the flood lasts. A newer
      // snapshot (the service keeps one at most a second behind) lets us skip to the present.
      if (m.info.pending > JUMP_BEHIND && Date.now() - lastJumpCheck > 1000) {
        lastJumpCheck = Date.now();
        const newer = await snapshotOf(kv, key).catch(() => undefined);
        if (newer && newer.header.seq > seq + JUMP_BEHIND / 2) {
          reader.release();
          return;
        }
      }
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        await attachOnce();
        failures = 0;
      } catch (err) {
        if (stopping.signal.aborted) break;
        failures++;
        status("error", messageOf(err));
      } finally {
        current?.release();
        current = undefined;
      }
      await delay(Math.max(100, backoffMs(failures)), stopping.signal);
    }
  }

  // Keystrokes are numbered requests, sent again until the service has them (input-queue.ts).
  const keys = new InputQueue(
    async (bytes, tag) => {
      // Not buffered by the client while it is away: the queue sends again once it is back.
      if (!nc || conn.state() !== "connected") throw new Error("not connected");
      const h = headers();
      h.set(TERM_INPUT_HEADER, tag);
      const reply = await nc.request(subjects.input, bytes, { timeout: 5000, headers: h });
      return reply.json<InputAck>();
    },
    {
      waiting: (n) => hooks.keys?.({ waiting: n }),
      lost: (n, why) => hooks.keys?.({ lost: n, why }),
    },
  );

  // After a reconnect the reader's consumer may be gone: start over from the newest snapshot.
  const offReconnect = conn.onReconnect(() => {
    current?.release();
    keys.resend();
  });
  const beat = setInterval(() => presence("open"), VIEWER_HEARTBEAT_MS);
  // Closing the tab runs no cleanup; say goodbye on the way out (best effort: else it times out).
  const onHide = (e: PageTransitionEvent) => {
    if (!e.persisted) presence("closed");
  };
  addEventListener("pagehide", onHide);
  void run();

  return {
    viewerId,
    input(data) {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      for (let i = 0; i < bytes.length; i += TERM_MAX_INPUT) {
        // A cut inside a UTF-8 sequence is fine: the pty gets the same bytes in order.
        keys.push(bytes.subarray(i, i + TERM_MAX_INPUT));
      }
    },
    resize(cols, rows) {
      nc?.publish(subjects.resize, JSON.stringify({ cols, rows, viewer: viewerId }));
    },
    stop() {
      if (stopping.signal.aborted) return;
      presence("closed");
      stopping.abort();
      keys.stop();
      clearInterval(beat);
      removeEventListener("pagehide", onHide);
      offReconnect();
      current?.release();
      drained?.();
    },
  };
}
