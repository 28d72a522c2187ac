/**
 * The terminals service's end of the pty host socket: finds a running host (or starts one,
 * detached, so it outlives us), and turns frames into calls and callbacks.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import {
  FrameReader,
  type HostMessage,
  type HostTerminal,
  hostFiles,
  inputFrame,
  jsonFrame,
  type ServiceMessage,
  type SpawnSpec,
} from "./host-protocol.js";

export interface HostLocation {
  /** The host's 0700 directory: socket, pid file, log. One per workspace. */
  dir: string;
  /** The pty host script (node runs it). */
  script: string;
  /** Passed to the host: end the shells when no service was connected for this long (0: never). */
  orphanExitMs: number;
}

export interface HostEvents {
  output(tid: string, offset: number, data: Buffer): void;
  exit(message: Extract<HostMessage, { op: "exit" }>): void;
  /** The socket closed without close() being called: the host died or dropped us. */
  lost(err: Error): void;
}

const CONNECT_TIMEOUT_MS = 10_000;
const REPLY_TIMEOUT_MS = 15_000;

function dial(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", () => resolve(undefined));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts a pty host in the background: its own session, so signals to us do not reach it. */
function startHost(loc: HostLocation, log: Logger): void {
  mkdirSync(loc.dir, { recursive: true, mode: 0o700 });
  const out = openSync(hostFiles(loc.dir).log, "a", 0o600);
  const child = spawn(
    process.execPath,
    [loc.script, loc.dir, "--orphan-exit-ms", String(loc.orphanExitMs)],
    { detached: true, stdio: ["ignore", out, out], cwd: loc.dir },
  );
  child.unref();
  log.info({ hostPid: child.pid, dir: loc.dir }, "pty host started");
}

export class PtyHostClient {
  private reqs = 0;
  private readonly pending = new Map<
    number,
    { resolve(m: HostMessage): void; reject(e: Error): void }
  >();
  private closing = false;

  private constructor(
    private readonly socket: Socket,
    /** The host's pid and the terminals it had when we connected. */
    readonly hello: Extract<HostMessage, { op: "hello" }>,
    private readonly events: HostEvents,
  ) {}

  /**
   * Connects to the host of `loc`; with `start`, starts one when none is running. Resolves
   * undefined when there is none and `start` is false.
   */
  static async connect(
    loc: HostLocation,
    events: HostEvents,
    log: Logger,
    start: boolean,
  ): Promise<PtyHostClient | undefined> {
    const files = hostFiles(loc.dir);
    let socket = await dial(files.socket);
    if (!socket && start) {
      startHost(loc, log);
      const deadline = Date.now() + CONNECT_TIMEOUT_MS;
      while (!socket && Date.now() < deadline) {
        await sleep(25);
        socket = await dial(files.socket);
      }
      if (!socket) {
        let tail = "";
        try {
          tail = readFileSync(files.log, "utf8").slice(-2000);
        } catch {
          // no log
        }
        throw new CocalcError("ERR_TERM_HOST", `the pty host did not start; its log:\n${tail}`);
      }
    }
    if (!socket) return undefined;
    return PtyHostClient.handshake(socket, events);
  }

  /** Waits for the host's hello on a connected socket. */
  static handshake(socket: Socket, events: HostEvents): Promise<PtyHostClient> {
    return new Promise((resolve, reject) => {
      const reader = new FrameReader();
      let client: PtyHostClient | undefined;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new CocalcError("ERR_TERM_HOST", "the pty host did not say hello"));
      }, CONNECT_TIMEOUT_MS);
      socket.on("data", (data) => {
        let frames: ReturnType<FrameReader["push"]>;
        try {
          frames = reader.push(data);
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        for (const f of frames) {
          if (!client) {
            const m = f.kind === "json" ? (f.message as HostMessage) : undefined;
            if (m?.op !== "hello") {
              socket.destroy(new Error("the pty host spoke before saying hello"));
              return;
            }
            clearTimeout(timer);
            client = new PtyHostClient(socket, m, events);
            resolve(client);
            continue;
          }
          client.frame(f);
        }
      });
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        if (!client) {
          reject(new CocalcError("ERR_TERM_HOST", "the pty host closed the connection"));
          return;
        }
        client.closed();
      });
    });
  }

  private frame(f: ReturnType<FrameReader["push"]>[number]): void {
    if (f.kind === "output") {
      this.events.output(f.tid, f.offset, f.data);
      return;
    }
    if (f.kind !== "json") return;
    const m = f.message as HostMessage;
    if (m.op === "reply") {
      const p = this.pending.get(m.req);
      this.pending.delete(m.req);
      p?.resolve(m);
    } else if (m.op === "exit") {
      this.events.exit(m);
    }
  }

  private closed(): void {
    const err = new CocalcError("ERR_TERM_HOST", "the connection to the pty host was lost");
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (!this.closing) this.events.lost(err);
  }

  private send(m: ServiceMessage): void {
    this.socket.write(jsonFrame(m));
  }

  private request(m: ServiceMessage & { req: number }): Promise<HostMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(m.req);
        reject(new CocalcError("ERR_TERM_HOST", `the pty host did not answer ${m.op}`));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(m.req, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.send(m);
    });
  }

  get terminals(): HostTerminal[] {
    return this.hello.terminals;
  }

  /** Starts (or keeps) a shell; resolves with its pid (absent when nothing runs). */
  async spawn(spec: SpawnSpec): Promise<{ pid?: number; adopted: boolean }> {
    const r = await this.request({ op: "spawn", req: ++this.reqs, ...spec });
    if (r.op !== "reply") throw new Error("unexpected answer to spawn");
    if (!r.ok) throw new CocalcError("ERR_TERM_HOST", `could not start the shell: ${r.error}`);
    return { ...(r.pid !== undefined && { pid: r.pid }), adopted: r.adopted ?? false };
  }

  /** Asks for the output of `tid` from byte `from` on (and its exit, when it has ended). */
  attach(tid: string, from: number): void {
    this.send({ op: "attach", tid, from });
  }

  ack(tid: string, offset: number): void {
    this.send({ op: "ack", tid, offset });
  }

  resize(tid: string, cols: number, rows: number): void {
    this.send({ op: "resize", tid, cols, rows });
  }

  input(tid: string, data: Uint8Array): void {
    this.socket.write(inputFrame(tid, data));
  }

  async kill(tid: string): Promise<void> {
    await this.request({ op: "kill", req: ++this.reqs, tid });
  }

  forget(tid: string): void {
    this.send({ op: "forget", tid });
  }

  /** Ends every shell and the host itself. */
  async shutdown(): Promise<void> {
    this.closing = true;
    await this.request({ op: "shutdown", req: ++this.reqs }).catch(() => undefined);
    this.socket.destroy();
  }

  /** Disconnects; the host and its shells keep running. */
  close(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

/** A live (not zombie) pty host process: a pid file's pid may have been reused since. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("pty-host");
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }
}

/**
 * Ends the pty host of `dir` and its shells, if one runs: politely over the socket, else by
 * SIGTERM (then SIGKILL) to the pid in its pid file. Resolves when it is gone.
 */
export async function stopPtyHost(dir: string): Promise<void> {
  const files = hostFiles(dir);
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(files.pid, "utf8").trim());
  } catch {
    pid = undefined;
  }
  const socket = await dial(files.socket);
  if (socket) {
    const events: HostEvents = { output: () => undefined, exit: () => undefined, lost: () => {} };
    const client = await PtyHostClient.handshake(socket, events).catch(() => undefined);
    pid = client?.hello.pid ?? pid;
    await client?.shutdown();
  } else if (pid && Number.isInteger(pid) && pid > 1 && alive(pid)) {
    process.kill(pid, "SIGTERM");
  }
  if (!pid || !Number.isInteger(pid) || pid <= 1) return;
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

/** The pid of the pty host of `dir`, when one is running. */
export function ptyHostPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(hostFiles(dir).pid, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
