/**
 * One terminal's output path in the service: bytes from the pty host are batched (by time
 * and size) into chunks on `ws.<wsid>.term.<tid>.out`, with a size marker in the same order
 * at each resize (and TerminalResized / TerminalExited on `.life`), and every stored chunk
 * and marker is applied to a headless mirror.
 * Output is acknowledged to the host only once it is stored and mirrored, so what is in
 * flight here is bounded by the host's high-water mark. Snapshots of the mirror go to the
 * `term-snapshots` view, tagged with the stream sequence they are exact at.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { type Envelope, envelope } from "../../shared/envelope.js";
import { Keys, terminalSubjects } from "../../shared/subjects.js";
import {
  sizeHeader,
  TERM_MAX_CHUNK,
  TERM_OFFSET_HEADER,
  TERM_SIZE_HEADER,
  TerminalExited,
  TerminalResized,
} from "../../shared/terminals.js";
import type { Logger } from "../runtime/logger.js";
import { publishEvent } from "../runtime/publish.js";
import type { PtyHostClient } from "./host-client.js";
import type { HeadlessScreen } from "./screen.js";

/** How long the first byte of a batch waits for more before it is sent. */
export const BATCH_MS = 4;
/** A snapshot after this many stored chunks at the latest (the stream keeps 2000 per terminal). */
const SNAPSHOT_EVERY_CHUNKS = 256;
/** …but not more often than this while output keeps coming (serializing 10k lines takes ~60 ms). */
const SNAPSHOT_MIN_INTERVAL_MS = 1000;
/** …and this long after output stops. */
const SNAPSHOT_QUIET_MS = 250;

type Step =
  | { kind: "chunk"; end: number; data: Uint8Array; ack: Promise<PubAck> }
  | { kind: "size"; cols: number; rows: number; ack: Promise<PubAck> }
  | { kind: "event"; ack: Promise<PubAck> }
  | { kind: "forget" };

export interface PipeOptions {
  js: JetStreamClient;
  snapshots: KV;
  host: PtyHostClient;
  wsid: string;
  tid: string;
  screen: HeadlessScreen;
  /** Where the stored stream ends: the last sequence applied to `screen` and the output offset. */
  seq: number;
  offset: number;
  snapshotSeq: number;
  generation: number;
  /** A generation whose exit the stream already has (it is not recorded twice). */
  exitRecorded?: number;
  log: Logger;
  now(): Date;
  /** Something went wrong that only a restart of the service repairs. */
  fail(err: unknown): void;
}

export class TerminalPipe {
  readonly tid: string;
  generation: number;
  private readonly subjects: ReturnType<typeof terminalSubjects>;
  /** Output received from the host up to here (published or in the batch). */
  private received: number;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchStart: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly steps: Step[] = [];
  private draining = false;
  /** The last stream sequence (and output offset) handed to the mirror. */
  private mirroredSeq: number;
  private mirroredOffset: number;
  private snapshotSeq: number;
  private chunksSinceSnapshot = 0;
  private lastSnapshotAt = 0;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private snapshotting = false;
  private closed = false;
  /** The pty's size as last set. */
  private size: { cols: number; rows: number };
  private exitRecorded: number | undefined;

  constructor(private readonly o: PipeOptions) {
    this.tid = o.tid;
    this.generation = o.generation;
    this.exitRecorded = o.exitRecorded;
    this.size = { cols: o.screen.cols, rows: o.screen.rows };
    this.subjects = terminalSubjects(o.wsid, o.tid);
    this.received = o.offset;
    this.batchStart = o.offset;
    this.mirroredSeq = o.seq;
    this.mirroredOffset = o.offset;
    this.snapshotSeq = o.snapshotSeq;
    if (this.snapshotSeq < this.mirroredSeq) this.scheduleSnapshot();
  }

  get cols(): number {
    return this.size.cols;
  }

  get rows(): number {
    return this.size.rows;
  }

  /** A viewer asks for a size; false when the pty has it already. */
  resize(cols: number, rows: number): boolean {
    if (this.closed || (cols === this.size.cols && rows === this.size.rows)) return false;
    this.mark(cols, rows);
    const event = envelope(
      TerminalResized,
      { cols, rows },
      { actor: "terminals", at: this.o.now() },
    );
    this.push({ kind: "event", ack: this.publish(event) });
    return true;
  }

  /**
   * Records the size in the recording, after the output before it, so that every replay
   * resizes at the same place.
   */
  mark(cols: number, rows: number): void {
    if (this.closed) return;
    this.flush();
    this.size = { cols, rows };
    const h = natsHeaders();
    h.set(TERM_OFFSET_HEADER, String(this.received));
    h.set(TERM_SIZE_HEADER, sizeHeader(cols, rows));
    const ack = this.o.js.publish(this.subjects.out, new Uint8Array(0), {
      headers: h,
      timeout: 30_000,
    });
    this.push({ kind: "size", cols, rows, ack });
  }

  /** True when the recording has anything (a size marker at least). */
  get recorded(): boolean {
    return this.mirroredSeq > 0 || this.steps.length > 0;
  }

  /** The output offset the host should continue from. */
  get offset(): number {
    return this.received;
  }

  /** Output from the host, starting at byte `offset` of the terminal's stream. */
  output(offset: number, data: Buffer): void {
    if (this.closed) return;
    let bytes = data;
    if (offset + bytes.length <= this.received) return; // sent again after a reconnect
    if (offset < this.received) {
      bytes = bytes.subarray(this.received - offset);
    } else if (offset > this.received) {
      this.o.log.warn({ tid: this.tid, expected: this.received, got: offset }, "output gap");
      this.flush();
      this.batchStart = offset;
    }
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    this.received = this.batchStart + this.batchBytes;
    if (this.batchBytes >= TERM_MAX_CHUNK) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Publishes what is batched, in chunks of at most TERM_MAX_CHUNK. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batchBytes === 0) return;
    const all = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch);
    let start = this.batchStart;
    for (let i = 0; i < all.length; i += TERM_MAX_CHUNK) {
      const data = all.subarray(i, i + TERM_MAX_CHUNK);
      const h = natsHeaders();
      h.set(TERM_OFFSET_HEADER, String(start));
      // The offset names the chunk: a publish retried within the duplicate window is stored once.
      const ack = this.o.js.publish(this.subjects.out, data, {
        headers: h,
        msgID: `${this.tid}-${start}`,
        timeout: 30_000,
      });
      start += data.length;
      this.push({ kind: "chunk", end: start, data, ack });
    }
    this.batch = [];
    this.batchBytes = 0;
    this.batchStart = start;
  }

  private publish(event: Envelope): Promise<PubAck> {
    return publishEvent(this.o.js, this.subjects.life, event, { timeoutMs: 30_000 });
  }

  /** The shell of `generation` ended; all its output up to here has arrived. */
  exited(
    generation: number,
    code: number | null,
    signal: number | null,
    reason?: string,
  ): Promise<void> {
    this.flush();
    if (generation !== this.generation) return Promise.resolve();
    if (generation === this.exitRecorded) {
      this.push({ kind: "forget" });
      return Promise.resolve();
    }
    this.exitRecorded = generation;
    const event = envelope(
      TerminalExited,
      { generation, code, signal, ...(reason !== undefined && { reason }) },
      { actor: "terminals", at: this.o.now() },
    );
    const ack = this.publish(event);
    this.push({ kind: "event", ack });
    // Once everything before it is stored, the host may drop the terminal's record.
    if (reason === undefined) this.push({ kind: "forget" });
    return ack.then(() => undefined);
  }

  private push(step: Step): void {
    this.steps.push(step);
    // A failed publish is handled in order by drain(); do not let it surface unhandled first.
    if ("ack" in step) step.ack.catch(() => undefined);
    if (!this.draining) void this.drain();
  }

  /** Applies stored steps to the mirror in publish order (acks arrive in that order too). */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.steps.length > 0) {
        const step = this.steps[0]!;
        if (step.kind === "forget") {
          this.o.host.forget(this.tid);
          this.steps.shift();
          continue;
        }
        let ack: PubAck;
        try {
          ack = await step.ack;
        } catch (err) {
          // The stream and the mirror may disagree now (later publishes may have succeeded):
          // a restart rebuilds the mirror from the stream and resumes the host from there.
          this.closed = true;
          this.o.fail(err);
          return;
        }
        this.steps.shift();
        if (this.closed) return;
        // mirroredSeq moves only once the step is queued into (or applied to) the mirror, so a
        // snapshot taken meanwhile is exact at the sequence it records.
        if (step.kind === "chunk") {
          const end = step.end;
          this.o.screen.write(step.data, () => {
            if (!this.closed) this.o.host.ack(this.tid, end);
          });
          this.mirroredOffset = end;
          this.chunksSinceSnapshot++;
          this.mirroredSeq = ack.seq;
        } else if (step.kind === "size") {
          await this.o.screen.resize(step.cols, step.rows);
          if (this.closed) return;
          this.mirroredSeq = ack.seq;
        }
        this.scheduleSnapshot();
      }
    } finally {
      this.draining = false;
    }
  }

  private scheduleSnapshot(): void {
    if (this.closed || this.snapshotting) return;
    clearTimeout(this.snapshotTimer);
    const since = Date.now() - this.lastSnapshotAt;
    let wait = SNAPSHOT_QUIET_MS;
    if (this.chunksSinceSnapshot >= SNAPSHOT_EVERY_CHUNKS) {
      wait = Math.max(0, SNAPSHOT_MIN_INTERVAL_MS - since);
    }
    this.snapshotTimer = setTimeout(() => void this.snapshot(), wait);
    this.snapshotTimer.unref();
  }

  /** Writes a snapshot of the mirror exact at the last sequence handed to it. */
  async snapshot(): Promise<void> {
    if (this.closed || this.snapshotting || this.mirroredSeq <= this.snapshotSeq) return;
    this.snapshotting = true;
    try {
      const seq = this.mirroredSeq;
      const offset = this.mirroredOffset;
      const generation = this.generation;
      // In the write callback nothing queued after it has been parsed yet: exact at `seq`.
      const value = await new Promise<Uint8Array>((resolve) =>
        this.o.screen.write(new Uint8Array(0), () =>
          resolve(
            this.o.screen.snapshot({ seq, offset, generation, at: this.o.now().toISOString() }),
          ),
        ),
      );
      if (this.closed) return;
      await this.o.snapshots.put(Keys.terminal(this.o.wsid, this.tid), value);
      this.snapshotSeq = seq;
      this.chunksSinceSnapshot = 0;
      this.lastSnapshotAt = Date.now();
    } catch (err) {
      this.o.log.warn({ tid: this.tid, err }, "snapshot not written");
    } finally {
      this.snapshotting = false;
    }
    if (this.mirroredSeq > this.snapshotSeq) this.scheduleSnapshot();
  }

  /** Resolves when everything received so far is stored and mirrored. */
  async settled(): Promise<void> {
    this.flush();
    while (this.steps.length > 0 || this.draining) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.closed) return;
    }
    await this.o.screen.idle();
  }

  /** Stops this pipe (the terminal was closed, or the service stops). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.snapshotTimer);
    this.o.screen.dispose();
  }
}
