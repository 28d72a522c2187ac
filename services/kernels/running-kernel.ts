/**
 * One kernel process of one generation as the service drives it: its channels, the
 * executions sent to it (the Jupyter msg_id of an execute_request is the execution id, so
 * every output names its execution), when each finished, input requests, and its death.
 */
import { rm } from "node:fs/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import { CocalcError } from "../../shared/errors.js";
import {
  ExecutionFinished,
  InputRequested,
  KernelDied,
  KernelReady,
  type KernelResults,
  type QueuedExecution,
} from "../../shared/kernels.js";
import type { Logger } from "../runtime/logger.js";
import { KernelChannels } from "./channels.js";
import {
  type ConnectionInfo,
  connectionArg,
  isKernelAlive,
  type KernelProcess,
  kernelFiles,
  type LaunchedKernel,
  logTail,
  signalKernel,
} from "./launcher.js";
import { KernelOutputs, type OfExecution } from "./outputs.js";
import type { JupyterMessage, MessageHeader } from "./wire.js";

/** How long a kernel has to answer its first kernel_info. */
const START_TIMEOUT_MS = 60_000;
/** An execution whose kernel went idle waits this long for its execute_reply. */
const REPLY_GRACE_MS = 1000;
const WATCH_MS = 250;
const HEARTBEAT_MS = 5000;
/** Finished executions remembered for outputs that come late (from threads). */
const RECENT = 500;

export interface KernelHost {
  js: JetStreamClient;
  wsid: string;
  dir: string;
  actor: string;
  log: Logger;
  now(): Date;
  /** Recording failed: the service stops (and is restarted). */
  fail(err: unknown): void;
  /** The process of this generation is gone (died, or stopped on request). */
  gone(kernel: RunningKernel): void;
  /** Removes what else a kernel that ended leaves (a container kernel's sockets). */
  forget?(kid: string): Promise<void>;
}

interface Execution {
  of: OfExecution;
  count: number | null;
  reply?: { status: string; count: number | null };
  idle: boolean;
  errorSeen: boolean;
  grace?: NodeJS.Timeout;
}

/** How long an attached kernel's executions wait for its stdin to connect. */
const STDIN_WAIT_MS = 10_000;

/** True when `p` resolved within `ms`, false when the time ran out first. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(1, ms));
  });
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

function codePoints(s: string, utf16: number): number {
  return [...s.slice(0, utf16)].length;
}

function utf16Index(s: string, points: number): number {
  let i = 0;
  let n = 0;
  for (const ch of s) {
    if (n >= points) break;
    i += ch.length;
    n++;
  }
  return i;
}

export class RunningKernel {
  private readonly channels: KernelChannels;
  private readonly outputs: KernelOutputs;
  private readonly executions = new Map<string, Execution>();
  private readonly recent = new Map<string, OfExecution>();
  private sending: Promise<unknown> = Promise.resolve();
  private readonly ready: Promise<void>;
  private inputParent: Partial<MessageHeader> = {};
  private watcher: NodeJS.Timeout | undefined;
  private heart: NodeJS.Timeout | undefined;
  private missedBeats = 0;
  private stopping = false;
  private ended = false;
  private readonly log: Logger;

  private constructor(
    private readonly host: KernelHost,
    readonly kid: string,
    readonly process: KernelProcess,
    connection: ConnectionInfo,
    how: { exited: LaunchedKernel["exited"] } | { attached: QueuedExecution[]; fresh: boolean },
  ) {
    this.log = host.log.child({ kid, generation: process.generation, kernelPid: process.pid });
    this.outputs = new KernelOutputs({
      js: host.js,
      wsid: host.wsid,
      kid,
      actor: host.actor,
      now: host.now,
      fail: (err) => host.fail(err),
    });
    this.channels = new KernelChannels(
      connection,
      `cocalc-${kid}`,
      {
        iopub: (m) => this.onIopub(m),
        stdin: (m) => this.onStdin(m),
        shell: (m) => this.onShell(m),
      },
      this.log,
    );
    if ("exited" in how) {
      void how.exited.then(({ code, signal, reason }) => this.died(code, signal, reason));
    }
    this.watcher = setInterval(() => {
      // Our own child is reaped (and its exit code known) by `exited`.
      if ("exited" in how) return;
      if (!isKernelAlive(process.pid, connectionArg(host.dir, kid, process)))
        void this.died(null, null);
    }, WATCH_MS);
    this.watcher.unref();
    // A process that runs but does not answer its heartbeat is frozen (stopped, swapping):
    // said in the log; it is dead only once its process is gone.
    this.heart = setInterval(() => void this.listen(), HEARTBEAT_MS);
    this.heart.unref();
    if ("attached" in how && !how.fresh) {
      for (const q of how.attached) this.track(q);
      // An execution sent before stdin connected could not ask for input.
      this.ready = settlesWithin(this.channels.stdinConnected, STDIN_WAIT_MS).then(() => undefined);
      void this.sweep(new Set(how.attached.map((q) => q.executionId)));
    } else {
      this.ready = this.handshake();
      this.ready.catch(() => undefined);
    }
  }

  private async listen(): Promise<void> {
    const ok = await this.channels.beat();
    if (this.ended || this.stopping) return;
    if (ok) {
      if (this.missedBeats >= 3) this.log.info("the kernel answers its heartbeat again");
      this.missedBeats = 0;
    } else if (++this.missedBeats === 3) {
      this.log.warn("the kernel has not answered its heartbeat for 15 s");
    }
  }

  /** A kernel just launched: it is ready once it answered kernel_info (KernelReady). */
  static launched(host: KernelHost, kid: string, launched: LaunchedKernel): RunningKernel {
    return new RunningKernel(host, kid, launched.process, launched.connection, {
      exited: launched.exited,
    });
  }

  /**
   * A kernel that ran before this service started: connected again with the same identity.
   * `queue` is what the view says was sent to it; `fresh` when it never got ready.
   */
  static attached(
    host: KernelHost,
    kid: string,
    found: { process: KernelProcess; connection: ConnectionInfo },
    queue: QueuedExecution[],
    fresh: boolean,
  ): RunningKernel {
    return new RunningKernel(host, kid, found.process, found.connection, {
      attached: queue,
      fresh,
    });
  }

  get generation(): number {
    return this.process.generation;
  }

  private async handshake(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let info: JupyterMessage;
    try {
      for (;;) {
        info = await this.channels.request(
          "shell",
          "kernel_info_request",
          {},
          Math.max(1, deadline - Date.now()),
        );
        // Its status messages show that iopub is connected too (else ask again).
        const seenBy = Date.now() + 500;
        while (this.channels.iopubSeen === 0 && Date.now() < seenBy)
          await new Promise((r) => setTimeout(r, 20));
        if (this.channels.iopubSeen > 0) break;
      }
      if (!(await settlesWithin(this.channels.stdinConnected, deadline - Date.now())))
        throw new CocalcError("ERR_KERNEL_TIMEOUT", "the kernel's stdin did not connect");
    } catch (err) {
      if (this.ended) throw err;
      this.log.warn({ err }, "the kernel did not answer");
      signalKernel(this.process.pid, "SIGKILL");
      await this.died(null, null, "the kernel did not answer kernel_info within 60 s");
      throw err;
    }
    const impl = info.content.implementation;
    const version = info.content.implementation_version;
    await this.outputs.publishLife(KernelReady, {
      generation: this.generation,
      pid: this.process.insidePid ?? this.process.pid,
      ...(typeof impl === "string" && {
        implementation: `${impl}${typeof version === "string" ? ` ${version}` : ""}`.slice(0, 500),
      }),
      ...(typeof info.content.protocol_version === "string" && {
        protocolVersion: info.content.protocol_version.slice(0, 20),
      }),
    });
    this.log.info("kernel ready");
  }

  /**
   * After attaching: the kernel answers kernel_info once every earlier shell request is
   * done, so executions of before whose end this service missed are finished then.
   */
  private async sweep(before: Set<string>): Promise<void> {
    try {
      await this.channels.request("shell", "kernel_info_request", {}, 7 * 24 * 3600_000);
    } catch {
      return;
    }
    for (const id of before) {
      const ex = this.executions.get(id);
      if (ex) await this.finish(ex);
    }
  }

  private track(q: QueuedExecution): Execution {
    const ex: Execution = { of: q, count: null, idle: false, errorSeen: false };
    this.executions.set(q.executionId, ex);
    return ex;
  }

  /** Sends an execution (after the kernel is ready; in the order of calls). */
  execute(executionId: string, cellId: string, code: string): void {
    // Sent once: by the command path as soon as it is stored, or by the consumer.
    if (this.executions.has(executionId) || this.recent.has(executionId)) return;
    this.track({ executionId, cellId });
    this.sending = this.sending
      .then(() => this.ready)
      .then(() =>
        this.channels.send(
          "shell",
          "execute_request",
          {
            code,
            silent: false,
            store_history: true,
            user_expressions: {},
            allow_stdin: true,
            stop_on_error: true,
          },
          { msgId: executionId },
        ),
      )
      .catch((err) => this.log.warn({ err, executionId }, "execution not sent"));
  }

  interrupt(): void {
    if (this.process.interruptMode === "message") {
      void this.channels
        .send("control", "interrupt_request", {})
        .catch((err) => this.log.warn({ err }, "interrupt not sent"));
    } else {
      signalKernel(this.process.pid, "SIGINT");
    }
  }

  replyInput(value: string): void {
    void this.channels
      .send("stdin", "input_reply", { value }, { parent: this.inputParent })
      .catch((err) => this.log.warn({ err }, "input not sent"));
  }

  async complete(code: string, cursorPos: number): Promise<KernelResults["complete"]> {
    await this.ready;
    const m = await this.channels.request(
      "shell",
      "complete_request",
      { code, cursor_pos: codePoints(code, cursorPos) },
      10_000,
    );
    const c = m.content;
    const start = Number.isInteger(c.cursor_start) ? (c.cursor_start as number) : 0;
    const end = Number.isInteger(c.cursor_end) ? (c.cursor_end as number) : start;
    return {
      matches: Array.isArray(c.matches) ? c.matches.filter((x) => typeof x === "string") : [],
      cursorStart: utf16Index(code, start),
      cursorEnd: utf16Index(code, end),
    };
  }

  async inspect(code: string, cursorPos: number, detail: 0 | 1): Promise<KernelResults["inspect"]> {
    await this.ready;
    const m = await this.channels.request(
      "shell",
      "inspect_request",
      { code, cursor_pos: codePoints(code, cursorPos), detail_level: detail },
      10_000,
    );
    const data = m.content.data;
    return {
      found: m.content.found === true,
      data: typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {},
    };
  }

  // ---- what the kernel sends ----------------------------------------------------------------

  private ofMessage(m: JupyterMessage): { ex?: Execution; of?: OfExecution } {
    const parent = m.parent_header.msg_id;
    if (parent === undefined) return {};
    const ex = this.executions.get(parent);
    return { ex, of: ex?.of ?? this.recent.get(parent) };
  }

  private async onIopub(m: JupyterMessage): Promise<void> {
    const { ex, of } = this.ofMessage(m);
    if (!of) return;
    if (m.header.msg_type === "status") {
      if (ex && m.content.execution_state === "idle") {
        ex.idle = true;
        if (ex.reply) await this.finish(ex);
        else {
          ex.grace = setTimeout(() => void this.finish(ex), REPLY_GRACE_MS);
          ex.grace.unref();
        }
      }
      return;
    }
    if (ex && m.header.msg_type === "execute_input") ex.count = count(m.content.execution_count);
    if (ex && m.header.msg_type === "error") ex.errorSeen = true;
    if (this.outputs.iopub(m, of)) await this.outputs.room();
  }

  private onShell(m: JupyterMessage): void {
    if (m.header.msg_type !== "execute_reply") return;
    const { ex } = this.ofMessage(m);
    if (!ex) return;
    const status = typeof m.content.status === "string" ? m.content.status : "ok";
    ex.reply = { status, count: count(m.content.execution_count) };
    // An aborted execution (an earlier one failed) never ran: no idle comes for it.
    if (ex.idle || status === "aborted") void this.finish(ex);
  }

  private onStdin(m: JupyterMessage): void {
    if (m.header.msg_type !== "input_request") return;
    const { ex } = this.ofMessage(m);
    if (!ex) return;
    this.inputParent = m.header;
    void this.outputs
      .publishLife(InputRequested, {
        ...ex.of,
        prompt: typeof m.content.prompt === "string" ? m.content.prompt.slice(0, 4000) : "",
        password: m.content.password === true,
      })
      .catch(() => undefined);
  }

  private async finish(ex: Execution, forced?: "aborted"): Promise<void> {
    if (this.executions.get(ex.of.executionId) !== ex) return;
    this.executions.delete(ex.of.executionId);
    clearTimeout(ex.grace);
    this.recent.set(ex.of.executionId, ex.of);
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
    const replied = ex.reply?.status;
    const status =
      forced ??
      (replied === "ok" || replied === "error" || replied === "aborted"
        ? replied
        : ex.errorSeen
          ? "error"
          : "ok");
    await this.outputs
      .publishLife(ExecutionFinished, {
        ...ex.of,
        status,
        executionCount: ex.reply?.count ?? ex.count,
      })
      .catch(() => undefined);
  }

  // ---- the end --------------------------------------------------------------------------------

  private async died(code: number | null, signal: NodeJS.Signals | null, why?: string) {
    if (this.ended || this.stopping) return;
    this.ended = true;
    this.release();
    const reason =
      why ??
      (signal
        ? `the kernel was killed by ${signal}`
        : code !== null
          ? `the kernel exited with code ${code}`
          : "the kernel process ended");
    this.log.warn({ code, signal, reason }, "kernel died");
    try {
      for (const ex of [...this.executions.values()]) await this.finish(ex, "aborted");
      await this.outputs.publishLife(KernelDied, {
        generation: this.generation,
        code,
        signal,
        reason,
        stderr: await logTail(this.host.dir, this.kid),
      });
      await this.outputs.settled();
      // Its key is of no use any more; the log stays for whoever looks into why.
      const files = kernelFiles(this.host.dir, this.kid);
      await Promise.all([
        rm(files.connection, { force: true }),
        rm(files.process, { force: true }),
        this.host.forget?.(this.kid),
      ]);
    } catch (err) {
      this.host.fail(err);
    }
    this.host.gone(this);
  }

  /** Ends the process on request (restart, shutdown, another kernelspec): no KernelDied. */
  async stop(): Promise<void> {
    if (this.ended) return;
    this.stopping = true;
    await this.channels
      .request("control", "shutdown_request", { restart: false }, 1000)
      .catch(() => undefined);
    const connection = connectionArg(this.host.dir, this.kid, this.process);
    const alive = () => isKernelAlive(this.process.pid, connection);
    for (let i = 0; i < 30 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    if (alive()) signalKernel(this.process.pid, "SIGKILL");
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    // Its process group: whatever the kernel started goes with it.
    signalKernel(this.process.pid, "SIGKILL");
    this.ended = true;
    await this.outputs.settled().catch(() => undefined);
    this.release();
    this.host.gone(this);
  }

  /** Lets go of the process without ending it (the service stops; the kernel runs on). */
  async detach(): Promise<void> {
    this.stopping = true;
    await this.outputs.settled().catch(() => undefined);
    this.release();
  }

  private release(): void {
    clearInterval(this.watcher);
    this.watcher = undefined;
    clearInterval(this.heart);
    this.heart = undefined;
    for (const ex of this.executions.values()) clearTimeout(ex.grace);
    this.outputs.close();
    this.channels.close();
  }
}

function count(x: unknown): number | null {
  return Number.isInteger(x) ? (x as number) : null;
}
