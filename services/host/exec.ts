/**
 * Streamed exec sessions of a host (protocol: shared/launchpad-exec.ts). Each session is one
 * `podman exec` (under a pty with a tty, else with pipes) whose command's whole process tree
 * is in a cgroup of its own (exec-tree.ts): when the command ends, when it times out, when the
 * client closes or is not heard for EXEC_IDLE_MS, the tree is killed, so nothing an exec
 * started outlives it. One owner: `ExecSessions.stop()` ends them all.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { type IPty, spawn as spawnPty } from "node-pty";
import { randomId } from "../../shared/base64url.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  EXEC_BUFFER_BYTES,
  EXEC_HOLD_MS,
  EXEC_IDLE_MS,
  EXEC_READ_BYTES,
  EXEC_TIMEOUT_EXIT,
  type ExecExit,
  type ExecOpened,
  type ExecReadReply,
  type ExecReadRequest,
  type ExecResizeRequest,
  type ExecWriteRequest,
} from "../../shared/launchpad-exec.js";
import { execOfSubject, hostSubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { EXEC_MARKER, EXEC_WRAPPER, type ExecTree, makeExecTree } from "./exec-tree.js";

export interface ExecSpec {
  wsid: string;
  /** podman and its arguments up to (without) the command: built by the runtime. */
  podmanArgv: (cmd: string[], env: Record<string, string>) => [string, string[]];
  /** The host pid of the container's init (its cgroup is the parent of the exec's). */
  initPid: number;
  argv: string[];
  tty: boolean;
  stdin: boolean;
  cols: number;
  rows: number;
  term: string;
  timeoutMs: number;
  /** Called once the session's processes are gone (releases the rootfs). */
  onEnd(): Promise<void>;
}

interface Piece {
  seq: number;
  stream: "out" | "err";
  data: Buffer;
}

class ExecSession {
  private pieces: Piece[] = [];
  private nextSeq = 0;
  private buffered = 0;
  private paused = false;
  private exit: ExecExit | undefined;
  private endReason: { reason: string; code?: number; timedOut?: boolean } | undefined;
  private wake: (() => void) | undefined;
  private stdinSeq = 0;
  private stdinChain = Promise.resolve();
  lastSeen = Date.now();
  private exited = false;
  readonly ended: Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  private pty: IPty | undefined;
  private adopted: Promise<boolean>;
  private child: ChildProcessWithoutNullStreams | undefined;

  constructor(
    readonly id: string,
    private readonly spec: ExecSpec,
    private readonly tree: ExecTree | undefined,
    private readonly log: Logger,
  ) {
    const env: Record<string, string> = { [EXEC_MARKER]: id };
    if (spec.tty) env.TERM = spec.term;
    const cmd = tree ? [...EXEC_WRAPPER, ...spec.argv] : spec.argv;
    const [file, args] = spec.podmanArgv(cmd, env);
    let resolveExit!: (e: { code: number }) => void;
    const exited = new Promise<{ code: number }>((r) => {
      resolveExit = r;
    });
    if (spec.tty) {
      const pty = spawnPty(file, args, {
        name: spec.term,
        cols: spec.cols,
        rows: spec.rows,
        env: process.env as Record<string, string>,
      });
      this.pty = pty;
      pty.onData((s) => this.add("out", Buffer.from(s, "utf8")));
      pty.onExit(({ exitCode, signal }) => resolveExit({ code: signal ? 128 + signal : exitCode }));
    } else {
      const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
      this.child = child;
      child.stdout.on("data", (b: Buffer) => this.add("out", b));
      child.stderr.on("data", (b: Buffer) => this.add("err", b));
      child.stdin.on("error", () => undefined);
      if (!spec.stdin) child.stdin.end();
      child.on("error", (err) => {
        this.add("err", Buffer.from(`cocalc: could not run podman: ${err.message}\n`));
        resolveExit({ code: 126 });
      });
      child.on("close", (code, signal) =>
        resolveExit({ code: code ?? 128 + (signal ? signalNumber(signal) : 0) }),
      );
    }
    if (spec.timeoutMs > 0)
      this.timer = setTimeout(
        () =>
          void this.end({
            reason: `timed out after ${spec.timeoutMs / 1000} s`,
            code: EXEC_TIMEOUT_EXIT,
            timedOut: true,
          }),
        spec.timeoutMs,
      );
    this.adopted = tree
      ? tree
          .adopt(() => this.exited)
          .catch((err) => {
            log.warn({ err, exec: id }, "exec: could not put the command in its cgroup");
            return false;
          })
      : Promise.resolve(false);
    const adopted = this.adopted;
    this.ended = (async () => {
      const { code } = await exited;
      this.exited = true;
      clearTimeout(this.timer);
      await adopted;
      // What the command left behind ends with it.
      await this.killTree();
      const why = this.endReason;
      this.exit = {
        code: why?.code ?? code,
        ...(why?.timedOut && { timedOut: true }),
        ...(why && { reason: why.reason }),
      };
      this.poke();
      await spec.onEnd().catch((err) => log.warn({ err, exec: id }, "exec: release failed"));
    })();
  }

  private async killTree(): Promise<void> {
    if (this.tree) {
      await this.tree.kill().catch((err) => this.log.error({ err, exec: this.id }, "exec: kill"));
    }
  }

  /** Ends the command and everything it started. */
  async end(why: { reason: string; code?: number; timedOut?: boolean }): Promise<void> {
    if (this.exited) return this.ended;
    this.endReason ??= why;
    this.log.info({ exec: this.id, wsid: this.spec.wsid, reason: why.reason }, "exec: ending");
    if (this.tree) {
      // A command not yet in its cgroup would be left behind, stopped: wait until it is.
      await Promise.race([this.adopted, new Promise((r) => setTimeout(r, 10_000))]);
      await this.killTree();
    }
    // podman exec ends when its command has; without a tree, or if it hangs, end it too.
    this.pty?.kill("SIGKILL");
    this.child?.kill("SIGKILL");
    return this.ended;
  }

  private add(stream: "out" | "err", data: Buffer) {
    this.pieces.push({ seq: this.nextSeq++, stream, data });
    this.buffered += data.length;
    if (!this.paused && this.buffered > EXEC_BUFFER_BYTES) {
      this.paused = true;
      this.pty?.pause();
      this.child?.stdout.pause();
      this.child?.stderr.pause();
    }
    this.poke();
  }

  private poke() {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async read(r: ExecReadRequest): Promise<ExecReadReply> {
    while (this.pieces.length > 0 && this.pieces[0]!.seq < r.ack) {
      this.buffered -= this.pieces.shift()!.data.length;
    }
    if (this.paused && this.buffered <= EXEC_BUFFER_BYTES / 2) {
      this.paused = false;
      this.pty?.resume();
      this.child?.stdout.resume();
      this.child?.stderr.resume();
    }
    if (this.pieces.length === 0 && !this.exit) {
      // An earlier read still held is answered empty: the newer one replaces it.
      this.poke();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, EXEC_HOLD_MS);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const chunks: ExecReadReply["chunks"] = [];
    let bytes = 0;
    for (const p of this.pieces) {
      if (p.seq < r.ack) continue;
      if (chunks.length > 0 && bytes + p.data.length > EXEC_READ_BYTES) break;
      chunks.push({ seq: p.seq, stream: p.stream, data: p.data.toString("base64") });
      bytes += p.data.length;
    }
    const all = chunks.length === 0 || chunks[chunks.length - 1]!.seq === this.nextSeq - 1;
    return { ok: true, chunks, ...(this.exit && all && { exit: this.exit }) };
  }

  write(w: ExecWriteRequest): Promise<void> {
    // Requests come one at a time; a repeat (its reply was lost) is not written twice.
    this.stdinChain = this.stdinChain.then(async () => {
      if (w.seq < this.stdinSeq || this.exited) return;
      if (w.seq > this.stdinSeq)
        throw new CocalcError(
          "ERR_COMMAND_INVALID",
          `stdin piece ${w.seq} before ${this.stdinSeq}`,
        );
      this.stdinSeq++;
      const data = w.data ? Buffer.from(w.data, "base64") : undefined;
      if (this.pty) {
        if (data) this.pty.write(data);
        if (w.eof) this.pty.write("\x04");
        return;
      }
      const stdin = this.child!.stdin;
      if (data && !stdin.write(data))
        await new Promise<void>((r) => {
          stdin.once("drain", r);
          stdin.once("close", r);
        });
      if (w.eof) stdin.end();
    });
    return this.stdinChain;
  }

  resize(r: ExecResizeRequest) {
    if (this.pty && !this.exited) this.pty.resize(r.cols, r.rows);
  }

  /** The session is done with: its command ended and the client has not asked for long. */
  finished(now: number, idleMs: number): boolean {
    return this.exit !== undefined && now - this.lastSeen > idleMs;
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return (
    (
      { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 } as Record<
        string,
        number
      >
    )[signal] ?? 0
  );
}

export interface ExecSessionsOptions {
  nc: NatsConnection;
  hostId: string;
  log: Logger;
  /** The client is gone when not heard for this long (default EXEC_IDLE_MS). */
  idleMs?: number;
}

/** Every streamed exec session of a host, served on hostSubjects(hostId).execs. */
export class ExecSessions {
  private readonly sessions = new Map<string, ExecSession>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private readonly idleMs: number;
  private readonly loop: Promise<void>;

  constructor(private readonly o: ExecSessionsOptions) {
    this.idleMs = o.idleMs ?? EXEC_IDLE_MS;
    const sub = o.nc.subscribe(hostSubjects(o.hostId).execs);
    this.sub = sub;
    this.loop = (async () => {
      for await (const m of sub) void this.serve(m);
    })();
    this.sweep = setInterval(() => this.check(), Math.max(200, this.idleMs / 5));
    this.sweep.unref();
  }

  async open(spec: ExecSpec): Promise<ExecOpened> {
    const id = randomId()
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 20);
    const tree = await makeExecTree(spec.initPid, id);
    if (!tree) this.o.log.warn({ wsid: spec.wsid }, "exec: no cgroup for the exec's processes");
    const s = new ExecSession(id, spec, tree, this.o.log.child({ wsid: spec.wsid }));
    this.sessions.set(id, s);
    return { execId: id, hostId: this.o.hostId, idleMs: this.idleMs };
  }

  private check() {
    const now = Date.now();
    for (const [id, s] of this.sessions) {
      if (s.finished(now, this.idleMs)) this.sessions.delete(id);
      else if (now - s.lastSeen > this.idleMs)
        void s.end({ reason: `its client was not heard for ${this.idleMs / 1000} s` });
    }
  }

  private async serve(m: Msg) {
    const respond = (r: unknown) => {
      if (m.reply) m.respond(JSON.stringify(r));
    };
    try {
      const at = execOfSubject(m.subject);
      const s = at && this.sessions.get(at.execId);
      if (!at || !s)
        throw new CocalcError("ERR_WORKSPACE_EXEC", "no such exec session (it has ended)");
      s.lastSeen = Date.now();
      const body = m.data.length > 0 ? (m.json() as Record<string, unknown>) : {};
      switch (at.op) {
        case "stdout":
          respond(await s.read({ ack: Number(body.ack) || 0 }));
          return;
        case "stdin":
          await s.write({
            seq: Number(body.seq),
            ...(typeof body.data === "string" && { data: body.data }),
            ...(body.eof === true && { eof: true }),
          });
          respond({ ok: true });
          return;
        case "resize": {
          const cols = Number(body.cols);
          const rows = Number(body.rows);
          if (!(cols >= 1 && cols <= 10_000 && rows >= 1 && rows <= 10_000))
            throw new CocalcError("ERR_COMMAND_INVALID", "resize takes cols and rows (1 to 10000)");
          s.resize({ cols: Math.floor(cols), rows: Math.floor(rows) });
          respond({ ok: true });
          return;
        }
        case "alive":
          respond({ ok: true });
          return;
        case "close":
          await s.end({ reason: "closed by its client" });
          respond({ ok: true });
          return;
        default: {
          const never: never = at.op;
          throw new Error(`unhandled exec op ${String(never)}`);
        }
      }
    } catch (err) {
      respond({ ok: false, error: toErrorPayload(err) });
    }
  }

  /** Ends every session (their processes are killed) and stops serving. */
  async stop(): Promise<void> {
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    await this.loop;
    await Promise.all(
      [...this.sessions.values()].map((s) => s.end({ reason: "the host stopped" })),
    );
    this.sessions.clear();
  }
}
