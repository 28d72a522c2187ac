/**
 * The two sides of a pair behind one interface: this machine (the tree functions in-process)
 * and the remote (the same functions run by the plus bundle on the remote over ssh).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { CocalcError } from "../../shared/errors.js";
import type { SyncSide } from "../../shared/sync.js";
import { hasRsync, type RemoteHeader, SYNC_PROTOCOL } from "./remote-cli.js";
import {
  absoluteRoot,
  applyOp,
  ensureRoot,
  type ScanLine,
  type ScanRequest,
  scanTree,
  type TreeOp,
  type TreeOpResult,
  watchTree,
} from "./tree.js";

/**
 * How to reach the remote: the seam to a remote session. A session hands over its ssh
 * command (with its ControlMaster socket) and where it installed the plus bundle.
 */
export interface RemoteTarget {
  /** The ssh program and its options, without the destination: `["ssh", "-S", sock, "-p", "22"]`. */
  ssh: readonly string[];
  /** `user@host`. */
  destination: string;
  /** The plus bundle (plus.js) on the remote: relative to the remote's home, or absolute. */
  bundle: string;
  /** The node program on the remote (default: `node` from the PATH of a non-interactive ssh). */
  node?: string;
}

/** A RemoteTarget from an ssh argv whose last element is the destination. */
export function remoteTargetFromArgv(argv: readonly string[], bundle: string): RemoteTarget {
  if (argv.length < 2) throw new Error("an ssh argv needs the program and the destination");
  return { ssh: argv.slice(0, -1), destination: argv[argv.length - 1]!, bundle };
}

/** Quotes a word for the remote's POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

export interface ScanResult {
  root: string;
  rsync: boolean;
  lines: ScanLine[];
}

/** One side of a pair. */
export interface TreeSide {
  readonly side: SyncSide;
  /** Where the root is, as rsync names it (`/abs/` locally, `user@host:path/` remotely). */
  readonly rsyncRoot: string;
  scan(req: ScanRequest): Promise<ScanResult>;
  apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]>;
  /** Starts watching; resolves once the watch is in place. */
  watch(onPaths: (paths: string[]) => void, onEnd: (err?: Error) => void): Promise<() => void>;
}

export class LocalSide implements TreeSide {
  readonly side = "local" as const;
  readonly abs: string;

  constructor(root: string, home?: string) {
    this.abs = absoluteRoot(root, home);
  }

  get rsyncRoot(): string {
    return `${this.abs}/`;
  }

  async scan(req: ScanRequest): Promise<ScanResult> {
    ensureRoot(this.abs);
    const lines: ScanLine[] = [];
    await scanTree(this.abs, req, (l) => lines.push(l));
    return { root: this.abs, rsync: hasRsync(), lines };
  }

  async apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]> {
    return ops.map((op) => applyOp(this.abs, op));
  }

  async watch(onPaths: (paths: string[]) => void): Promise<() => void> {
    ensureRoot(this.abs);
    return watchTree(this.abs, onPaths);
  }
}

/** Why a remote command failed, in words, from its exit code and stderr. */
function remoteFailure(t: RemoteTarget, code: number | null, stderr: string): CocalcError {
  const tail = stderr.trim().split("\n").slice(-5).join("\n");
  let why: string;
  if (code === 255) why = `cannot reach ${t.destination} over ssh`;
  else if (
    code === 127 ||
    /node: (command )?not found|No such file or directory.*node/.test(stderr)
  )
    why = `node was not found on ${t.destination} (it must be on the PATH of a non-interactive ssh)`;
  else if (/Cannot find module|ERR_MODULE_NOT_FOUND/.test(stderr))
    why = `the plus bundle is not at ${t.bundle} on ${t.destination}`;
  else why = `the remote side of sync failed on ${t.destination} (exit ${code})`;
  return new CocalcError("ERR_SYNC_REMOTE", tail ? `${why}: ${tail}` : why, {
    destination: t.destination,
  });
}

export class RemoteSide implements TreeSide {
  readonly side = "remote" as const;

  constructor(
    readonly target: RemoteTarget,
    readonly root: string,
  ) {}

  get rsyncRoot(): string {
    return `${this.target.destination}:${this.root}/`;
  }

  private spawn(command: string): ChildProcess {
    const t = this.target;
    const remote = [t.node ?? "node", t.bundle, command, this.root].map(shellQuote).join(" ");
    return spawn(t.ssh[0]!, [...t.ssh.slice(1), t.destination, remote], {
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  /** Runs a command to the end: writes `input`, reads every NDJSON line after the header. */
  private async run<T>(
    command: string,
    input: string,
  ): Promise<{ header: RemoteHeader; lines: T[] }> {
    const child = this.spawn(command);
    let stderr = "";
    child.stderr!.on("data", (d) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(input);
    const lines: T[] = [];
    let header: RemoteHeader | undefined;
    let ended = false;
    const rl = createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    child.on("error", () => undefined);
    for await (const line of rl) {
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue; // a login banner or similar noise
      }
      if (!header) {
        header = value as RemoteHeader;
        continue;
      }
      if ((value as { end?: boolean }).end) {
        ended = true;
        continue;
      }
      lines.push(value as T);
    }
    const code = await exited;
    if (code !== 0 || !header || !ended) throw remoteFailure(this.target, code, stderr);
    if (header.v !== SYNC_PROTOCOL) {
      throw new CocalcError(
        "ERR_SYNC_REMOTE",
        `the plus on ${this.target.destination} speaks sync protocol ${header.v}, this one ${SYNC_PROTOCOL}: upgrade it`,
      );
    }
    return { header, lines };
  }

  async scan(req: ScanRequest): Promise<ScanResult> {
    const { header, lines } = await this.run<ScanLine>("sync-scan", JSON.stringify(req));
    return { root: header.root, rsync: header.rsync, lines };
  }

  async apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]> {
    if (ops.length === 0) return [];
    const input = ops.map((o) => JSON.stringify(o)).join("\n");
    const { lines } = await this.run<TreeOpResult>("sync-apply", `${input}\n`);
    return lines;
  }

  watch(onPaths: (paths: string[]) => void, onEnd: (err?: Error) => void): Promise<() => void> {
    const child = this.spawn("sync-watch");
    let stderr = "";
    child.stderr!.on("data", (d) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    child.on("error", () => undefined);
    let ready = false;
    let closed = false;
    return new Promise((resolve, reject) => {
      const rl = createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on("line", (line) => {
        let value: { paths?: string[]; v?: number };
        try {
          value = JSON.parse(line);
        } catch {
          return;
        }
        if (!ready) {
          ready = true;
          resolve(() => {
            closed = true;
            child.stdin!.end();
            // ssh may keep the remote watcher alive a moment; it ends when its stdin closes.
            setTimeout(() => child.kill(), 2000).unref();
          });
          return;
        }
        if (value.paths) onPaths(value.paths);
      });
      child.on("close", (code) => {
        const err = closed ? undefined : remoteFailure(this.target, code, stderr);
        if (!ready) reject(err ?? new Error("watch ended"));
        else onEnd(err);
      });
    });
  }
}
