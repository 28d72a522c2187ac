/**
 * Attaching to a terminal from Node: the newest snapshot from the `term-snapshots` view,
 * then every later message of the terminal's recording in order (output is written, size
 * markers resize), then, if asked, live output as it comes. The service rebuilds its mirror
 * this way after a restart; tests and benchmarks use it as a viewer. The browser does the
 * same in web/src/terminals/.
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { EventRegistry } from "../../shared/envelope.js";
import { Keys, Streams, terminalSubjects } from "../../shared/subjects.js";
import {
  replayStep,
  TERM_OFFSET_HEADER,
  TERM_SIZE_HEADER,
  type TerminalEvent,
  TerminalEvents,
} from "../../shared/terminals.js";
import { lastSubjectSeq } from "../runtime/stream-read.js";
import type { HeadlessScreen } from "./screen.js";

export const terminalRegistry = new EventRegistry<TerminalEvent>(TerminalEvents);

export interface ReplayOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The `term-snapshots` bucket. */
  snapshots: KV;
  wsid: string;
  tid: string;
  screen: HeadlessScreen;
  /** Called when output does not continue where the previous output ended (lost bytes). */
  onGap?(expected: number, got: number): void;
}

/** Where a replay stands: the last stream sequence applied and the output offset reached. */
export interface ReplayPosition {
  seq: number;
  offset: number;
  /** The snapshot it started from (0: none). */
  snapshotSeq: number;
}

export class TerminalReplay {
  seq = 0;
  offset = 0;
  snapshotSeq = 0;
  private stopped = false;
  private messages: { stop(): void } | undefined;
  /** With attach(true): settles when following ends (stop() or an error). */
  following: Promise<void> = Promise.resolve();

  constructor(private readonly o: ReplayOptions) {}

  get position(): ReplayPosition {
    return { seq: this.seq, offset: this.offset, snapshotSeq: this.snapshotSeq };
  }

  /**
   * Snapshot + tail up to what is stored now. With `follow`, keeps applying new messages
   * until stop(); attach() still resolves once the stored ones are applied.
   */
  async attach(follow = false): Promise<ReplayPosition> {
    const { o } = this;
    const subject = terminalSubjects(o.wsid, o.tid).out;
    const [entry, target] = await Promise.all([
      o.snapshots.get(Keys.terminal(o.wsid, o.tid)),
      lastSubjectSeq(o.jsm, Streams.WS_TERM, subject),
    ]);
    if (entry && entry.operation === "PUT" && entry.length > 0) {
      const header = await o.screen.restore(entry.value);
      this.seq = header.seq;
      this.offset = header.offset;
      this.snapshotSeq = header.seq;
    }
    if (target <= this.seq && !follow) return this.position;
    let caughtUp!: () => void;
    const reached = new Promise<void>((r) => (caughtUp = r));
    if (target <= this.seq) caughtUp();
    const done = this.consume(subject, target, caughtUp, follow);
    if (!follow) {
      await done;
      return this.position;
    }
    this.following = done;
    await Promise.race([reached, done]);
    return this.position;
  }

  private async consume(
    subject: string,
    target: number,
    caughtUp: () => void,
    follow: boolean,
  ): Promise<void> {
    const consumer = await this.o.js.consumers.get(Streams.WS_TERM, {
      filter_subjects: subject,
      ...(this.seq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.seq + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    const messages = await consumer.consume({ max_bytes: 2 * 1024 * 1024 });
    this.messages = messages;
    if (this.stopped) messages.stop();
    try {
      for await (const m of messages) {
        await this.apply(m);
        if (m.seq >= target) {
          caughtUp();
          if (!follow) break;
        }
      }
    } finally {
      messages.stop();
      caughtUp();
    }
  }

  private async apply(m: JsMsg): Promise<void> {
    const { o } = this;
    const step = replayStep(
      m.data,
      m.headers?.get(TERM_OFFSET_HEADER),
      m.headers?.get(TERM_SIZE_HEADER),
    );
    if (step.kind === "resize") {
      await o.screen.resize(step.cols, step.rows);
    } else {
      let { data, offset } = step;
      if (offset + data.length <= this.offset) {
        // already applied (a snapshot can end inside what a chunk holds)
      } else {
        if (offset < this.offset) {
          data = data.subarray(this.offset - offset);
          offset = this.offset;
        } else if (offset > this.offset) {
          o.onGap?.(this.offset, offset);
        }
        o.screen.write(data);
        this.offset = offset + data.length;
      }
    }
    this.seq = m.seq;
    // Keep memory bounded: do not run far ahead of the emulator.
    if (o.screen.pending > 4 * 1024 * 1024) await o.screen.idle();
  }

  stop(): void {
    this.stopped = true;
    this.messages?.stop();
  }
}
