/**
 * Moves files with rsync in one batch: the paths go in with --files-from to a stage folder in
 * the receiving root's temp dir; the caller then puts each in place (so a transfer killed
 * half-way leaves no partial file in the tree, only in the temp dir, which the next cycle
 * empties).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { CocalcError } from "../../shared/errors.js";
import type { RemoteTarget } from "./sides.js";

/** rsync's -e: the target's ssh command, quoted the way rsync splits it. */
export function rsyncShell(target: RemoteTarget): string {
  return target.ssh.map((w) => (/[\s'"]/.test(w) ? `'${w.replace(/'/g, "")}'` : w)).join(" ");
}

export interface TransferResult {
  /** Paths rsync reported as sent (files it found already identical are not listed). */
  sent: string[];
  bytes: number;
  /** rsync's exit code: 0, or 24 when some source files vanished meanwhile. */
  code: number;
}

/** Exit codes after which what rsync did report is still true. */
const PARTIAL_OK = new Set([23, 24]);

export async function transfer(opts: {
  target: RemoteTarget;
  /** Source and destination in rsync's syntax, each ending in `/`. */
  from: string;
  to: string;
  paths: readonly string[];
  /** Listed folders go with their whole subtree. */
  recursive?: boolean;
  /** Where the destination's current files are, relative to `to`: the basis of delta transfers. */
  basis?: string;
  onFile?: (path: string, size: number) => void;
  /** Set by the caller to stop the transfer (pause, shutdown). */
  signal?: AbortSignal;
}): Promise<TransferResult> {
  const args = [
    // -a without owner, group and devices: permissions, times, symlinks.
    opts.recursive ? "-lptr" : "-lptd",
    // Every listed file was decided to go across; rsync's size+mtime check must not skip one
    // whose bytes differ behind an equal size and time (what a deep check finds).
    "--ignore-times",
    ...(opts.basis ? [`--copy-dest=${opts.basis}`] : ["--whole-file"]),
    "--from0",
    "--files-from=-",
    "--out-format=%l %n",
    "-e",
    rsyncShell(opts.target),
    opts.from,
    opts.to,
  ];
  const child = spawn("rsync", args, { stdio: ["pipe", "pipe", "pipe"] });
  const onAbort = () => child.kill("SIGTERM");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let stderr = "";
  child.stderr.on("data", (d) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  child.stdin.on("error", () => undefined);
  child.stdin.end(opts.paths.map((p) => `${p}\0`).join(""));
  const spawnError = new Promise<Error>((resolve) => child.on("error", resolve));
  const sent: string[] = [];
  let bytes = 0;
  const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  const reading = (async () => {
    for await (const line of rl) {
      const sp = line.indexOf(" ");
      if (sp < 0) continue;
      let size = Number(line.slice(0, sp));
      let path = line.slice(sp + 1);
      if (path.endsWith("/")) {
        // A folder: its "size" is the directory block, not bytes moved.
        path = path.slice(0, -1);
        size = 0;
      }
      if (!Number.isFinite(size) || path === "" || path === ".") continue;
      sent.push(path);
      bytes += size;
      opts.onFile?.(path, size);
    }
  })();
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.on("close", resolve)),
    spawnError.then((err) => {
      throw (err as NodeJS.ErrnoException).code === "ENOENT"
        ? new CocalcError(
            "ERR_SYNC_RSYNC_MISSING",
            "rsync is not installed on this machine; install it (apt-get install rsync)",
          )
        : err;
    }),
  ]);
  await reading;
  opts.signal?.removeEventListener("abort", onAbort);
  if (code === 0 || (code !== null && PARTIAL_OK.has(code))) return { sent, bytes, code };
  if (/rsync: (command )?not found|rsync: No such file/.test(stderr) || code === 127) {
    throw new CocalcError(
      "ERR_SYNC_RSYNC_MISSING",
      `rsync is not installed on ${opts.target.destination}; install it there (apt-get install rsync)`,
    );
  }
  if (opts.signal?.aborted) {
    throw new CocalcError("ERR_SYNC_TRANSFER", "the transfer was stopped");
  }
  throw new CocalcError(
    "ERR_SYNC_TRANSFER",
    `rsync exited with ${code}: ${stderr.trim().split("\n").slice(-3).join(" ")}`,
  );
}
