/**
 * The client of a streamed exec (`cocalc-launchpad workspace exec|shell`, protocol in
 * shared/launchpad-exec.ts): opens the session with the workspace's command, then pulls
 * output (writing it out before asking for more, which is the flow control), pushes stdin,
 * forwards terminal resizes, says it is alive, and exits with the command's exit code.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { request } from "../../shared/command-client.js";
import { CocalcError, type ErrorPayload } from "../../shared/errors.js";
import {
  EXEC_HOLD_MS,
  EXEC_TIMEOUT_EXIT,
  EXEC_WRITE_BYTES,
  type ExecOpened,
  type ExecReadReply,
} from "../../shared/launchpad-exec.js";
import { hostSubjects } from "../../shared/subjects.js";

export interface StreamExecOptions {
  nc: NatsConnection;
  /** Where the workspace's commands go (its command subject, or its host's). */
  commandSubject: string;
  wsid: string;
  argv: string[];
  tty: boolean;
  /** Send this process's stdin. */
  stdin: boolean;
  root: boolean;
  /** 0: no limit. */
  timeoutMs: number;
  io?: {
    stdin: NodeJS.ReadStream;
    stdout: NodeJS.WriteStream;
    stderr: NodeJS.WriteStream;
  };
}

const failed = (e: ErrorPayload) => new CocalcError(e.code as never, e.message);

/** Runs the command; resolves to its exit code. */
export async function streamExec(o: StreamExecOptions): Promise<number> {
  const io = o.io ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const { nc } = o;
  const opened = await request<{ result: ExecOpened }>(
    nc,
    o.commandSubject,
    {
      type: "OpenExec",
      data: {
        argv: o.argv,
        ...(o.tty && {
          tty: true,
          cols: io.stdout.columns || 80,
          rows: io.stdout.rows || 24,
          ...(process.env.TERM &&
            /^[-_.+A-Za-z0-9]{1,64}$/.test(process.env.TERM) && { term: process.env.TERM }),
        }),
        ...(o.stdin && { stdin: true }),
        ...(o.root && { root: true }),
        ...(o.timeoutMs > 0 && { timeoutMs: o.timeoutMs }),
      },
    },
    { timeoutMs: 60_000, refused: failed },
  );
  const { execId, hostId, idleMs } = opened.result;
  const s = hostSubjects(hostId).exec(o.wsid, execId);
  const ask = <T extends object>(subject: string, body: object, timeoutMs = 20_000) =>
    request<T>(nc, subject, body, { timeoutMs, refused: failed });

  const cleanups: (() => void)[] = [];
  let done = false;
  const raw = o.tty && o.stdin && io.stdin.isTTY;
  if (raw) {
    io.stdin.setRawMode(true);
    cleanups.push(() => io.stdin.setRawMode(false));
  }
  // Alive even while output waits for a slow reader of ours.
  const beat = setInterval(
    () => void ask(s.alive, {}).catch(() => undefined),
    Math.max(500, idleMs / 3),
  );
  cleanups.push(() => clearInterval(beat));
  if (o.tty && io.stdout.isTTY) {
    const onResize = () =>
      void ask(s.resize, { cols: io.stdout.columns, rows: io.stdout.rows }).catch(() => undefined);
    io.stdout.on("resize", onResize);
    cleanups.push(() => io.stdout.off("resize", onResize));
  }
  // Interrupted (not in raw mode, where ^C goes to the command): end the command, report it.
  const onSignal = () => void ask(s.close, {}).catch(() => undefined);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, onSignal);
    cleanups.push(() => process.off(sig, onSignal));
  }

  const pump = o.stdin
    ? (async () => {
        let seq = 0;
        const send = async (body: { data?: string; eof?: boolean }) => {
          // A lost reply is asked again with the same number; the host writes it once.
          for (;;) {
            try {
              await ask(s.stdin, { seq, ...body });
              seq++;
              return;
            } catch (err) {
              if (done || err instanceof CocalcError) throw err;
            }
          }
        };
        for await (const b of io.stdin as AsyncIterable<Buffer>) {
          if (done) return;
          for (let i = 0; i < b.length; i += EXEC_WRITE_BYTES)
            await send({ data: b.subarray(i, i + EXEC_WRITE_BYTES).toString("base64") });
        }
        if (!done) await send({ eof: true });
      })().catch(() => undefined)
    : undefined;

  const write = (stream: NodeJS.WriteStream, b: Buffer) =>
    new Promise<void>((resolve) => {
      if (stream.write(b)) resolve();
      else stream.once("drain", resolve);
    });
  try {
    let ack = 0;
    let quietSince = Date.now();
    for (;;) {
      let r: ExecReadReply;
      try {
        r = await ask<ExecReadReply>(s.stdout, { ack }, EXEC_HOLD_MS + 10_000);
        quietSince = Date.now();
      } catch (err) {
        if (err instanceof CocalcError) throw err;
        // No answer (a timeout, the host busy): ask again until the session would be gone.
        if (Date.now() - quietSince > idleMs)
          throw new CocalcError("ERR_HOST_OFFLINE", `host ${hostId} stopped answering the exec`);
        continue;
      }
      for (const c of r.chunks) {
        if (c.seq < ack) continue;
        await write(c.stream === "err" ? io.stderr : io.stdout, Buffer.from(c.data, "base64"));
        ack = c.seq + 1;
      }
      if (r.exit) {
        if (r.exit.timedOut) io.stderr.write(`\ncocalc-launchpad: ${r.exit.reason}\n`);
        return r.exit.timedOut ? EXEC_TIMEOUT_EXIT : r.exit.code;
      }
    }
  } finally {
    done = true;
    for (const c of cleanups.reverse()) c();
    // The pump may be waiting for stdin that never comes: stop reading it.
    if (pump) io.stdin.pause();
    io.stdin.unref?.();
  }
}
