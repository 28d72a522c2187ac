/**
 * What a test left running: child processes, sockets and servers (Node's active resources),
 * and how it is told.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Node's resource kinds that mean something still runs on behalf of a test. */
const KINDS = new Set([
  "ProcessWrap",
  "TCPSocketWrap",
  "TCPServerWrap",
  "PipeServerWrap",
  "UDPWrap",
  "FSEventWrap",
  "StatWatcher",
]);

export interface Running {
  resources: Map<string, number>;
  children: Map<number, string>;
}

function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo())
    if (KINDS.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** This process's live children, with their command lines. */
function children(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (rest[0] === "Z" || Number(rest[1]) !== process.pid) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      out.set(Number(name), cmd);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What runs now. */
export function running(): Running {
  return { resources: resources(), children: children() };
}

/** What runs now that did not at `before`, in words. */
export function startedSince(before: Running): string[] {
  const found: string[] = [];
  for (const [kind, n] of resources()) {
    const extra = n - (before.resources.get(kind) ?? 0);
    if (extra > 0) found.push(`${extra} × ${kind}`);
  }
  for (const [pid, cmd] of children())
    if (!before.children.has(pid)) found.push(`child process ${pid}: ${cmd.slice(0, 200)}`);
  return found;
}

/** Fails the test (or, with COCALC_LEAKS=report, prints) for something left open. */
export function reportLeak(message: string): void {
  if (process.env.COCALC_LEAKS === "report") console.warn(`LEAKS ${message}`);
  else throw new Error(message);
}
