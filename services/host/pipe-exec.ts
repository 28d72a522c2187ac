/**
 * Commands in a workspace whose bytes go over a byte pipe (shared/launchpad-exec.ts OpenPipe,
 * services/runtime/byte-pipe.ts): what the hub's SSH server opens for a shell, an exec, sftp
 * and a `-L` forward. Like a streamed exec (exec.ts), each is one `podman exec` (under a pty
 * with a tty) whose process tree lives in a cgroup of its own (exec-tree.ts) and is killed when
 * the command ends or its pipe does; unlike it, the bytes are not pulled in JSON: the pipe's
 * credit is the flow control (a pty or a stdout is paused while the pipe cannot take more).
 * A forward is a relay run on the host in the container's network namespace only (nsenter),
 * so it reaches whatever listens inside, whatever the image has.
 */
import { spawn } from "node:child_process";
import type { NatsConnection } from "@nats-io/nats-core";
import { spawn as spawnPty } from "node-pty";
import type { ExecExit, PipeExecControl, PipeExecInput } from "../../shared/launchpad-exec.js";
import { hostSubjects } from "../../shared/subjects.js";
import { BytePipe } from "../runtime/byte-pipe.js";
import type { Logger } from "../runtime/logger.js";
import type { ExecSpec } from "./exec.js";
import { EXEC_MARKER, EXEC_WRAPPER, makeExecTree } from "./exec-tree.js";

/** Connects stdin/stdout to `port` on `host`; run in the container's network namespace. */
const TCP_RELAY = `const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);
s.on("error", (e) => { process.stderr.write(e.message + "\\n"); process.exit(1); });
s.on("connect", () => { process.stdin.pipe(s); s.pipe(process.stdout); });
s.on("end", () => process.stdout.end());
process.stdin.on("end", () => s.end());`;

export interface PipeSpec extends Omit<ExecSpec, "timeoutMs" | "stdin"> {
  pipeId: string;
  kind: "exec" | "tcp";
  host?: string;
  port?: number;
}

/** The pipes of one host; `stop()` ends them all. */
export class PipeExecs {
  private readonly running = new Set<() => Promise<void>>();

  constructor(
    private readonly o: { nc: NatsConnection; hostId: string; log: Logger; pingMs?: number },
  ) {}

  /** Starts the command and its end of the pipe (ready for the hub when this resolves). */
  async open(spec: PipeSpec): Promise<{ pipeId: string }> {
    const s = hostSubjects(this.o.hostId).pipe(spec.wsid, spec.pipeId);
    const pipe = new BytePipe({
      nc: this.o.nc,
      send: s.fromHost,
      receive: s.toHost,
      ...(this.o.pingMs !== undefined && { pingMs: this.o.pingMs }),
    });
    await pipe.ready();
    const log = this.o.log.child({ wsid: spec.wsid, pipe: spec.pipeId });
    const tree = spec.kind === "exec" ? await makeExecTree(spec.initPid, spec.pipeId) : undefined;
    const env: Record<string, string> = { [EXEC_MARKER]: spec.pipeId };
    if (spec.tty) env.TERM = spec.term;
    const [file, args] =
      spec.kind === "tcp"
        ? [
            "nsenter",
            [
              `--net=/proc/${spec.initPid}/ns/net`,
              "--",
              process.execPath,
              "-e",
              TCP_RELAY,
              spec.host ?? "127.0.0.1",
              String(spec.port ?? 0),
            ],
          ]
        : spec.podmanArgv(tree ? [...EXEC_WRAPPER, ...spec.argv] : spec.argv, env);
    let exited!: (e: ExecExit) => void;
    let gone = false;
    const exit = new Promise<ExecExit>((r) => {
      exited = r;
    }).finally(() => {
      gone = true;
    });
    let kill: () => void;
    pipe.on("error", (err) => {
      log.info({ err }, "pipe: ended by its other end");
      kill();
    });
    if (spec.tty && spec.kind === "exec") {
      const p = spawnPty(file, args, {
        name: spec.term,
        cols: spec.cols,
        rows: spec.rows,
        env: process.env as Record<string, string>,
      });
      p.onData((text) => {
        if (!pipe.write(Buffer.from(text, "utf8"))) {
          p.pause();
          pipe.once("drain", () => p.resume());
        }
      });
      p.onExit(({ exitCode, signal }) => exited({ code: signal ? 128 + signal : exitCode }));
      pipe.on("data", (b: Buffer) => p.write(b.toString("utf8")));
      pipe.on("end", () => p.write("\x04"));
      pipe.on("control", (c: PipeExecInput) => {
        if (c.cols >= 1 && c.rows >= 1) p.resize(Math.floor(c.cols), Math.floor(c.rows));
      });
      kill = () => p.kill("SIGKILL");
    } else {
      const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
      child.stdout.pipe(pipe, { end: false });
      child.stderr.on("data", (b: Buffer) =>
        pipe.control({ err: b.toString("base64") } satisfies PipeExecControl),
      );
      pipe.pipe(child.stdin);
      child.stdin.on("error", () => undefined);
      child.on("error", (err) => {
        pipe.control({
          err: Buffer.from(`cocalc: could not run: ${err.message}\n`).toString("base64"),
        });
        exited({ code: 126 });
      });
      // "close": stdout and stderr have been read to their end.
      child.on("close", (code, signal) => exited({ code: code ?? (signal ? 128 + 9 : 0) }));
      kill = () => child.kill("SIGKILL");
    }
    const adopted = tree
      ? tree
          .adopt(() => gone)
          .catch((err) => {
            log.warn({ err }, "pipe: could not put the command in its cgroup");
            return false;
          })
      : Promise.resolve(false);
    let ending: Promise<void> | undefined;
    const end = () => {
      ending ??= (async () => {
        await Promise.race([adopted, new Promise((r) => setTimeout(r, 10_000))]);
        await tree?.kill().catch((err) => log.error({ err }, "pipe: kill"));
        kill();
        await exit;
      })();
      return ending;
    };
    this.running.add(end);
    void (async () => {
      const e = await exit;
      await tree?.kill().catch((err) => log.error({ err }, "pipe: kill"));
      if (!pipe.destroyed) {
        pipe.control({ exit: e } satisfies PipeExecControl);
        pipe.end();
      }
      this.running.delete(end);
      await spec.onEnd().catch((err) => log.warn({ err }, "pipe: release failed"));
      log.info({ code: e.code }, "pipe: command ended");
    })();
    return { pipeId: spec.pipeId };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running].map((end) => end()));
  }
}
