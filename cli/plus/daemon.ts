/** Starting plus as a background process: a detached child that reports ready (or why not) over IPC. */
import { spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

/** Set in the environment of the detached child: it is the daemon. */
export const DAEMON_CHILD = "COCALC_PLUS_DAEMON_CHILD";

export function logFile(dataDir: string): string {
  const dir = join(dataDir, "logs");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, "plus.log");
}

export type DaemonStart = { ok: true; url: string; pid: number } | { ok: false; message: string };

/**
 * Runs `script args` detached, output to the data dir's log, and waits for its ready (or
 * error) message. `args` must include --no-open and must not include --daemon.
 */
export async function startDaemonChild(
  script: string,
  args: string[],
  dataDir: string,
): Promise<DaemonStart> {
  const log = logFile(dataDir);
  const fd = openSync(log, "a", 0o600);
  const child = spawn(process.execPath, [script, ...args], {
    detached: true,
    stdio: ["ignore", fd, fd, "ipc"],
    env: { ...process.env, [DAEMON_CHILD]: "1" },
  });
  const result = await new Promise<DaemonStart>((resolve) => {
    child.once("message", (m: { ready?: string; error?: string }) => {
      if (m.ready) resolve({ ok: true, url: m.ready, pid: child.pid! });
      else resolve({ ok: false, message: m.error ?? "failed" });
    });
    child.once("exit", (code) =>
      resolve({ ok: false, message: `exited with code ${code}; see ${log}` }),
    );
  });
  child.unref();
  child.disconnect?.();
  return result;
}
