/** Processes of this machine as /proc shows them, for tests that check what is left running. */
import { readdirSync, readFileSync } from "node:fs";

/** A process as it is now: its pid and start time (so a reused pid is not taken for it). */
export interface Proc {
  pid: number;
  start: string;
}

function startOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function proc(pid: number): Proc | undefined {
  const start = startOf(pid);
  return start === undefined ? undefined : { pid, start };
}

/** Still there, and not a zombie waiting for init to reap it. */
export function alive(p: Proc): boolean {
  if (startOf(p.pid) !== p.start) return false;
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Processes whose command line is exactly `argv`. */
export function byCommandLine(argv: string[]): Proc[] {
  const want = `${argv.join("\0")}\0`;
  const out: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8") === want) {
        const p = proc(Number(name));
        if (p) out.push(p);
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The live (not zombie) processes of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp …: comm may hold spaces, so split after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") out.push(Number(name));
  }
  return out;
}
