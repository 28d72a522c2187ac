/**
 * The service's side of an fs worker (worker.ts): starts it, sends it requests and turns its
 * replies, events and changes back into calls. A worker that dies fails what it had in hand
 * and ends the service (the supervisor starts a new one).
 */
import { type ChildProcess, fork } from "node:child_process";
import type { Writable } from "node:stream";
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError, fromErrorPayload } from "../../shared/errors.js";
import type { TransferRequest } from "../../shared/file-transfer.js";
import type { FsChange, FsEvent, FsRequest } from "../../shared/files.js";
import type { Logger } from "../runtime/logger.js";
import type { TransferAnswer } from "./transfers.js";
import { sendWorkerBytes, WORKER_BYTES_FD } from "./worker-bytes.js";
import type { FromWorker, ToWorker } from "./worker-protocol.js";

/** Who the file operations run as, and the worker script that runs them. */
export interface RunAs {
  uid: number;
  gid: number;
  /** worker.ts as built (dist/bundle/fs-worker.js, or dist/services/fs/worker.js). */
  script: string;
}

export interface FsWorkerOptions {
  runAs: RunAs;
  home: string;
  sandbox?: string;
  /** Refusals do not say where a path outside the sandbox leads (PathResolverOptions). */
  hideOutside?: boolean;
  log: Logger;
  emit(event: Uncommitted<FsEvent>): Promise<void>;
  change(change: FsChange): void;
}

export class FsWorker {
  private nextId = 0;
  private readonly bytes: Writable;
  private readonly pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: unknown): void }
  >();
  private exitReason: string | undefined;
  /** Settles when the worker is gone. */
  readonly exited: Promise<string>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly o: FsWorkerOptions,
    readonly home: string,
    readonly sandbox: string | null,
  ) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitReason = `the fs worker exited (${signal ?? `code ${code}`})`;
        for (const p of this.pending.values())
          p.reject(new CocalcError("ERR_FS_WORKER", this.exitReason));
        this.pending.clear();
        resolve(this.exitReason);
      });
    });
    child.on("message", (m: FromWorker) => this.onMessage(m));
    this.bytes = child.stdio[WORKER_BYTES_FD] as Writable;
    this.bytes.on("error", (err) => o.log.warn({ err }, "fs worker bytes channel"));
  }

  static async start(o: FsWorkerOptions): Promise<FsWorker> {
    const child = fork(o.runAs.script, [], {
      // The parent's loader flags (a test runner's) are not for the worker.
      execArgv: [],
      serialization: "advanced",
      // fd 4: the bytes of uploads (worker-bytes.ts).
      stdio: ["ignore", "ignore", "pipe", "ipc", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
    });
    child.stderr?.setEncoding("utf8");
    let tail = "";
    child.stderr?.on("data", (text: string) => {
      const lines = (tail + text).split("\n");
      tail = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) o.log.warn({ worker: line }, "fs worker");
    });
    const ready = await new Promise<{ home: string; sandbox: string | null }>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === "ready") resolve(m);
        else if (m.type === "failed")
          reject(new CocalcError("ERR_FS_WORKER", `the fs worker did not start: ${m.message}`));
      };
      child.on("message", onMessage);
      child.once("error", (err) =>
        reject(new CocalcError("ERR_FS_WORKER", `the fs worker did not start: ${err.message}`)),
      );
      child.once("exit", (code, signal) =>
        reject(
          new CocalcError(
            "ERR_FS_WORKER",
            `the fs worker did not start: it exited (${signal ?? `code ${code}`})`,
          ),
        ),
      );
      const init: ToWorker = {
        type: "init",
        uid: o.runAs.uid,
        gid: o.runAs.gid,
        home: o.home,
        ...(o.sandbox !== undefined && { sandbox: o.sandbox }),
        ...(o.hideOutside && { hideOutside: true }),
      };
      child.send(init);
    }).catch((err) => {
      child.kill("SIGKILL");
      throw err;
    });
    child.removeAllListeners("message");
    child.removeAllListeners("exit");
    child.removeAllListeners("error");
    child.on("error", (err) => o.log.warn({ err }, "fs worker channel"));
    return new FsWorker(child, o, ready.home, ready.sandbox);
  }

  private send(m: ToWorker): void {
    if (this.child.connected) this.child.send(m);
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case "reply": {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.ok) p.resolve(m.bytes ? { ...(m.result as object), bytes: m.bytes } : m.result);
        else p.reject(fromErrorPayload(m.error));
        return;
      }
      case "event":
        void this.o.emit(m.event).finally(() => this.send({ type: "emitted", n: m.n }));
        return;
      case "change":
        this.o.change(m.change);
        return;
      case "ready":
      case "failed":
        return;
      default: {
        const never: never = m;
        this.o.log.warn({ m: never }, "unknown message from the fs worker");
      }
    }
  }

  private call(message: (id: number) => ToWorker): Promise<unknown> {
    if (this.exitReason) return Promise.reject(new CocalcError("ERR_FS_WORKER", this.exitReason));
    const id = this.nextId;
    // Ids name calls on the bytes socket too, as 32 bits.
    this.nextId = (this.nextId + 1) % 2 ** 32;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(message(id));
    });
  }

  /** Runs one request in the worker, as its user. */
  answer(request: FsRequest): Promise<unknown> {
    return this.call((id) => ({ type: "request", id, request }));
  }

  /** Runs one transfer request in the worker, as its user. */
  transfer(request: TransferRequest, bytes: Uint8Array): Promise<TransferAnswer> {
    return this.call((id) => {
      if (bytes.length > 0) sendWorkerBytes(this.bytes, id, bytes);
      return { type: "transfer", id, request, bytes: bytes.length };
    }) as Promise<TransferAnswer>;
  }

  /** Removes an abandoned upload's temp file, as the worker's user. */
  async removeTemp(path: string): Promise<void> {
    await this.call((id) => ({ type: "remove-temp", id, path }));
  }

  /** Asks the worker to stop, and kills it if it does not within a few seconds. */
  async stop(): Promise<void> {
    if (this.exitReason) return;
    this.send({ type: "stop" });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}
