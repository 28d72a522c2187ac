/**
 * Child processes for the startup benchmark: spawn, wait for the first HTTP 200, measure the
 * resident memory of the whole process tree, stop. Linux only (reads /proc).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { sleep } from "./stats.js";

/** Resident set size of one process in KiB, or 0 when it is gone. */
export function rssKib(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may contain spaces and parentheses: parse after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants that are alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Summed VmRSS of a process tree in MiB, with the parts (command name and MiB) for the log. */
export function treeRssMb(root: number): { total: number; parts: string[] } {
  let totalKib = 0;
  const parts: string[] = [];
  for (const pid of processTree(root)) {
    const kib = rssKib(pid);
    if (kib === 0) continue;
    totalKib += kib;
    let comm = "?";
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {}
    parts.push(`${comm} ${(kib / 1024).toFixed(1)}`);
  }
  return { total: totalKib / 1024, parts };
}

/** A spawned server whose output is kept (not shown) so a failed start can explain itself. */
export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function spawnServer(cmd: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (b: Buffer) => {
    // Only the tail matters for an error message; a chatty server must not grow memory here.
    out = (out + b.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(-1));
  });
  return { child, output: () => out, exited };
}

/** Polls `url` until it answers 200; throws when the process exits or `ms` pass. */
export async function waitForHttp200(url: string, server: Spawned, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`server exited before ${url} answered:\n${server.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline)
      throw new Error(`${url} did not answer 200 within ${ms} ms:\n${server.output()}`);
    await sleep(10);
  }
}

/** Polls until `path` exists (a file a server writes once it is ready); throws when it exits or `ms` pass. */
export async function waitForFile(path: string, server: Spawned, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (existsSync(path)) return;
    if (server.child.exitCode !== null || server.child.signalCode !== null)
      throw new Error(`server exited before it wrote ${path}:\n${server.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${path} was not written within ${ms} ms:\n${server.output()}`);
    await sleep(10);
  }
}

/** SIGTERM, then SIGKILL for the whole tree if it has not exited after `ms`. */
export async function stopServer(server: Spawned, ms = 25_000): Promise<void> {
  const pid = server.child.pid;
  if (pid === undefined || server.child.exitCode !== null) return;
  const tree = processTree(pid);
  server.child.kill("SIGTERM");
  const timedOut = await Promise.race([
    server.exited.then(() => false),
    sleep(ms).then(() => true),
  ]);
  if (timedOut) {
    for (const p of tree) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
    await server.exited;
    console.log(`  (pid ${pid} did not stop on SIGTERM within ${ms} ms; killed)`);
  }
  // A child that outlived its parent (e.g. nats-server) would skew the next run's numbers.
  for (const p of tree.slice(1)) {
    for (let i = 0; i < 100 && isAlive(p); i++) await sleep(50);
    if (isAlive(p)) console.log(`  (child pid ${p} of ${pid} still alive after stop)`);
  }
}

/** Alive and not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
