/**
 * The remote half of sync, run from the plus bundle on the remote over ssh:
 * `cocalc-plus sync-scan ROOT` (request JSON on stdin, NDJSON entries out),
 * `cocalc-plus sync-apply ROOT` (NDJSON operations in, NDJSON results out) and
 * `cocalc-plus sync-watch ROOT` (NDJSON batches of changed paths until stdin closes).
 * ROOT is relative to the remote's home unless absolute.
 */
import { spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import {
  absoluteRoot,
  applyOp,
  DiffScanner,
  ensureRoot,
  type ScanLine,
  type ScanRequest,
  scanTree,
  type TreeOp,
  watchTree,
} from "./tree.js";

/** The protocol version both halves speak; the header of every command carries it. */
export const SYNC_PROTOCOL = 2;

/** The header line each remote command prints first. */
export interface RemoteHeader {
  v: number;
  root: string;
  rsync: boolean;
}

export const REMOTE_COMMANDS = ["sync-scan", "sync-apply", "sync-watch", "sync-agent"] as const;

/** A request to `sync-agent`; each is answered with a line carrying the same id. */
export type AgentRequest =
  | { id: number; op: "scan"; req: ScanRequest & { diff?: boolean; changes?: boolean } }
  | { id: number; op: "apply"; ops: TreeOp[] }
  | { id: number; op: "watch" };

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

let rsyncFound: boolean | undefined;

/** True when rsync runs on this machine (looked up once per process). */
export function hasRsync(): boolean {
  rsyncFound ??= spawnSync("rsync", ["--version"], { stdio: "ignore" }).status === 0;
  return rsyncFound;
}

class Out {
  private buf = "";
  write(value: unknown): void {
    this.buf += `${JSON.stringify(value)}\n`;
    if (this.buf.length > 64 * 1024) this.flush();
  }
  flush(): void {
    if (this.buf) process.stdout.write(this.buf);
    this.buf = "";
  }
  async end(): Promise<void> {
    this.flush();
    await new Promise<void>((r) => process.stdout.write("", () => r()));
  }
}

/** Runs one remote command; returns the exit code. */
export async function runRemoteCommand(command: string, args: string[]): Promise<number> {
  const root = args[0];
  if (!root) {
    process.stderr.write(`cocalc-plus ${command}: ROOT is missing\n`);
    return 2;
  }
  const abs = absoluteRoot(root);
  try {
    ensureRoot(abs);
  } catch (err) {
    process.stderr.write(
      `cocalc-plus ${command}: cannot create ${abs}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  const out = new Out();
  const header: RemoteHeader = { v: SYNC_PROTOCOL, root: abs, rsync: hasRsync() };
  out.write(header);
  switch (command) {
    case "sync-scan": {
      const text = await readAll(process.stdin);
      const req = (text.trim() ? JSON.parse(text) : { patterns: "" }) as ScanRequest;
      let n = 0;
      await scanTree(abs, req, (line: ScanLine) => {
        n++;
        out.write(line);
      });
      out.write({ end: true, n });
      await out.end();
      return 0;
    }
    case "sync-apply": {
      const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of rl) {
        if (!line.trim()) continue;
        out.write(applyOp(abs, JSON.parse(line) as TreeOp));
      }
      out.write({ end: true });
      await out.end();
      return 0;
    }
    case "sync-watch": {
      // Watching before the header goes out: a change made after it is never missed.
      const close = watchTree(abs, (paths) => {
        out.write({ paths });
        out.flush();
      });
      out.flush();
      await readAll(process.stdin);
      close();
      await out.end();
      return 0;
    }
    case "sync-agent": {
      // One long-lived process per pair: scans, operations and the watch without paying for
      // an ssh session and a Node start-up each time.
      out.flush();
      const scanner = new DiffScanner();
      let closeWatch: (() => void) | undefined;
      const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of rl) {
        if (!line.trim()) continue;
        const m = JSON.parse(line) as AgentRequest;
        try {
          switch (m.op) {
            case "scan": {
              const r = await scanner.scan(abs, m.req);
              out.write({ id: m.id, lines: r.lines, full: r.full, via: r.via });
              break;
            }
            case "apply":
              out.write({ id: m.id, results: m.ops.map((op) => applyOp(abs, op)) });
              break;
            case "watch":
              if (!closeWatch) {
                const w = scanner.watch(abs, (paths) => {
                  out.write({ paths });
                  out.flush();
                });
                closeWatch = () => w.close();
              }
              out.write({ id: m.id, ok: true });
              break;
            default:
              out.write({ id: (m as { id: number }).id, error: "unknown op" });
          }
        } catch (err) {
          out.write({ id: m.id, error: String((err as Error).message ?? err) });
        }
        out.flush();
      }
      closeWatch?.();
      await out.end();
      return 0;
    }
    default:
      process.stderr.write(`cocalc-plus: unknown command ${command}\n`);
      return 2;
  }
}
