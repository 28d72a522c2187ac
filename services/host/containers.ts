/**
 * A workspace's podman container: started on its mounted rootfs as the workspace user with
 * its limits, health-checked, changed, asked why it ended, and removed; commands run in it.
 */
import { spawn } from "node:child_process";
import { chmod, chown, lstat, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import {
  containerName,
  EXEC_OUTPUT_LIMIT,
  type ExecResult,
  type Quota,
  WORKSPACE_HOME,
  WORKSPACE_KERNELS_DIR,
  WORKSPACE_UID,
  workspaceExecArgv,
} from "../../shared/launchpad.js";
import type { Logger } from "../runtime/logger.js";
import type { LifecycleState } from "./decider.js";
import { UID_BASE, workspacePaths } from "./layout.js";
import { QUOTA_DIR_INSIDE } from "./quota-file.js";
import {
  inspectContainer,
  killedForMemory,
  noUserNamespacesProfile,
  type PodmanConfig,
  pathExists,
  podman,
  podmanGlobal,
  setContainerPidsLimit,
} from "./system.js";
import { isConmon } from "./watch.js";

/** How a running workspace's container ended (RecordContainerEnded). */
export interface ContainerEnd {
  reason: string;
  exitCode?: number;
  oom?: boolean;
  monitorGone?: boolean;
}

/** podman exec's words for a container that is not there or not running. */
export const NO_CONTAINER =
  /container state improper|no container with name or ID|no such container/i;

function signalName(n: number): string {
  const name = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
  return name ?? `signal ${n}`;
}

/** The host name inside a workspace's container. */
const hostnameOf = (wsid: string) => `ws-${wsid}`.slice(0, 63);

/** /etc/hostname of the rootfs (in the writable layer), owned by the container's root. */
async function writeHostname(rootfs: string, name: string): Promise<void> {
  // Never through a symlink: the writable layer is the workspace user's (nothing runs in it
  // now, the container is not started yet).
  const etc = join(rootfs, "etc");
  if (!(await lstat(etc).catch(() => undefined))?.isDirectory()) return;
  const file = join(etc, "hostname");
  await rm(file, { force: true });
  await writeFile(file, `${name}\n`, { mode: 0o644, flag: "wx" });
  await chown(file, UID_BASE, UID_BASE);
}

/** The container's init: sleeps until told to stop (its child `sleep` is the readiness sign). */
const KEEPALIVE = 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done';

/**
 * The kernels' folders, empty at each start (nothing runs in the container yet): root's, with
 * the user's one that is mounted inside and root's one for the sockets the service reaches.
 */
async function prepareKernelFolders(p: ReturnType<typeof workspacePaths>): Promise<void> {
  const user = UID_BASE + WORKSPACE_UID;
  await rm(p.kernels, { recursive: true, force: true });
  await mkdir(p.kernels, { mode: 0o700 });
  await mkdir(p.kernelsShared, { mode: 0o700 });
  await mkdir(p.kernelSockets, { mode: 0o700 });
  await chmod(p.kernels, 0o700);
  await chown(p.kernelsShared, user, user);
  await chmod(p.kernelsShared, 0o700);
  await chmod(p.kernelSockets, 0o700);
}

/** podman flags of a workspace's cgroup limits (for `run` and `update`). */
function limitFlags(q: Quota): string[] {
  return ["--memory", `${q.memoryMb}m`, "--cpus", String(q.cpus), "--pids-limit", String(q.pids)];
}

export interface WorkspaceContainersOptions {
  hostId: string;
  /** The btrfs file system (mounted) that holds images and workspaces. */
  root: string;
  podman: PodmanConfig;
  log: Logger;
}

export class WorkspaceContainers {
  constructor(private readonly o: WorkspaceContainersOptions) {}

  name(wsid: string): string {
    return containerName(this.o.hostId, wsid);
  }

  /**
   * Runs the workspace's container on its mounted rootfs (replacing one a crash left) and
   * waits until it is healthy; `step` hears each step. Returns the container's name.
   */
  async start(
    wsid: string,
    state: LifecycleState,
    step: (name: string, detail?: string) => Promise<unknown>,
  ): Promise<string> {
    const p = workspacePaths(this.o.root, wsid);
    // The file the explorer shows says what `hostname` says inside.
    await writeHostname(p.rootfs, hostnameOf(wsid));
    const name = this.name(wsid);
    const c = this.o.podman;
    const map = `0:${UID_BASE}:65536`;
    await mkdir(p.snapshots, { recursive: true });
    await chmod(p.snapshots, 0o755);
    await rm(p.pidfile, { force: true });
    await prepareKernelFolders(p);
    const runArgs = [
      "run",
      "-d",
      // A container left by a crash is replaced in the same call: no listing before each start.
      "--replace",
      "--name",
      name,
      "--pidfile",
      p.pidfile,
      "--label",
      `cocalc.host=${this.o.hostId}`,
      "--label",
      `cocalc.wsid=${wsid}`,
      "--hostname",
      hostnameOf(wsid),
      // The host's network (podman's default bridge unless --network says otherwise), or
      // only loopback for a workspace created with network none.
      "--network",
      state.network === "none" ? "none" : c.network,
      "--uidmap",
      map,
      "--gidmap",
      map,
      "--cap-drop",
      "all",
      "--security-opt",
      "no-new-privileges",
      // No nested user namespaces, unless this workspace may have them.
      ...(state.userNamespaces ? [] : ["--security-opt", `seccomp=${await this.seccompProfile()}`]),
      // A UTF-8 locale for everything in the container (exec and terminals inherit it).
      "--env",
      "LANG=C.UTF-8",
      ...limitFlags(state.quota),
      ...c.ulimits.flatMap((u) => ["--ulimit", u]),
      "--user",
      `${WORKSPACE_UID}:${WORKSPACE_UID}`,
      "--workdir",
      WORKSPACE_HOME,
      "--env",
      `HOME=${WORKSPACE_HOME}`,
      "--volume",
      `${p.home}:${WORKSPACE_HOME}`,
      "--volume",
      `${p.scratch}:/scratch`,
      // The user reads their snapshots (read-only subvolumes) in ~/.snapshots.
      "--volume",
      `${p.snapshots}:${WORKSPACE_HOME}/.snapshots:ro`,
      // The disk limit and use (df cannot show a qgroup): cat /etc/cocalc/quota.
      "--volume",
      `${p.info}:${QUOTA_DIR_INSIDE}:ro`,
      // Kernels' connection files and sockets (the service reaches them from the host).
      "--volume",
      `${p.kernelsShared}:${WORKSPACE_KERNELS_DIR}`,
      // --rootfs takes the path as the first positional: every flag must come before it.
      "--rootfs",
      p.rootfs,
      "/bin/sh",
      "-c",
      KEEPALIVE,
    ];
    try {
      await podman(c, runArgs);
    } catch (err) {
      // podman's --replace can lose a race with other podman processes on a busy machine
      // ("name … is in use"): remove the old container explicitly and try once more.
      if (!/is in use|already exists/.test(String((err as Error).message))) throw err;
      this.o.log.warn({ wsid, err }, "container name in use; replacing it");
      await this.remove(wsid);
      await podman(c, runArgs);
    }
    await step("container started", name);
    await this.healthCheck(p.pidfile);
    await step("health checked");
    return name;
  }

  /**
   * The container is healthy once its own init, running as the workspace user in its rootfs,
   * has started its first `sleep`: that proves the rootfs, the user and the limits let a
   * process run, without a second podman process (an exec costs as much as the start).
   */
  private async healthCheck(pidfile: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    let why = "no pid file";
    for (;;) {
      try {
        const pid = Number((await readFile(pidfile, "utf8")).trim());
        why = `process ${pid} is gone`;
        const stat = await readFile(`/proc/${pid}/stat`, "utf8");
        // State is the field after the parenthesised command name.
        const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
        if (state === "Z" || state === "X") throw new Error("exited");
        why = `process ${pid} has not started its loop`;
        const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8")).trim();
        if (children !== "") return;
      } catch {
        // Not there yet, or gone: decided by the deadline.
      }
      if (Date.now() > deadline)
        throw new CocalcError("ERR_HOST_CONTAINER", `the container did not become healthy: ${why}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops (TERM, then KILL after 5 s) and removes the container, if there is one. */
  async remove(wsid: string): Promise<void> {
    await podman(this.o.podman, ["rm", "--force", "--ignore", "--time", "5", this.name(wsid)]);
  }

  /** memory, cpus and pids of a running container, at once. */
  async updateLimits(wsid: string, quota: Quota): Promise<void> {
    await podman(this.o.podman, [
      "update",
      "--memory",
      `${quota.memoryMb}m`,
      // As podman run sets it: swap as much again as memory.
      "--memory-swap",
      `${2 * quota.memoryMb}m`,
      "--cpus",
      String(quota.cpus),
      this.name(wsid),
    ]);
    // Through its cgroup file: podman 4 cannot change pids on a live container.
    const pidfile = workspacePaths(this.o.root, wsid).pidfile;
    const initPid = Number((await readFile(pidfile, "utf8")).trim());
    await setContainerPidsLimit(initPid, quota.pids);
  }

  /** Why a running workspace's container is not running any more; undefined while it runs. */
  async whyEnded(wsid: string, state: LifecycleState): Promise<ContainerEnd | undefined> {
    const c = await inspectContainer(this.o.podman, this.name(wsid));
    if (!c) return { reason: "its container is gone" };
    if (c.running) {
      if (c.conmonPid > 0 && !(await isConmon(c.conmonPid)))
        return { reason: "its container's monitor (conmon) is gone", monitorGone: true };
      return undefined;
    }
    const pidfile = workspacePaths(this.o.root, wsid).pidfile;
    const oom =
      c.oomKilled ||
      (c.exitCode === 137 &&
        (await killedForMemory(
          Number(await readFile(pidfile, "utf8").catch(() => "0")),
          new Date(c.startedAt),
        )));
    if (oom)
      return {
        reason: `it ran out of memory (limit ${state.quota.memoryMb} MB): the kernel killed its init`,
        exitCode: c.exitCode,
        oom: true,
      };
    const signal = c.exitCode > 128 ? signalName(c.exitCode - 128) : undefined;
    return {
      reason: signal
        ? `its init was killed (${signal}, exit code ${c.exitCode})`
        : `its init exited with code ${c.exitCode}`,
      exitCode: c.exitCode,
    };
  }

  /** The host pid of the running container's init, or undefined when it is gone. */
  async initPid(wsid: string): Promise<number | undefined> {
    const pidfile = workspacePaths(this.o.root, wsid).pidfile;
    const initPid = Number((await readFile(pidfile, "utf8").catch(() => "")).trim());
    return initPid > 0 && (await pathExists(`/proc/${initPid}`)) ? initPid : undefined;
  }

  /** podman's argv of `cmd` run in the container (for the exec sessions and pipes). */
  execArgv(
    wsid: string,
    cmd: string[],
    o: { tty?: boolean; root?: boolean; cwd?: string; env?: Record<string, string> },
  ): [string, string[]] {
    return [
      this.o.podman.podman,
      [
        ...podmanGlobal(this.o.podman),
        ...workspaceExecArgv(this.name(wsid), cmd, {
          tty: o.tty ?? false,
          root: o.root ?? false,
          ...(o.cwd !== undefined && { cwd: o.cwd }),
          ...(o.env !== undefined && { env: o.env }),
        }),
      ],
    ];
  }

  private seccomp: Promise<string> | undefined;

  /** The seccomp profile of workspaces (podman's default without user namespaces), written once. */
  private seccompProfile(): Promise<string> {
    this.seccomp ??= (async () => {
      const file = join(this.o.root, "host", "seccomp-no-user-namespaces.json");
      await mkdir(join(this.o.root, "host"), { recursive: true, mode: 0o700 });
      await writeFile(file, await noUserNamespacesProfile(), { mode: 0o600 });
      return file;
    })();
    this.seccomp.catch(() => {
      this.seccomp = undefined;
    });
    return this.seccomp;
  }
}

/** Runs a process with optional stdin, capturing bounded stdout and stderr. */
export function runCapture(
  cmd: string,
  args: string[],
  stdin: string | undefined,
  timeoutMs: number,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let truncated = false;
    child.stdout.on("data", (b: Buffer) => {
      if (outLen < EXEC_OUTPUT_LIMIT) out.push(b);
      else truncated = true;
      outLen += b.length;
    });
    child.stderr.on("data", (b: Buffer) => {
      if (errLen < EXEC_OUTPUT_LIMIT) err.push(b);
      else truncated = true;
      errLen += b.length;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new CocalcError("ERR_HOST_EXEC", e.message));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode: code ?? (signal === "SIGKILL" ? 137 : 128),
        stdout: Buffer.concat(out).toString("utf8").slice(0, EXEC_OUTPUT_LIMIT),
        stderr: Buffer.concat(err).toString("utf8").slice(0, EXEC_OUTPUT_LIMIT),
        truncated,
      });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin ?? "");
  });
}
