/**
 * The pty host: one process per workspace that owns the ptys (node-pty) and outlives the
 * terminals service (and, in daemon mode, cocalc-plus itself), so shells survive restarts.
 * It keeps each terminal's output from the last acknowledged byte on, pauses a pty whose
 * unacknowledged output passes a high-water mark (a flood blocks the writer instead of
 * growing memory), and serves one service connection at a time over a unix socket.
 *
 * Usage: node pty-host.js DIR [--orphan-exit-ms N]
 *   DIR: its 0700 directory (socket, pid file, log). With --orphan-exit-ms, it ends its
 *   shells and exits when no service has been connected for N ms (0: never). Without live
 *   shells and without a service it always exits after a minute.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { chmod, open, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { type IPty, spawn } from "node-pty";
import pino from "pino";
import { userEnv } from "../runtime/user-env.js";
import {
  FrameReader,
  type HostExit,
  type HostMessage,
  type HostTerminal,
  hostFiles,
  jsonFrame,
  outputFrame,
  type ServiceMessage,
  type SpawnSpec,
} from "./host-protocol.js";

/** Unacknowledged output at which a pty is paused, and below which it resumes. */
export const HIGH_WATER = 2 * 1024 * 1024;
export const LOW_WATER = 512 * 1024;
const IDLE_EXIT_MS = 60_000;
const KILL_GRACE_MS = 3000;

const log = pino({ base: { pid: process.pid, component: "pty-host" } });

/** Held keystrokes go to a shell that printed nothing after this long anyway. */
const HOLD_INPUT_MAX_MS = 15_000;
const HOLD_INPUT_MAX_BYTES = 64 * 1024;

class Hosted {
  pty: IPty | undefined;
  pid = 0;
  generation: number;
  cols: number;
  rows: number;
  offset: number;
  acked: number;
  /** Output from `acked` to `offset`. */
  private chunks: Buffer[] = [];
  private paused = false;
  /** Keystrokes held until the shell's first output (SpawnSpec.holdInput). */
  private held: Buffer[] | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  exit: HostExit | undefined;
  /** Resolves when the current pty has exited. */
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly tid: string,
    spec: SpawnSpec,
    private readonly host: PtyHost,
  ) {
    this.generation = spec.generation;
    this.cols = spec.cols;
    this.rows = spec.rows;
    this.offset = spec.startOffset;
    this.acked = spec.startOffset;
  }

  get alive(): boolean {
    return this.pty !== undefined;
  }

  info(): HostTerminal {
    return {
      tid: this.tid,
      generation: this.generation,
      pid: this.pid,
      cols: this.cols,
      rows: this.rows,
      offset: this.offset,
      acked: this.acked,
      alive: this.alive,
      ...(this.exit && { exit: this.exit }),
    };
  }

  start(spec: SpawnSpec): number {
    this.generation = spec.generation;
    this.exit = undefined;
    let cwd = spec.cwd;
    if (!existsSync(cwd)) {
      this.output(Buffer.from(`cocalc: ${cwd} does not exist; starting in ${spec.home}\r\n`));
      cwd = spec.home;
    }
    const pty = spawn(spec.shell, spec.args, {
      name: spec.env.TERM ?? "xterm-256color",
      cols: this.cols,
      rows: this.rows,
      cwd,
      env: { ...userEnv(), ...spec.env },
      encoding: null,
    });
    this.pty = pty;
    this.pid = pty.pid;
    this.releaseHeld();
    if (spec.holdInput) {
      this.held = [];
      // A shell that never prints anything must not swallow keystrokes for good.
      this.heldTimer = setTimeout(() => this.releaseHeld(), HOLD_INPUT_MAX_MS);
    }
    const generation = spec.generation;
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    pty.onData((data) => {
      this.output(data as unknown as Buffer);
      if (this.pty === pty) this.releaseHeld();
    });
    pty.onExit(({ exitCode, signal }) => {
      if (this.pty === pty) {
        this.pty = undefined;
        this.paused = false;
        this.releaseHeld();
      }
      const sig = signal ? signal : null;
      const exit: HostExit = { generation, code: sig === null ? exitCode : null, signal: sig };
      if (generation === this.generation) this.exit = exit;
      log.info({ tid: this.tid, generation, code: exit.code, signal: exit.signal }, "shell exited");
      this.host.send({ op: "exit", tid: this.tid, offset: this.offset, ...exit }, this);
      resolveExit();
    });
    log.info({ tid: this.tid, generation, shellPid: pty.pid, cwd }, "shell started");
    return pty.pid;
  }

  /** A keystroke for the shell; held while the shell is not yet reading (SpawnSpec.holdInput). */
  input(data: Buffer): void {
    if (!this.pty) return;
    if (this.held) {
      if (this.held.reduce((n, b) => n + b.length, 0) + data.length <= HOLD_INPUT_MAX_BYTES)
        this.held.push(data);
      return;
    }
    this.pty.write(data);
  }

  private releaseHeld(): void {
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    const held = this.held;
    this.held = undefined;
    if (held && this.pty) for (const data of held) this.pty.write(data);
  }

  private output(data: Buffer): void {
    const start = this.offset;
    this.chunks.push(data);
    this.offset += data.length;
    this.host.sendOutput(this, start, data);
    if (!this.paused && this.pty && this.offset - this.acked > HIGH_WATER) {
      this.paused = true;
      this.pty.pause();
    }
  }

  ack(offset: number): void {
    const to = Math.min(offset, this.offset);
    while (this.acked < to && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const drop = to - this.acked;
      if (first.length <= drop) {
        this.chunks.shift();
        this.acked += first.length;
      } else {
        this.chunks[0] = first.subarray(drop);
        this.acked += drop;
      }
    }
    if (this.paused && this.offset - this.acked < LOW_WATER) {
      this.paused = false;
      this.pty?.resume();
    }
  }

  /** Output from `from` on, as (offset, bytes) pieces. */
  *since(from: number): Generator<[number, Buffer]> {
    let at = this.acked;
    for (const c of this.chunks) {
      const end = at + c.length;
      if (end > from) yield [Math.max(at, from), c.subarray(Math.max(0, from - at))];
      at = end;
    }
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    try {
      this.pty?.resize(cols, rows);
    } catch (err) {
      log.warn({ tid: this.tid, err }, "resize failed");
    }
  }

  /** SIGHUP (what closing a terminal sends), then SIGKILL if it lingers. */
  async kill(): Promise<void> {
    const pty = this.pty;
    if (!pty) return;
    try {
      pty.kill("SIGHUP");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(pty.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

class PtyHost {
  private readonly terminals = new Map<string, Hosted>();
  private peer: Socket | undefined;
  /** Terminals the current peer has asked for output of. */
  private attached = new Set<string>();
  private lonelySince = Date.now();
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly files: ReturnType<typeof hostFiles>,
    private readonly orphanExitMs: number,
  ) {}

  async listen(): Promise<void> {
    await rm(this.files.socket, { force: true });
    this.server = createServer((socket) => this.accept(socket));
    // The socket is born 0600 (not chmod-ed after): no moment when others could connect.
    // The umask is put back at once, so shells get the user's own.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server!.once("error", reject);
        this.server!.listen(this.files.socket, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    await chmod(this.files.socket, 0o600);
    setInterval(() => this.checkAlone(), 1000).unref();
    log.info({ socket: this.files.socket }, "pty host listening");
  }

  private checkAlone(): void {
    if (this.peer) return;
    const alone = Date.now() - this.lonelySince;
    const live = [...this.terminals.values()].some((t) => t.alive);
    if ((this.orphanExitMs > 0 && alone > this.orphanExitMs) || (!live && alone > IDLE_EXIT_MS)) {
      log.info({ aloneMs: alone, live }, "no service connected; exiting");
      void this.shutdown();
    }
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // The newest connection wins: an old service that hung or was killed -9 may not have
    // closed its socket yet.
    if (this.peer) {
      log.info("a new service connected; dropping the previous one");
      this.peer.destroy();
    }
    this.peer = socket;
    this.attached = new Set();
    const reader = new FrameReader();
    socket.on("data", (data) => {
      try {
        for (const f of reader.push(data)) {
          if (f.kind === "json") void this.handle(f.message as ServiceMessage);
          else if (f.kind === "input") this.terminals.get(f.tid)?.input(f.data);
        }
      } catch (err) {
        log.warn({ err }, "bad frame from the service; dropping it");
        socket.destroy();
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (this.peer === socket) {
        this.peer = undefined;
        this.attached = new Set();
        this.lonelySince = Date.now();
      }
    });
    this.send({
      op: "hello",
      pid: process.pid,
      terminals: [...this.terminals.values()].map((t) => t.info()),
    });
  }

  send(message: HostMessage, about?: Hosted): void {
    if (!this.peer) return;
    if (about && !this.attached.has(about.tid)) return;
    this.peer.write(jsonFrame(message));
  }

  sendOutput(t: Hosted, offset: number, data: Buffer): void {
    if (this.peer && this.attached.has(t.tid)) this.peer.write(outputFrame(t.tid, offset, data));
  }

  private reply(message: HostMessage): void {
    this.peer?.write(jsonFrame(message));
  }

  private async handle(m: ServiceMessage): Promise<void> {
    switch (m.op) {
      case "spawn": {
        try {
          const r = await this.spawn(m);
          this.reply({ op: "reply", req: m.req, ok: true, ...r });
        } catch (err) {
          log.warn({ tid: m.tid, err }, "spawn failed");
          this.reply({ op: "reply", req: m.req, ok: false, error: String(err) });
        }
        return;
      }
      case "attach": {
        const t = this.terminals.get(m.tid);
        if (!t || !this.peer) return;
        if (m.from < t.acked) {
          log.warn({ tid: m.tid, from: m.from, acked: t.acked }, "output before the ack is gone");
        }
        this.attached.add(m.tid);
        for (const [offset, data] of t.since(m.from)) this.sendOutput(t, offset, data);
        if (t.exit && !t.alive) {
          this.send({ op: "exit", tid: t.tid, offset: t.offset, ...t.exit }, t);
        }
        return;
      }
      case "ack":
        this.terminals.get(m.tid)?.ack(m.offset);
        return;
      case "resize":
        this.terminals.get(m.tid)?.resize(m.cols, m.rows);
        return;
      case "kill": {
        await this.terminals.get(m.tid)?.kill();
        this.reply({ op: "reply", req: m.req, ok: true });
        return;
      }
      case "forget": {
        const t = this.terminals.get(m.tid);
        if (t && !t.alive) {
          this.terminals.delete(m.tid);
          this.attached.delete(m.tid);
        }
        return;
      }
      case "shutdown":
        await this.shutdown(() => this.reply({ op: "reply", req: m.req, ok: true }));
        return;
      default: {
        const never: never = m;
        log.warn({ message: never }, "unknown message");
      }
    }
  }

  /** Starts the shell of `spec`, or keeps the one that runs (a redelivered open is a no-op). */
  private async spawn(spec: SpawnSpec): Promise<{ pid?: number; adopted: boolean }> {
    let t = this.terminals.get(spec.tid);
    if (!t) {
      t = new Hosted(spec.tid, spec, this);
      this.terminals.set(spec.tid, t);
      return { pid: t.start(spec), adopted: false };
    }
    if (spec.generation <= t.generation) {
      // Already done (and maybe exited since): nothing to start.
      return { ...(t.alive && { pid: t.pid }), adopted: true };
    }
    if (t.alive && !spec.restart) {
      // An open of a terminal whose shell still runs: keep it under the new generation.
      t.generation = spec.generation;
      return { pid: t.pid, adopted: true };
    }
    await t.kill();
    return { pid: t.start(spec), adopted: false };
  }

  async shutdown(before?: () => void): Promise<void> {
    this.stopping ??= (async () => {
      log.info({ terminals: this.terminals.size }, "shutting down");
      await Promise.all([...this.terminals.values()].map((t) => t.kill()));
      before?.();
      this.server?.close();
      await rm(this.files.socket, { force: true });
      await rm(this.files.pid, { force: true });
      this.peer?.end();
      setTimeout(() => process.exit(0), 100);
    })();
    return this.stopping;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the pid file as a lock; false when another live host holds it. */
async function lock(pidFile: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(pidFile, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && alive(pid)) return false;
      await rm(pidFile, { force: true });
    }
  }
  return false;
}

/** True when a host answers on the socket already. */
function answering(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function main(argv: string[]): Promise<void> {
  const dir = argv[0];
  if (!dir) {
    console.error("usage: pty-host DIR [--orphan-exit-ms N]");
    process.exit(2);
  }
  const i = argv.indexOf("--orphan-exit-ms");
  const orphanExitMs = i >= 0 ? Number(argv[i + 1]) : 0;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = hostFiles(dir);
  if ((await answering(files.socket)) || !(await lock(files.pid))) {
    log.info("another pty host serves this directory; exiting");
    process.exit(0);
  }
  const host = new PtyHost(files, Number.isFinite(orphanExitMs) ? orphanExitMs : 0);
  // Detached from any terminal; only an explicit SIGTERM (or a shutdown message) ends it.
  process.on("SIGHUP", () => undefined);
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => void host.shutdown());
  await host.listen();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log.error({ err }, "pty host failed");
  process.exit(1);
});
