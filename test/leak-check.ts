/**
 * Every test file leaves nothing running: after its own hooks, the child processes, sockets
 * and servers it started are gone (waited for briefly: they may be ending), else the
 * file fails and names them. COCALC_LEAKS=report prints them instead.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { reportLeak } from "./helpers/leaks.js";

/** Node's resource kinds that mean something still runs on behalf of the test. */
const KINDS = new Set([
  "ProcessWrap",
  "TCPSocketWrap",
  "TCPServerWrap",
  "PipeServerWrap",
  "UDPWrap",
  "FSEventWrap",
  "StatWatcher",
]);

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
      out.set(Number(name), readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim());
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function leftovers(before: { resources: Map<string, number>; children: Map<number, string> }) {
  const found: string[] = [];
  for (const [kind, n] of resources()) {
    const extra = n - (before.resources.get(kind) ?? 0);
    if (extra > 0) found.push(`${extra} × ${kind}`);
  }
  for (const [pid, cmd] of children())
    if (!before.children.has(pid)) found.push(`child process ${pid}: ${cmd.slice(0, 200)}`);
  return found;
}

let before: { resources: Map<string, number>; children: Map<number, string> };

beforeAll(() => {
  before = { resources: resources(), children: children() };
});

afterAll(async () => {
  let found = leftovers(before);
  const deadline = Date.now() + 5_000;
  while (found.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    found = leftovers(before);
  }
  if (found.length === 0) return;
  reportLeak(`the test file left running: ${found.join("; ")}`);
});
