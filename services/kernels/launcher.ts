/**
 * Kernel processes: started detached with a connection file (0600, in the service's
 * directory; the key is never in argv), their stdout and stderr in a 0600 log beside it, so
 * they outlive the service and a restarted service finds them again by that file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import { chmod, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { KERNEL_MAX_STDERR } from "../../shared/kernels.js";
import { freePort } from "../runtime/ports.js";
import type { Kernelspec } from "./kernelspecs.js";

/** What a client needs to reach a kernel (the Jupyter connection file). */
export interface ConnectionInfo {
  /** 127.0.0.1 over tcp; over ipc the sockets' path prefix (`<ip>-<port>`). */
  ip: string;
  transport: "tcp" | "ipc";
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: "hmac-sha256";
  kernel_name: string;
}

/** What the service keeps of a running kernel process (beside its connection file). */
export interface KernelProcess {
  /** The kernel's pid on this machine (in a container: as the host sees it). */
  pid: number;
  generation: number;
  interruptMode: "signal" | "message";
  /** The connection file's path as the kernel got it in argv (default: the service's file). */
  connectionArg?: string;
  /** Its pid inside its container, the one its user sees. */
  insidePid?: number;
}

/** A kernel just started: `exited` settles when its process ends (it may end at once). */
export interface LaunchedKernel {
  process: KernelProcess;
  connection: ConnectionInfo;
  child: ChildProcess;
  exited: Promise<KernelExit>;
}

/** How a kernel's process ended; `reason` when the launcher knows better than the code. */
export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  reason?: string;
}

/** The files of one kernel in the service's directory. */
export function kernelFiles(dir: string, kid: string) {
  return {
    connection: join(dir, `${kid}.json`),
    process: join(dir, `${kid}.process.json`),
    log: join(dir, `${kid}.log`),
  } as const;
}

/**
 * Writes a 0600 file through a new name, then renames it into place: never through a link
 * found at `path`. `owner` gets the file (a container's user reads its own connection file).
 */
export async function writePrivate(
  path: string,
  text: string,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const f = await open(tmp, "wx", 0o600);
  try {
    if (owner) await f.chown(owner.uid, owner.gid);
    await f.writeFile(text);
  } finally {
    await f.close();
  }
  await rename(tmp, path);
}

/** A new connection's ports, key and kernel name, on `ip` over `transport`. */
export function newConnection(
  kernelName: string,
  ports: number[],
  at: { ip: string; transport: ConnectionInfo["transport"] } = {
    ip: "127.0.0.1",
    transport: "tcp",
  },
): ConnectionInfo {
  return {
    ...at,
    shell_port: ports[0]!,
    iopub_port: ports[1]!,
    stdin_port: ports[2]!,
    control_port: ports[3]!,
    hb_port: ports[4]!,
    key: randomBytes(32).toString("hex"),
    signature_scheme: "hmac-sha256",
    kernel_name: kernelName,
  };
}

/** Starts `spec`'s kernel for `kid` in `cwd`; resolves once the process is spawned. */
export async function launchKernel(o: {
  dir: string;
  kid: string;
  generation: number;
  spec: Kernelspec;
  cwd: string;
}): Promise<LaunchedKernel> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await chmod(o.dir, 0o700);
  const files = kernelFiles(o.dir, o.kid);
  const ports: number[] = [];
  for (let i = 0; i < 5; i++) ports.push(await freePort());
  const connection = newConnection(o.spec.name, ports);
  await writePrivate(files.connection, JSON.stringify(connection));
  const argv = o.spec.argv.map((a) => a.replaceAll("{connection_file}", files.connection));
  const log = openSync(files.log, "w", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: o.cwd,
      env: { ...process.env, ...o.spec.env },
      // Its own process group: it outlives the service, and an interrupt reaches its children.
      detached: true,
      stdio: ["ignore", log, log],
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<KernelExit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid!));
    child.once("error", reject);
  });
  child.unref();
  const proc: KernelProcess = {
    pid,
    generation: o.generation,
    interruptMode: o.spec.interruptMode,
  };
  await writePrivate(files.process, JSON.stringify(proc));
  return { process: proc, connection, child, exited };
}

/** The kernel that runs for `kid` (per its files), or undefined when there is none. */
export async function findKernel(
  dir: string,
  kid: string,
): Promise<{ process: KernelProcess; connection: ConnectionInfo } | undefined> {
  const files = kernelFiles(dir, kid);
  try {
    const proc = JSON.parse(await readFile(files.process, "utf8")) as KernelProcess;
    const connection = JSON.parse(await readFile(files.connection, "utf8")) as ConnectionInfo;
    if (!Number.isInteger(proc.pid) || !isKernelAlive(proc.pid, connectionArg(dir, kid, proc)))
      return undefined;
    return { process: proc, connection };
  } catch {
    return undefined;
  }
}

/** The connection file's path as kernel `kid` got it in argv. */
export function connectionArg(dir: string, kid: string, proc: KernelProcess): string {
  return proc.connectionArg ?? kernelFiles(dir, kid).connection;
}

/**
 * True while `pid` runs and is the kernel of `connectionFile` (its command line names the
 * file: a reused pid is not taken for the kernel). A zombie is not alive.
 */
export function isKernelAlive(pid: number, connectionFile: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const end = stat.lastIndexOf(")");
    if (stat.charAt(end + 2) === "Z") return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.split("\0").includes(connectionFile);
  } catch {
    return false;
  }
}

/** Signals the kernel's process group (the kernel and what it started). */
export function signalKernel(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** The end of what the kernel wrote to stdout and stderr. */
export async function logTail(dir: string, kid: string): Promise<string> {
  try {
    const f = await open(kernelFiles(dir, kid).log, "r");
    try {
      const { size } = await f.stat();
      const length = Math.min(size, KERNEL_MAX_STDERR * 4);
      const buf = Buffer.alloc(length);
      await f.read(buf, 0, length, size - length);
      return buf.toString("utf8").slice(-KERNEL_MAX_STDERR);
    } finally {
      await f.close();
    }
  } catch {
    return "";
  }
}

/** Removes a kernel's files (after it ended). */
export async function removeKernelFiles(dir: string, kid: string): Promise<void> {
  const files = kernelFiles(dir, kid);
  await Promise.all(Object.values(files).map((f) => rm(f, { force: true })));
}

/** Ends every kernel of `dir` (plus in the foreground stops its kernels with it). */
export async function stopKernels(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let ended = 0;
  for (const name of names) {
    if (!name.endsWith(".process.json")) continue;
    const kid = name.slice(0, -".process.json".length);
    const found = await findKernel(dir, kid);
    if (found && signalKernel(found.process.pid, "SIGKILL")) ended++;
    await removeKernelFiles(dir, kid);
  }
  return ended;
}
