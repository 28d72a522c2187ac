/**
 * What a kernel's iopub messages become: output events on the kernel's `.out` subject, in
 * the order the kernel sent them. Stream text is gathered (per execution and stream, up to
 * KERNEL_MAX_STREAM_CHUNK characters or a few milliseconds), so a cell printing a flood is
 * a few events, not one per line. Publishes go out in order on one connection without
 * waiting for each ack; a bounded number is in flight.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type EventDefinition, envelope } from "../../shared/envelope.js";
import {
  DisplayUpdated,
  ExecutionStarted,
  KERNEL_MAX_OUTPUT_BYTES,
  KERNEL_MAX_STREAM_CHUNK,
  type Output,
  OutputAdded,
  OutputCleared,
} from "../../shared/kernels.js";
import { kernelSubjects } from "../../shared/subjects.js";
import { publishEvent } from "../runtime/publish.js";
import type { JupyterMessage } from "./wire.js";

/** How long stream text waits for more before it is published. */
const STREAM_GATHER_MS = 15;
const MAX_IN_FLIGHT = 128;

export interface OfExecution {
  executionId: string;
  cellId: string;
}

function record(x: unknown): Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x)
    ? (x as Record<string, unknown>)
    : {};
}

function text(x: unknown): string {
  if (typeof x === "string") return x;
  if (Array.isArray(x)) return x.map(String).join("");
  return x === undefined || x === null ? "" : String(x);
}

function count(x: unknown): number | null {
  return Number.isInteger(x) ? (x as number) : null;
}

/** An output too big to keep becomes a note of its size. */
function bounded(output: Output): Output {
  const size = Buffer.byteLength(JSON.stringify(output));
  if (size <= KERNEL_MAX_OUTPUT_BYTES) return output;
  return {
    output_type: "display_data",
    data: {
      "text/plain": `[an output of ${Math.round(size / 1024)} KiB was not kept: larger than ${KERNEL_MAX_OUTPUT_BYTES / 1024} KiB]`,
    },
    metadata: {},
  };
}

export class KernelOutputs {
  private stream: { of: OfExecution; name: "stdout" | "stderr"; text: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private failure: unknown;

  constructor(
    private readonly o: {
      js: JetStreamClient;
      wsid: string;
      kid: string;
      actor: string;
      now(): Date;
      /** A publish failed: the service cannot record outputs (it is restarted). */
      fail(err: unknown): void;
    },
  ) {}

  /** Handles one iopub message of execution `of`; true when it was an output. */
  iopub(m: JupyterMessage, of: OfExecution): boolean {
    const c = m.content;
    switch (m.header.msg_type) {
      case "stream": {
        const name = c.name === "stderr" ? "stderr" : "stdout";
        this.addStream(of, name, text(c.text));
        return true;
      }
      case "execute_input":
        this.publishOut(ExecutionStarted, { ...of, executionCount: count(c.execution_count) });
        return true;
      case "display_data": {
        const displayId = record(c.transient).display_id;
        this.publishOut(OutputAdded, {
          ...of,
          output: bounded({
            output_type: "display_data",
            data: record(c.data),
            metadata: record(c.metadata),
          }),
          ...(typeof displayId === "string" && { displayId: displayId.slice(0, 200) }),
        });
        return true;
      }
      case "update_display_data": {
        const displayId = record(c.transient).display_id;
        if (typeof displayId !== "string") return false;
        const out = bounded({
          output_type: "display_data",
          data: record(c.data),
          metadata: record(c.metadata),
        });
        if (out.output_type !== "display_data") return false;
        this.publishOut(DisplayUpdated, {
          ...of,
          displayId: displayId.slice(0, 200),
          data: out.data,
          metadata: out.metadata,
        });
        return true;
      }
      case "execute_result":
        this.publishOut(OutputAdded, {
          ...of,
          output: bounded({
            output_type: "execute_result",
            execution_count: count(c.execution_count),
            data: record(c.data),
            metadata: record(c.metadata),
          }),
        });
        return true;
      case "error":
        this.publishOut(OutputAdded, {
          ...of,
          output: bounded({
            output_type: "error",
            ename: text(c.ename),
            evalue: text(c.evalue),
            traceback: Array.isArray(c.traceback) ? c.traceback.map(text) : [],
          }),
        });
        return true;
      case "clear_output":
        this.publishOut(OutputCleared, { ...of, wait: c.wait === true });
        return true;
      default:
        return false;
    }
  }

  private addStream(of: OfExecution, name: "stdout" | "stderr", chunk: string): void {
    const s = this.stream;
    if (s && (s.of.executionId !== of.executionId || s.name !== name)) this.flush();
    // A kernel's flush can be megabytes: cut it into events without copying the rest each time.
    for (let at = 0; at < chunk.length; ) {
      this.stream ??= { of, name, text: "" };
      let end = Math.min(chunk.length, at + KERNEL_MAX_STREAM_CHUNK - this.stream.text.length);
      // Never between the two halves of a surrogate pair (each event is valid UTF-16).
      const last = chunk.charCodeAt(end - 1);
      if (end < chunk.length && end - at > 1 && last >= 0xd800 && last <= 0xdbff) end--;
      this.stream.text += chunk.slice(at, end);
      at = end;
      if (this.stream.text.length >= KERNEL_MAX_STREAM_CHUNK - 1) this.flush();
    }
    if (this.stream && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, STREAM_GATHER_MS);
    }
  }

  /** Publishes the gathered stream text now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.stream;
    this.stream = undefined;
    if (!s || s.text === "") return;
    this.send(kernelSubjects(this.o.wsid, this.o.kid).out, OutputAdded, {
      ...s.of,
      output: { output_type: "stream", name: s.name, text: s.text },
    });
  }

  /** Publishes an output event after the gathered stream text. */
  publishOut<D>(def: EventDefinition & { type: string; v: number }, data: D): void {
    this.flush();
    this.send(kernelSubjects(this.o.wsid, this.o.kid).out, def, data);
  }

  /** Publishes a lifecycle fact after every output before it; resolves once stored. */
  async publishLife<D>(def: EventDefinition & { type: string; v: number }, data: D): Promise<void> {
    this.flush();
    await this.send(kernelSubjects(this.o.wsid, this.o.kid).life, def, data);
  }

  private send<D>(subject: string, def: { type: string; v: number }, data: D): Promise<unknown> {
    const event = envelope(def, data, { actor: this.o.actor, at: this.o.now() });
    const p: Promise<unknown> = publishEvent(this.o.js, subject, event).then(
      () => this.inflight.delete(p),
      (err: unknown) => {
        this.inflight.delete(p);
        this.failure ??= err;
        this.o.fail(err);
      },
    );
    this.inflight.add(p);
    return p;
  }

  /** Waits while too many publishes wait for their acks (then the kernel's iopub waits too). */
  async room(): Promise<void> {
    while (this.inflight.size >= MAX_IN_FLIGHT) await Promise.race(this.inflight);
  }

  /** Resolves when every publish so far is stored. */
  async settled(): Promise<void> {
    this.flush();
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
