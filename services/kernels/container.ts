/**
 * Kernels inside a container workspace: its kernelspecs are read inside, as its user; a
 * kernel is started with `podman exec` as that user in the notebook's folder, and is reached
 * over ZeroMQ's ipc transport, since the container's 127.0.0.1 is not the host's.
 *
 * The kernel binds its sockets in a folder of the host mounted into the container (`shared`,
 * the user's) and reads its connection file there. The user can put anything at a name in
 * that folder, a symlink to a host socket too, so the service never connects there: each
 * socket is moved (rename does not follow links) into a root-only folder on the same file
 * system (`sockets`), checked to be a socket, and reached there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { lstat, readdir, readFile, readlink, rename, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { type Kernelspec, parseSpec, validSpecName } from "./kernelspecs.js";
import {
  isKernelAlive,
  type KernelExit,
  type KernelProcess,
  kernelFiles,
  type LaunchedKernel,
  newConnection,
  signalKernel,
  writePrivate,
} from "./launcher.js";

/** What the kernels service of a container workspace is given to reach it. */
export interface KernelContainer {
  /** The workspace user's home inside (where a notebook whose folder is gone starts). */
  home: string;
  /** The argv (program first) that runs `argv` inside as the workspace user in `cwd`. */
  exec(argv: string[], o: { cwd: string; env: Record<string, string> }): string[];
  /** The folder mounted into the container, the user's (uid, gid as the host sees them). */
  shared: { host: string; inside: string; uid: number; gid: number };
  /** Root's folder on the file system of `shared.host`: the sockets, once checked. */
  sockets: string;
  /** The host pid of the container's init while it runs. */
  initPid(): Promise<number | undefined>;
  /** Waits while the workspace starts; ERR_WORKSPACE_STATE when it does not run. */
  whenRunning(): Promise<void>;
}

/** The kernel's five sockets' numbers (`<prefix>-<n>`): shell, iopub, stdin, control, hb. */
const PORTS = [1, 2, 3, 4, 5];
/** The exit code of the start script when the connection file is not there inside. */
const NO_MOUNT = 97;
const LIST_LIMIT = 1024 * 1024;

/** Where Jupyter looks inside (the user's data dir, then the system's). */
const LIST_SCRIPT = [
  'm=$1; for d in "$HOME/.local/share/jupyter/kernels" /usr/local/share/jupyter/kernels /usr/share/jupyter/kernels; do',
  '  for k in "$d"/*/kernel.json; do [ -f "$k" ] || continue; printf "\\n%s %s\\n" "$m" "$k"; cat -- "$k"; done',
  "done",
].join("\n");

/**
 * Checks the connection file is there (a container started before kernels had their folder
 * has not), goes to the notebook's folder (else home) and becomes the kernel.
 */
const START_SCRIPT = [
  `[ -r "$1" ] || { echo "cocalc: $1 is missing" >&2; exit ${NO_MOUNT}; }`,
  'cd -- "$2" 2>/dev/null || cd',
  "shift 2",
  'exec "$@"',
].join("\n");

function run(
  argv: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    child.stdout.on("data", (b: Buffer) => {
      size += b.length;
      if (size <= LIST_LIMIT) out.push(b);
      else child.kill("SIGKILL");
    });
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        out: Buffer.concat(out).toString("utf8"),
        err: Buffer.concat(err).toString("utf8").slice(-2000),
      });
    });
  });
}

/** The kernelspecs inside the container, read as its user; the first of a name wins. */
/**
 * Whether the container ended with (or just after) the kernel: a stop signals the kernel and
 * the container's init together, so after a kill-like exit the init is given a moment to go.
 */
async function containerEnding(c: KernelContainer, e: KernelExit): Promise<boolean> {
  const killed =
    e.code === 137 || e.code === 143 || e.signal === "SIGKILL" || e.signal === "SIGTERM";
  const deadline = Date.now() + (killed ? 3000 : 0);
  for (;;) {
    if ((await c.initPid()) === undefined) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function containerKernelspecs(c: KernelContainer): Promise<Kernelspec[]> {
  await c.whenRunning();
  // A separator the files cannot know in advance (they are the user's data either way).
  const mark = `cocalc-${randomBytes(12).toString("hex")}`;
  const r = await run(
    c.exec(["/bin/sh", "-c", LIST_SCRIPT, "sh", mark], { cwd: c.home, env: {} }),
    15_000,
  );
  if (r.code !== 0)
    throw new CocalcError(
      "ERR_KERNEL_SPEC",
      `the workspace's kernelspecs could not be read: ${r.err.trim() || `exit code ${r.code}`}`,
    );
  const found = new Map<string, Kernelspec>();
  for (const part of r.out.split(`\n${mark} `).slice(1)) {
    const nl = part.indexOf("\n");
    const file = part.slice(0, nl);
    const dir = posix.dirname(file);
    const name = validSpecName(posix.basename(dir));
    if (!name || found.has(name)) continue;
    const spec = parseSpec(name, dir, part.slice(nl + 1));
    if (spec) found.set(name, spec);
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The files of kernel `kid` in the shared folder (host's and container's paths) and root's. */
export function containerKernelFiles(c: KernelContainer, kid: string) {
  return {
    connectionHost: join(c.shared.host, `${kid}.json`),
    connectionInside: posix.join(c.shared.inside, `${kid}.json`),
    prefixInside: posix.join(c.shared.inside, kid),
    prefixHost: join(c.shared.host, kid),
    prefixSockets: join(c.sockets, kid),
  } as const;
}

/** Removes what kernel `kid` left in the shared folder and root's socket folder. */
export async function removeContainerKernelFiles(c: KernelContainer, kid: string): Promise<void> {
  const f = containerKernelFiles(c, kid);
  await Promise.all([
    rm(f.connectionHost, { force: true }),
    ...PORTS.flatMap((n) => [
      rm(`${f.prefixHost}-${n}`, { force: true }),
      rm(`${f.prefixSockets}-${n}`, { force: true }),
    ]),
  ]);
}

/** The host pid of the process of the container (by its init's pid namespace) whose argv has `arg`. */
async function findInside(initPid: number, arg: string): Promise<number | undefined> {
  const ns = await readlink(`/proc/${initPid}/ns/pid`).catch(() => undefined);
  if (!ns) return undefined;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!isKernelAlive(pid, arg)) continue;
    if ((await readlink(`/proc/${pid}/ns/pid`).catch(() => "")) === ns) return pid;
  }
  return undefined;
}

/** Its pid in its own (the innermost) pid namespace. */
async function insidePid(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  const last = Number(line?.trim().split(/\s+/).at(-1));
  return Number.isInteger(last) && last > 0 ? last : undefined;
}

/**
 * Moves each socket the kernel bound into root's folder, until all are there or the kernel
 * ended: what is at a name that is not a socket (a link) is removed and the kernel fails.
 */
async function claimSockets(c: KernelContainer, kid: string, ended: () => boolean): Promise<void> {
  const f = containerKernelFiles(c, kid);
  const pending = new Set(PORTS);
  const deadline = Date.now() + 60_000;
  while (pending.size > 0 && !ended() && Date.now() < deadline) {
    for (const n of [...pending]) {
      const to = `${f.prefixSockets}-${n}`;
      try {
        await rename(`${f.prefixHost}-${n}`, to);
      } catch {
        continue;
      }
      if (!(await lstat(to)).isSocket()) {
        await rm(to, { force: true });
        throw new CocalcError(
          "ERR_KERNEL_INVALID",
          `${f.prefixInside}-${n} is not the kernel's socket`,
        );
      }
      pending.delete(n);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `spec`'s kernel for `kid` inside the container, in `cwd` (a path inside). */
export async function launchContainerKernel(o: {
  container: KernelContainer;
  dir: string;
  kid: string;
  generation: number;
  spec: Kernelspec;
  cwd: string;
}): Promise<LaunchedKernel> {
  const c = o.container;
  const initPid = await c.initPid();
  if (initPid === undefined)
    throw new CocalcError("ERR_WORKSPACE_STATE", "the workspace is not running: start it");
  const files = kernelFiles(o.dir, o.kid);
  const shared = containerKernelFiles(c, o.kid);
  await removeContainerKernelFiles(c, o.kid);
  const inside = newConnection(o.spec.name, PORTS, { ip: shared.prefixInside, transport: "ipc" });
  const connection = { ...inside, ip: shared.prefixSockets };
  // The service's copy (root's) says where it reaches the kernel; the kernel's, where it binds.
  await writePrivate(files.connection, JSON.stringify(connection));
  try {
    await writePrivate(shared.connectionHost, JSON.stringify(inside), c.shared);
  } catch {
    // Its message would name the host's path.
    throw new CocalcError(
      "ERR_WORKSPACE_STATE",
      "the workspace has no folder for kernels: restart the workspace to run kernels",
    );
  }
  const argv = o.spec.argv.map((a) => a.replaceAll("{connection_file}", shared.connectionInside));
  const log = openSync(files.log, "w", 0o600);
  let child: ChildProcess;
  try {
    const cmd = c.exec(
      ["/bin/sh", "-c", START_SCRIPT, "sh", shared.connectionInside, o.cwd, ...argv],
      {
        cwd: c.home,
        env: o.spec.env,
      },
    );
    // podman exec in a process group of its own: the kernel runs on when the service ends.
    child = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ["ignore", log, log] });
  } finally {
    closeSync(log);
  }
  let execEnded: KernelExit | undefined;
  const execExit = new Promise<KernelExit>((resolve) =>
    child.once("exit", (code, signal) => {
      execEnded = { code, signal };
      resolve(execEnded);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", reject);
  });
  child.unref();
  // The kernel's own pid, as the host sees it: found by its argv in the container's processes.
  let pid: number | undefined;
  const until = Date.now() + 30_000;
  while (pid === undefined && execEnded === undefined && Date.now() < until) {
    pid = await findInside(initPid, shared.connectionInside);
    if (pid === undefined) await new Promise((r) => setTimeout(r, 25));
  }
  if (pid === undefined) {
    const ended =
      execEnded ??
      (await Promise.race([execExit, new Promise<undefined>((r) => setTimeout(r, 1000))]));
    if (!ended) child.kill("SIGKILL");
    throw new CocalcError(
      ended?.code === NO_MOUNT ? "ERR_WORKSPACE_STATE" : "ERR_KERNEL_NOT_RUNNING",
      ended?.code === NO_MOUNT
        ? "the workspace's container was started without the folder kernels need: restart the workspace to run kernels"
        : `the kernel did not start${ended ? ` (exit code ${ended.code})` : ""}`,
    );
  }
  const shown = await insidePid(pid);
  const proc: KernelProcess = {
    pid,
    generation: o.generation,
    interruptMode: o.spec.interruptMode,
    connectionArg: shared.connectionInside,
    ...(shown !== undefined && { insidePid: shown }),
  };
  await writePrivate(files.process, JSON.stringify(proc));
  const alive = () => isKernelAlive(pid, shared.connectionInside);
  const claimed = claimSockets(c, o.kid, () => !alive());
  // Ended once podman exec has and the kernel's process is gone (podman exec may end alone).
  const exited = (async (): Promise<KernelExit> => {
    const failure = await claimed.then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (failure) signalKernel(pid, "SIGKILL");
    const e = await execExit;
    while (alive()) await new Promise((r) => setTimeout(r, 250));
    if (failure)
      return { code: null, signal: "SIGKILL", reason: `the kernel was ended: ${failure}` };
    if (await containerEnding(c, e))
      return { ...e, reason: "the workspace stopped, and its kernels with it" };
    return e;
  })();
  return { process: proc, connection, child, exited };
}
