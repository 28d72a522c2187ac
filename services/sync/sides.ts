/**
 * The two sides of a pair behind one interface: this machine (the tree functions in-process)
 * and the remote (the same functions run by the plus bundle on the remote over ssh).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CocalcError } from "../../shared/errors.js";
import type { SyncSide } from "../../shared/sync.js";
import { SYNC_TEMP_DIR } from "./ignore.js";
import type { SyncEntry } from "./path-decision.js";
import { hasRsync, type RemoteHeader, SYNC_PROTOCOL } from "./remote-cli.js";
import {
  absoluteRoot,
  applyOp,
  CODE_KIND,
  DiffScanner,
  ensureRoot,
  type ScanLine,
  type ScanRequest,
  type ScanVia,
  type TreeOp,
  type TreeOpResult,
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
  /** The lines are the whole tree (else: what changed since the previous scan). */
  full: boolean;
  /** How the side found them: a whole listing, a walk compared with the last, or its watcher's journal. */
  via: ScanVia;
}

/** A scan's line of a path that is there, as the tree of its side holds it. */
export function entryOfLine(l: ScanLine): SyncEntry {
  return {
    kind: CODE_KIND[l.k as Exclude<ScanLine["k"], "-">],
    size: l.s ?? 0,
    mtime: l.m ?? 0,
    ...(l.t !== undefined && { target: l.t }),
  };
}

/** Hashes `paths` on `side`; each answer goes into its entry of `entries`. */
export async function hashInto(
  side: TreeSide,
  paths: readonly string[],
  entries: Map<string, SyncEntry>,
): Promise<void> {
  if (paths.length === 0) return;
  const results = await side.apply(paths.map((p) => ({ op: "hash" as const, p })));
  results.forEach((r, i) => {
    const e = entries.get(paths[i]!);
    if (e && r.ok && r.h) e.hash = r.h;
  });
}

/** What a scan is asked for: `diff` allows an answer of differences, `changes` one from the watcher's journal. */
export type SideScanRequest = ScanRequest & { diff?: boolean; changes?: boolean };

/** One side of a pair. */
export interface TreeSide {
  readonly side: SyncSide;
  /** Where the root is, as rsync names it (`/abs/` locally, `user@host:path/` remotely). */
  readonly rsyncRoot: string;
  scan(req: SideScanRequest): Promise<ScanResult>;
  apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]>;
  /** Starts watching; resolves once the watch is in place. */
  watch(onPaths: (paths: string[]) => void, onEnd: (err?: Error) => void): Promise<() => void>;
  /** Ends what the side keeps open. */
  close(): void;
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

  private readonly scanner = new DiffScanner();

  async scan(req: SideScanRequest): Promise<ScanResult> {
    ensureRoot(this.abs);
    const r = await this.scanner.scan(this.abs, req);
    return { root: this.abs, rsync: hasRsync(), lines: r.lines, full: r.full, via: r.via };
  }

  close(): void {
    this.scanner.close();
  }

  async apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]> {
    return ops.map((op) => applyOp(this.abs, op));
  }

  async watch(onPaths: (paths: string[]) => void): Promise<() => void> {
    ensureRoot(this.abs);
    const w = this.scanner.watch(this.abs, onPaths);
    return () => w.close();
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

interface Agent {
  child: ChildProcess;
  header: Promise<RemoteHeader>;
  pending: Map<number, { resolve: (v: AgentReply) => void; reject: (e: Error) => void }>;
}

type AgentReply = {
  id: number;
  error?: string;
  lines?: ScanLine[];
  full?: boolean;
  via?: ScanVia;
  results?: TreeOpResult[];
};

/**
 * The remote side: one long-lived `cocalc-plus sync-agent ROOT` over ssh answers scans and
 * operations and streams the watch; it is started on first use and again after it died.
 */
export class RemoteSide implements TreeSide {
  readonly side = "remote" as const;
  private agent: Agent | undefined;
  private nextId = 1;
  private onPaths: ((paths: string[]) => void) | undefined;
  private onEnd: ((err?: Error) => void) | undefined;

  constructor(
    readonly target: RemoteTarget,
    readonly root: string,
  ) {}

  get rsyncRoot(): string {
    return `${this.target.destination}:${this.root}/`;
  }

  private start(): Agent {
    const t = this.target;
    const remote = [t.node ?? "node", t.bundle, "sync-agent", this.root].map(shellQuote).join(" ");
    const child = spawn(t.ssh[0]!, [...t.ssh.slice(1), t.destination, remote], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    child.stdin!.on("error", () => undefined);
    const pending: Agent["pending"] = new Map();
    let headerSeen: ((h: RemoteHeader) => void) | undefined;
    let headerFailed: ((e: Error) => void) | undefined;
    const header = new Promise<RemoteHeader>((resolve, reject) => {
      headerSeen = resolve;
      headerFailed = reject;
    });
    header.catch(() => undefined);
    let gotHeader = false;
    const rl = createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on("line", (line) => {
      let value: AgentReply & Partial<RemoteHeader> & { paths?: string[] };
      try {
        value = JSON.parse(line);
      } catch {
        return; // a login banner or similar noise
      }
      if (!gotHeader) {
        gotHeader = true;
        if (value.v !== SYNC_PROTOCOL) {
          headerFailed!(
            new CocalcError(
              "ERR_SYNC_REMOTE",
              `the plus on ${t.destination} speaks sync protocol ${value.v}, this one ${SYNC_PROTOCOL}: upgrade it`,
            ),
          );
          child.kill();
          return;
        }
        headerSeen!(value as RemoteHeader);
        return;
      }
      if (value.paths) {
        this.onPaths?.(value.paths);
        return;
      }
      const p = pending.get(value.id);
      if (!p) return;
      pending.delete(value.id);
      if (value.error) p.reject(new CocalcError("ERR_SYNC_REMOTE", value.error));
      else p.resolve(value);
    });
    child.on("error", () => undefined);
    const agent: Agent = { child, header, pending };
    child.on("close", (code) => {
      if (this.agent === agent) this.agent = undefined;
      const err = remoteFailure(t, code, stderr);
      headerFailed?.(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      const end = this.onEnd;
      this.onPaths = undefined;
      this.onEnd = undefined;
      end?.(err);
    });
    return agent;
  }

  private async request(
    body: Record<string, unknown>,
  ): Promise<{ reply: AgentReply; header: RemoteHeader }> {
    this.agent ??= this.start();
    const agent = this.agent;
    const header = await agent.header;
    const id = this.nextId++;
    const reply = await new Promise<AgentReply>((resolve, reject) => {
      agent.pending.set(id, { resolve, reject });
      agent.child.stdin!.write(`${JSON.stringify({ id, ...body })}\n`);
    });
    return { reply, header };
  }

  async scan(req: SideScanRequest): Promise<ScanResult> {
    const { reply, header } = await this.request({ op: "scan", req });
    return {
      root: header.root,
      rsync: header.rsync,
      lines: reply.lines ?? [],
      full: reply.full === true,
      via: reply.via ?? (reply.full === true ? "listing" : "walk"),
    };
  }

  async apply(ops: readonly TreeOp[]): Promise<TreeOpResult[]> {
    if (ops.length === 0) return [];
    const { reply } = await this.request({ op: "apply", ops });
    return reply.results ?? [];
  }

  async watch(
    onPaths: (paths: string[]) => void,
    onEnd: (err?: Error) => void,
  ): Promise<() => void> {
    this.onPaths = onPaths;
    this.onEnd = onEnd;
    await this.request({ op: "watch" });
    return () => {
      this.onPaths = undefined;
      this.onEnd = undefined;
    };
  }

  /**
   * Ends the agent (it exits when its stdin closes; killed if it lingers); settles once its
   * ssh has exited, so that nothing of it writes in the root afterwards.
   */
  close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    if (!agent) return Promise.resolve();
    this.onEnd = undefined;
    const { child } = agent;
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((r) => child.once("close", () => r()));
    child.stdin!.end();
    const kill = setTimeout(() => child.kill(), 2000);
    kill.unref();
    return exited.finally(() => clearTimeout(kill));
  }
}

/** Removes the temp dir of a local root (its pair was removed). */
export function removeLocalTemp(root: string, home?: string): void {
  rmSync(join(absoluteRoot(root, home), SYNC_TEMP_DIR), { recursive: true, force: true });
}

/**
 * Removes the temp dir of a remote root over ssh (its pair was removed): a shell command, so
 * that it needs neither Node nor the bundle there. Rejects with ERR_SYNC_REMOTE when it could not.
 */
export function removeRemoteTemp(t: RemoteTarget, root: string, timeoutMs = 30_000): Promise<void> {
  // The root is normalised (no '..', never the home itself); relative roots are in the home.
  const command = `cd && rm -rf -- ${shellQuote(`${root.replace(/\/+$/, "")}/${SYNC_TEMP_DIR}`)}`;
  return new Promise((resolve, reject) => {
    const child = spawn(t.ssh[0]!, [...t.ssh.slice(1), t.destination, command], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new CocalcError("ERR_SYNC_REMOTE", `cannot run ssh: ${err.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(remoteFailure(t, code, stderr));
    });
  });
}
