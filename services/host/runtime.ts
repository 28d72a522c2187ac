/**
 * What a host does to its machine for each lifecycle step of a workspace, recording every
 * step as an event. Actions on one workspace run one at a time. A failed action is cleaned up
 * and recorded with its reason, so the workspace is always in a consistent state; a host that
 * restarts reconciles the recorded state with /proc/mounts and the running containers.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { randomId } from "../../shared/base64url.js";
import type { CommandOf } from "../../shared/commands.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError, type ErrorCode, toErrorPayload } from "../../shared/errors.js";
import {
  AccountEvents,
  containerName,
  EXEC_OUTPUT_LIMIT,
  type ExecResult,
  HostEvents,
  type Quota,
  type SnapshotInfo,
  WORKSPACE_HOME,
  WORKSPACE_UID,
  type WorkspaceAction,
  WorkspaceHostEvents,
  workspaceExecArgv,
  wsidOfContainer,
} from "../../shared/launchpad.js";
import type { ExecOpened, OpenPipe } from "../../shared/launchpad-exec.js";
import {
  accountSubjects,
  hostSubjects,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore, KeyedMutex } from "../runtime/aggregate.js";
import type { Logger } from "../runtime/logger.js";
import { publishEvent } from "../runtime/publish.js";
import {
  type AccountCommand,
  type AccountDecided,
  type AccountState,
  accountDecider,
  accountRegistry,
} from "./accounts.js";
import {
  type LifecycleCommand,
  type LifecycleDecided,
  type LifecycleState,
  lifecycleDecider,
} from "./decider.js";
import type { ExecSessions } from "./exec.js";
import { hideHostPaths } from "./host-paths.js";
import { type CoresLedger, localLedger } from "./ledger.js";
import { MountManager } from "./mounts.js";
import type { PipeExecs } from "./pipe-exec.js";
import { type DiskUse, QUOTA_DIR_INSIDE, quotaFile, writeQuotaFiles } from "./quota-file.js";
import {
  btrfs,
  inspectContainer,
  isDirectory,
  killedForMemory,
  listContainers,
  noUserNamespacesProfile,
  type PodmanConfig,
  pathExists,
  podman,
  podmanGlobal,
  readMounts,
  run,
  setContainerPidsLimit,
} from "./system.js";
import { isConmon } from "./watch.js";

export const workspaceHostRegistry = new EventRegistry(WorkspaceHostEvents);
export const hostRegistry = new EventRegistry(HostEvents);

/** Host uids/gids 0…65535 of every container map to UID_BASE…UID_BASE+65535. */
export const UID_BASE = 200_000;

const DEFAULT_BASHRC = `# ~/.bashrc of a CoCalc workspace
case $- in *i*) ;; *) return ;; esac
HISTCONTROL=ignoreboth
HISTSIZE=10000
shopt -s histappend checkwinsize 2>/dev/null
PS1='\\[\\e[1;32m\\]\\u@\\h\\[\\e[0m\\]:\\[\\e[1;34m\\]\\w\\[\\e[0m\\]\\$ '
alias ls='ls --color=auto' ll='ls -alF' la='ls -A'
export PATH="$HOME/.local/bin:$PATH"
`;
const DEFAULT_PROFILE = `# ~/.profile of a CoCalc workspace
[ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
`;

export interface HostRuntimeOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  hostId: string;
  /** The btrfs file system (mounted) that holds images and workspaces. */
  root: string;
  /** The host's data dir: like `root`, never shown in an error. */
  dataDir?: string;
  podman: PodmanConfig;
  /** The account ledger (default: this host's own ACCOUNTS stream). */
  ledger?: CoresLedger;
  now(): Date;
}

/** Where a workspace's parts live on the host. */
export function workspacePaths(root: string, wsid: string) {
  const dir = join(root, "workspaces", wsid);
  return {
    dir,
    home: join(dir, "home"),
    scratch: join(dir, "scratch"),
    layer: join(dir, "layer"),
    upper: join(dir, "layer", "upper"),
    work: join(dir, "layer", "work"),
    rootfs: join(dir, "rootfs"),
    snapshots: join(dir, "snapshots"),
    /** The host's folder seen read-only at /etc/cocalc: the quota files. */
    info: join(dir, "info"),
  };
}

export function imagePath(root: string, name: string): string {
  return join(root, "images", name);
}

/** How a running workspace's container ended (RecordContainerEnded). */
interface ContainerEnd {
  reason: string;
  exitCode?: number;
  oom?: boolean;
  monitorGone?: boolean;
}

/** podman exec's words for a container that is not there or not running. */
const NO_CONTAINER = /container state improper|no container with name or ID|no such container/i;

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

/** podman flags of a workspace's cgroup limits (for `run` and `update`). */
function limitFlags(q: Quota): string[] {
  return ["--memory", `${q.memoryMb}m`, "--cpus", String(q.cpus), "--pids-limit", String(q.pids)];
}

/**
 * The qgroup that holds a workspace's one disk limit: `1/<n>`, n from the workspace id (40
 * bits of its SHA-256), so it needs no record and survives restores and image changes.
 */
export function diskGroup(wsid: string): string {
  return `1/${Number.parseInt(createHash("sha256").update(wsid).digest("hex").slice(0, 10), 16)}`;
}

const rootfsMount = (wsid: string) => `rootfs-${wsid}`;
const containerHolder = (wsid: string) => `container:${wsid}` as const;

export class HostRuntime {
  readonly store: AggregateStore<LifecycleCommand, LifecycleDecided, LifecycleState>;
  readonly mounts: MountManager;
  /** Accounts' cores of this host's own ACCOUNTS stream (quota commands of a host on its own). */
  readonly accounts: AggregateStore<AccountCommand, AccountDecided, AccountState>;
  /** Where a workspace's cpus are reserved before it starts: local, or the control plane's. */
  readonly ledger: CoresLedger;
  private readonly lock = new KeyedMutex();
  /** The last known state of every workspace this host has touched. */
  readonly known = new Map<string, LifecycleState>();

  constructor(private readonly o: HostRuntimeOptions) {
    this.store = new AggregateStore({
      js: o.js,
      jsm: o.jsm,
      log: o.log,
      stream: Streams.WORKSPACES,
      registry: workspaceHostRegistry,
      events: WorkspaceHostEvents,
      decider: lifecycleDecider,
    });
    this.mounts = new MountManager({
      js: o.js,
      jsm: o.jsm,
      log: o.log,
      hostId: o.hostId,
      now: o.now,
    });
    this.accounts = new AggregateStore({
      js: o.js,
      jsm: o.jsm,
      log: o.log,
      stream: Streams.ACCOUNTS,
      registry: accountRegistry,
      events: AccountEvents,
      decider: accountDecider,
    });
    this.ledger = o.ledger ?? localLedger(o.hostId, this.accounts);
  }

  /**
   * Holds `cores` of the workspace's account for it (none without an account); refused with
   * ERR_ACCOUNT_CORES_QUOTA, changing nothing, when that takes the account above its quota.
   */
  private async reserveCores(
    wsid: string,
    account: string | undefined,
    cores: number,
    force = false,
  ): Promise<void> {
    if (account === undefined) return;
    await this.ledger.reserve({ account, wsid, cores, ...(force && { force }) }, this.meta());
  }

  private async releaseCores(wsid: string, account: string | undefined): Promise<void> {
    if (account === undefined) return;
    await this.ledger.release(account, wsid, this.meta());
  }

  /** Sets an account's cores quota (from the wire). */
  async setAccountCores(account: string, cores: number | null, actor: string): Promise<number[]> {
    return (
      await this.accounts.execute(accountSubjects(account).cores, {
        type: "SetAccountCoresQuota",
        data: { cores },
        actor,
        at: this.o.now().toISOString(),
      })
    ).seqs;
  }

  private meta(actor = `host:${this.o.hostId}`) {
    return { actor, at: this.o.now().toISOString() };
  }

  private async exec(wsid: string, command: LifecycleCommand): Promise<LifecycleState> {
    const { state } = await this.store.execute(workspaceSubjects(wsid).hostLife, command);
    this.known.set(wsid, state);
    return state;
  }

  async stateOf(wsid: string): Promise<LifecycleState> {
    const { state } = await this.store.state(workspaceSubjects(wsid).hostLife);
    this.known.set(wsid, state);
    return state;
  }

  private step(wsid: string, action: WorkspaceAction, step: string, detail?: string) {
    this.o.log.debug({ wsid, action, step }, "step done");
    return this.exec(wsid, {
      type: "RecordStep",
      data: { action, step, ...(detail !== undefined && { detail }) },
      ...this.meta(),
    });
  }

  /** Runs a workspace command from the wire (or the scheduler), side effects included. */
  handle(wsid: string, command: LifecycleCommand): Promise<number[]> {
    return this.lock.run(wsid, () => this.handleLocked(wsid, command));
  }

  private async handleLocked(wsid: string, command: LifecycleCommand): Promise<number[]> {
    const subject = workspaceSubjects(wsid).hostLife;
    const paths = workspacePaths(this.o.root, wsid);
    switch (command.type) {
      case "CreateWorkspaceOnHost": {
        await this.store.check(subject, command);
        await this.requireImage(command.data.image);
        const r = await this.store.execute(subject, command);
        this.known.set(wsid, r.state);
        await this.act(wsid, "provision", () => this.provision(wsid, r.state.quota));
        return r.seqs;
      }
      case "StartWorkspace": {
        const state = await this.stateOf(wsid);
        // The account's cores first: a refused start changes nothing.
        if ((await this.store.check(subject, command)).length > 0)
          await this.reserveCores(wsid, state.account, state.quota.cpus);
        try {
          return await this.transition(wsid, command, "start", () => this.start(wsid));
        } catch (err) {
          // Not started after all: the cores go back (a no-op when the cleanup did it).
          if ((await this.stateOf(wsid)).status === "stopped")
            await this.releaseCores(wsid, state.account).catch(() => undefined);
          throw err;
        }
      }
      case "StopWorkspace":
        return this.transition(wsid, command, "stop", () => this.stop(wsid));
      case "DeleteWorkspace":
        return this.transition(wsid, command, "delete", () => this.remove(wsid));
      case "SetWorkspaceImage": {
        if ((await this.store.check(subject, command)).length === 0) return [];
        await this.requireImage(command.data.image);
        // The writable layer belongs to the old image: changing the image starts it afresh.
        await btrfs.remove(paths.layer);
        await this.makeLayer(wsid, (await this.stateOf(wsid)).quota);
        return (await this.store.execute(subject, command)).seqs;
      }
      case "SetWorkspaceQuota": {
        const decided = await this.store.check(subject, command);
        const change = decided[0];
        if (change?.type === "WorkspaceQuotaChanged") {
          const state = await this.stateOf(wsid);
          const running = state.status === "running";
          const cpus = change.data.quota.cpus;
          // More cpus for a running workspace are more of its account's cores: asked first.
          if (running && cpus !== state.quota.cpus)
            await this.reserveCores(wsid, state.account, cpus);
          try {
            await this.applyDiskQuota(wsid, change.data.quota);
            // A running container's cgroup follows at once (pids through its cgroup file:
            // podman 4 cannot change them on a live container).
            if (running) await this.updateLimits(wsid, change.data.quota);
          } catch (err) {
            if (running && cpus !== state.quota.cpus)
              await this.reserveCores(wsid, state.account, state.quota.cpus, true);
            throw err;
          }
        }
        const r = await this.store.execute(subject, command);
        this.known.set(wsid, r.state);
        // After the record: a usage sample from now on writes the new limit too.
        if (change && r.state.status === "running") await this.writeQuota(wsid, r.state.quota);
        return r.seqs;
      }
      case "CreateSnapshot":
        await this.store.check(subject, command);
        await mkdir(paths.snapshots, { recursive: true });
        await this.applyDiskQuota(wsid, (await this.stateOf(wsid)).quota);
        await btrfs.snapshot(
          paths.home,
          join(paths.snapshots, command.data.name),
          true,
          diskGroup(wsid),
        );
        return (await this.store.execute(subject, command)).seqs;
      case "DeleteSnapshot":
        await this.store.check(subject, command);
        await btrfs.remove(join(paths.snapshots, command.data.name));
        return (await this.store.execute(subject, command)).seqs;
      case "RestoreSnapshot": {
        await this.store.check(subject, command);
        const snapshot = join(paths.snapshots, command.data.name);
        if (!(await isDirectory(snapshot)))
          throw new CocalcError(
            "ERR_WORKSPACE_SNAPSHOT",
            `snapshot ${command.data.name} is on record but gone from the host's storage; nothing was restored`,
          );
        const restored = join(paths.dir, "home.restoring");
        await btrfs.remove(restored);
        await btrfs.snapshot(snapshot, restored, false, diskGroup(wsid));
        await btrfs.remove(paths.home);
        await rename(restored, paths.home);
        await this.applyDiskQuota(wsid, (await this.stateOf(wsid)).quota);
        return (await this.store.execute(subject, command)).seqs;
      }
      case "RecordStep":
      case "FinishAction":
      case "FailAction":
      case "RecordContainerEnded":
        throw new CocalcError("ERR_COMMAND_UNKNOWN", `${command.type} is internal to the host`);
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  }

  private async transition(
    wsid: string,
    command: LifecycleCommand,
    action: WorkspaceAction,
    work: () => Promise<string | undefined>,
  ): Promise<number[]> {
    const r = await this.store.execute(workspaceSubjects(wsid).hostLife, command);
    this.known.set(wsid, r.state);
    if (r.seqs.length === 0) return [];
    await this.act(wsid, action, work);
    return r.seqs;
  }

  /** Runs an action's side effects; records it finished, or cleans up and records the failure. */
  private async act(
    wsid: string,
    action: WorkspaceAction,
    work: () => Promise<string | undefined>,
  ): Promise<void> {
    try {
      const container = await work();
      await this.exec(wsid, {
        type: "FinishAction",
        data: { action, ...(container !== undefined && { container }) },
        ...this.meta(),
      });
    } catch (err) {
      const e = toErrorPayload(err);
      this.o.log.warn({ wsid, action, code: e.code, reason: e.message }, "action failed");
      // What the workspace's events and people see: no host paths.
      e.message = this.hidePaths(e.message);
      await this.cleanup(wsid, action).catch((c) =>
        this.o.log.error({ wsid, action, err: String(c) }, "cleanup after failure failed"),
      );
      await this.exec(wsid, {
        type: "FailAction",
        data: { action, code: e.code, message: e.message },
        ...this.meta(),
      });
      throw new CocalcError(e.code as ErrorCode, e.message, e.details);
    }
  }

  /** `message` with the host's paths replaced by the workspace's (or dropped). */
  hidePaths(message: string): string {
    return hideHostPaths(message, {
      root: this.o.root,
      ...(this.o.dataDir !== undefined && { dataDir: this.o.dataDir }),
    });
  }

  /** Brings the machine to the state a failed action leaves the workspace in. */
  private async cleanup(wsid: string, action: WorkspaceAction): Promise<void> {
    await this.removeContainer(wsid);
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
    if (action === "provision") await this.removeStorage(wsid);
  }

  /** memory and cpus of a running container, at once. */
  private async updateLimits(wsid: string, quota: Quota): Promise<void> {
    await podman(this.o.podman, [
      "update",
      "--memory",
      `${quota.memoryMb}m`,
      // As podman run sets it: swap as much again as memory.
      "--memory-swap",
      `${2 * quota.memoryMb}m`,
      "--cpus",
      String(quota.cpus),
      containerName(this.o.hostId, wsid),
    ]);
    const pidfile = join(workspacePaths(this.o.root, wsid).dir, "container.pid");
    const initPid = Number((await readFile(pidfile, "utf8")).trim());
    await setContainerPidsLimit(initPid, quota.pids);
  }

  private async requireImage(name: string): Promise<string> {
    const path = imagePath(this.o.root, name);
    if (!(await isDirectory(path)))
      throw new CocalcError("ERR_HOST_IMAGE", `no image ${name} on host ${this.o.hostId}`);
    return path;
  }

  /**
   * One disk limit for the workspace: home, /scratch and the root layer are the members of
   * its qgroup (diskGroup), whose referenced bytes are limited to `diskMb`.
   */
  private async applyDiskQuota(wsid: string, quota: Quota): Promise<void> {
    const p = workspacePaths(this.o.root, wsid);
    await btrfs.limitTogether(
      this.o.root,
      diskGroup(wsid),
      [p.home, p.scratch, p.layer],
      quota.diskMb,
    );
  }

  private async makeLayer(wsid: string, quota: Quota): Promise<void> {
    const p = workspacePaths(this.o.root, wsid);
    await btrfs.create(p.layer);
    if (await pathExists(p.home)) await this.applyDiskQuota(wsid, quota);
    await mkdir(p.upper, { recursive: true });
    await mkdir(p.work, { recursive: true });
    // The overlay's root directory takes its owner from the upper dir: the container's root.
    await chown(p.upper, UID_BASE, UID_BASE);
  }

  private async provision(wsid: string, quota: Quota): Promise<undefined> {
    const p = workspacePaths(this.o.root, wsid);
    await mkdir(p.dir, { recursive: true, mode: 0o711 });
    await mkdir(p.snapshots, { recursive: true, mode: 0o755 });
    await mkdir(p.rootfs, { recursive: true });
    const owner = UID_BASE + WORKSPACE_UID;
    for (const sub of [p.home, p.scratch]) {
      await btrfs.create(sub);
      await chown(sub, owner, owner);
    }
    await this.step(wsid, "provision", "home and /scratch subvolumes");
    for (const [name, text] of [
      [".bashrc", DEFAULT_BASHRC],
      [".profile", DEFAULT_PROFILE],
    ] as const) {
      const file = join(p.home, name);
      if (!(await pathExists(file))) {
        await writeFile(file, text, { mode: 0o644 });
        await chown(file, owner, owner);
      }
    }
    await this.makeLayer(wsid, quota);
    await this.step(wsid, "provision", "rootfs layer", `disk limit ${quota.diskMb} MB in all`);
    return undefined;
  }

  private async start(wsid: string): Promise<string> {
    const state = await this.stateOf(wsid);
    const p = workspacePaths(this.o.root, wsid);
    const lower = await this.requireImage(state.image);
    // Also moves a workspace made with a limit per subvolume to one limit for all three.
    await this.applyDiskQuota(wsid, state.quota);
    await mkdir(p.info, { recursive: true, mode: 0o755 });
    await this.writeQuota(wsid, state.quota);
    await this.mounts.reference(rootfsMount(wsid), containerHolder(wsid), {
      lower,
      upper: p.upper,
      work: p.work,
      target: p.rootfs,
    });
    await this.step(wsid, "start", "rootfs mounted", state.image);
    // The file the explorer shows says what `hostname` says inside.
    await writeHostname(p.rootfs, hostnameOf(wsid));
    const name = containerName(this.o.hostId, wsid);
    const c = this.o.podman;
    const map = `0:${UID_BASE}:65536`;
    const pidfile = join(p.dir, "container.pid");
    await mkdir(p.snapshots, { recursive: true });
    await chmod(p.snapshots, 0o755);
    await rm(pidfile, { force: true });
    const runArgs = [
      "run",
      "-d",
      // A container left by a crash is replaced in the same call: no listing before each start.
      "--replace",
      "--name",
      name,
      "--pidfile",
      pidfile,
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
      this.o.log.warn({ wsid, err: String(err) }, "container name in use; replacing it");
      await this.removeContainer(wsid);
      await podman(c, runArgs);
    }
    await this.step(wsid, "start", "container started", name);
    await this.healthCheck(pidfile);
    await this.step(wsid, "start", "health checked");
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
  private async removeContainer(wsid: string): Promise<void> {
    await podman(this.o.podman, [
      "rm",
      "--force",
      "--ignore",
      "--time",
      "5",
      containerName(this.o.hostId, wsid),
    ]);
  }

  private async stop(wsid: string): Promise<undefined> {
    await this.removeContainer(wsid);
    await this.step(wsid, "stop", "container stopped");
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.step(wsid, "stop", "rootfs released");
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
    return undefined;
  }

  /**
   * Looks at a running workspace's container after a sign that it may have ended (a podman
   * event, its init or conmon gone, an exec that found no container): if it has, removes what
   * is left of it, releases the rootfs and the cores and records why. True when it had ended.
   */
  checkContainer(wsid: string): Promise<boolean> {
    return this.lock.run(wsid, async () => {
      const state = await this.stateOf(wsid);
      if (state.status !== "running") return false;
      const ended = await this.whyEnded(wsid, state);
      if (!ended) return false;
      await this.cleanUpEnded(wsid, ended);
      return true;
    });
  }

  /** Why a running workspace's container is not running any more; undefined while it runs. */
  private async whyEnded(wsid: string, state: LifecycleState): Promise<ContainerEnd | undefined> {
    const c = await inspectContainer(this.o.podman, containerName(this.o.hostId, wsid));
    if (!c) return { reason: "its container is gone" };
    if (c.running) {
      if (c.conmonPid > 0 && !(await isConmon(c.conmonPid)))
        return { reason: "its container's monitor (conmon) is gone", monitorGone: true };
      return undefined;
    }
    const oom =
      c.oomKilled ||
      (c.exitCode === 137 &&
        (await killedForMemory(
          Number(
            await readFile(
              join(workspacePaths(this.o.root, wsid).dir, "container.pid"),
              "utf8",
            ).catch(() => "0"),
          ),
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

  private async cleanUpEnded(wsid: string, ended: ContainerEnd): Promise<void> {
    this.o.log.warn({ wsid, ...ended }, "the workspace's container ended");
    await this.removeContainer(wsid);
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
    await this.exec(wsid, { type: "RecordContainerEnded", data: ended, ...this.meta() });
  }

  private async removeStorage(wsid: string): Promise<void> {
    const p = workspacePaths(this.o.root, wsid);
    if (await isDirectory(p.snapshots)) {
      for (const s of await readdir(p.snapshots)) await btrfs.remove(join(p.snapshots, s));
    }
    await btrfs.removeGroup(this.o.root, diskGroup(wsid)).catch(() => undefined);
    for (const sub of [p.home, p.scratch, p.layer, join(p.dir, "home.restoring")])
      await btrfs.remove(sub);
    await rm(p.dir, { recursive: true, force: true });
  }

  private async remove(wsid: string): Promise<undefined> {
    await this.removeContainer(wsid);
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
    await this.removeStorage(wsid);
    await this.step(wsid, "delete", "storage removed");
    return undefined;
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

  /**
   * Holds the rootfs of a running workspace for an exec (refused with ERR_WORKSPACE_STATE
   * when it is not running); returns the release.
   */
  private async holdForExec(wsid: string): Promise<() => Promise<void>> {
    const state = await this.stateOf(wsid);
    if (state.status !== "running")
      throw new CocalcError(
        "ERR_WORKSPACE_STATE",
        state.status === "none" || state.status === "deleted"
          ? "no such workspace"
          : `the workspace is ${state.status}; start it first`,
      );
    const holder = `exec:${randomId()
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 16)}` as const;
    const p = workspacePaths(this.o.root, wsid);
    await this.mounts.reference(rootfsMount(wsid), holder, {
      lower: imagePath(this.o.root, state.image),
      upper: p.upper,
      work: p.work,
      target: p.rootfs,
    });
    return () => this.mounts.release(rootfsMount(wsid), holder);
  }

  /** podman's refusal of an exec (exit 125) because the container has ended. */
  private containerGone(wsid: string): CocalcError {
    void this.checkContainer(wsid).catch(() => undefined);
    return new CocalcError(
      "ERR_WORKSPACE_STATE",
      "the workspace's container has ended (it is being stopped): start the workspace",
    );
  }

  /**
   * Runs a command in a running workspace, holding its rootfs while it runs, and answers
   * with its output (cut at EXEC_OUTPUT_LIMIT); killed after `timeoutMs` (default 60 s).
   * The CLI streams instead (openExec).
   */
  async execIn(
    wsid: string,
    data: { argv: string[]; stdin?: string; timeoutMs?: number; root?: boolean; cwd?: string },
  ): Promise<ExecResult> {
    const release = await this.holdForExec(wsid);
    try {
      const r = await runCapture(
        this.o.podman.podman,
        [
          ...podmanGlobal(this.o.podman),
          ...workspaceExecArgv(containerName(this.o.hostId, wsid), data.argv, {
            root: data.root ?? false,
            ...(data.cwd !== undefined && { cwd: data.cwd }),
          }),
        ],
        data.stdin,
        data.timeoutMs ?? 60_000,
      );
      // podman's own refusal (exit 125): the container ended under a running workspace.
      if (r.exitCode === 125 && NO_CONTAINER.test(r.stderr)) throw this.containerGone(wsid);
      // The OCI runtime's refusal (podman exits 126/127): the command never ran.
      if (r.exitCode >= 126 && /chdir to cwd .* failed: no such file/i.test(r.stderr))
        throw new CocalcError(
          "ERR_WORKSPACE_CWD",
          `${data.cwd ?? WORKSPACE_HOME} does not exist in the workspace (or is not a folder)`,
        );
      return r;
    } finally {
      await release();
    }
  }

  /**
   * Opens a streamed exec session (services/host/exec.ts) in a running workspace; it holds
   * the rootfs until its processes are gone.
   */
  async openExec(
    sessions: ExecSessions,
    wsid: string,
    data: {
      argv: string[];
      tty?: boolean;
      stdin?: boolean;
      cols?: number;
      rows?: number;
      term?: string;
      root?: boolean;
      timeoutMs?: number;
    },
  ): Promise<ExecOpened> {
    const release = await this.holdForExec(wsid);
    try {
      const initPid = await this.initPid(wsid);
      const container = containerName(this.o.hostId, wsid);
      return await sessions.open({
        wsid,
        initPid,
        argv: data.argv,
        tty: data.tty ?? false,
        stdin: data.stdin ?? false,
        cols: data.cols ?? 80,
        rows: data.rows ?? 24,
        term: data.term ?? "xterm-256color",
        timeoutMs: data.timeoutMs ?? 0,
        podmanArgv: (cmd, env) => [
          this.o.podman.podman,
          [
            ...podmanGlobal(this.o.podman),
            ...workspaceExecArgv(container, cmd, {
              tty: data.tty ?? false,
              root: data.root ?? false,
              env,
            }),
          ],
        ],
        onEnd: release,
      });
    } catch (err) {
      await release();
      throw err;
    }
  }

  /** The host pid of the running container's init; ERR_WORKSPACE_STATE when it is gone. */
  private async initPid(wsid: string): Promise<number> {
    const pidfile = join(workspacePaths(this.o.root, wsid).dir, "container.pid");
    const initPid = Number((await readFile(pidfile, "utf8").catch(() => "")).trim());
    if (!(initPid > 0) || !(await pathExists(`/proc/${initPid}`))) throw this.containerGone(wsid);
    return initPid;
  }

  /**
   * Opens a command (or a forward) of a running workspace on a byte pipe (pipe-exec.ts), as
   * the workspace user; it holds the rootfs until its processes are gone.
   */
  async openPipe(
    pipes: PipeExecs,
    wsid: string,
    data: CommandOf<typeof OpenPipe>["data"],
  ): Promise<{ pipeId: string }> {
    const release = await this.holdForExec(wsid);
    try {
      const initPid = await this.initPid(wsid);
      const container = containerName(this.o.hostId, wsid);
      const tty = data.tty ?? false;
      if (data.kind === "tcp" && data.port === undefined)
        throw new CocalcError("ERR_COMMAND_INVALID", "a forward needs its port");
      if (data.kind === "exec" && data.argv === undefined)
        throw new CocalcError("ERR_COMMAND_INVALID", "an exec needs its command");
      return await pipes.open({
        wsid,
        initPid,
        pipeId: data.pipeId,
        kind: data.kind,
        argv: data.argv ?? [],
        tty,
        cols: data.cols ?? 80,
        rows: data.rows ?? 24,
        term: data.term ?? "xterm-256color",
        ...(data.host !== undefined && { host: data.host }),
        ...(data.port !== undefined && { port: data.port }),
        podmanArgv: (cmd, env) => [
          this.o.podman.podman,
          [
            ...podmanGlobal(this.o.podman),
            ...workspaceExecArgv(container, cmd, { tty, root: false, env }),
          ],
        ],
        onEnd: release,
      });
    } catch (err) {
      await release();
      throw err;
    }
  }

  // Images

  /**
   * Imports a rootfs directory as image `name`; `progress` hears each step and, while the
   * copy runs, how much of it is done (no paths: the lines may reach a hub's admin).
   */
  async importImage(
    name: string,
    source: string,
    description: string,
    progress: (line: string) => void = () => undefined,
  ): Promise<number[]> {
    return this.lock.run(`image:${name}`, async () => {
      const dest = imagePath(this.o.root, name);
      if (await pathExists(dest))
        throw new CocalcError("ERR_HOST_IMAGE", `image ${name} already exists; remove it first`);
      if (!(await isDirectory(source)) || !(await isDirectory(join(source, "bin"))))
        throw new CocalcError("ERR_HOST_IMAGE", `${source} is not a root file system (no bin/)`);
      const megabytes = async (dir: string) =>
        Number((await run("ERR_HOST_IMAGE", "du", ["-sm", dir])).split(/\s/)[0]) || 0;
      const total = await megabytes(source);
      await mkdir(join(this.o.root, "images"), { recursive: true });
      const tmp = join(this.o.root, "images", `.import-${name}`);
      await btrfs.remove(tmp);
      await btrfs.create(tmp);
      try {
        progress(`copying image ${name} (${total} MB)`);
        const copied = everyWhile(2000, async () =>
          progress(`copied ${Math.min(await megabytes(tmp), total)} of ${total} MB`),
        );
        try {
          await run("ERR_HOST_IMAGE", "cp", ["-a", "--reflink=auto", `${source}/.`, `${tmp}/`], {
            timeoutMs: 30 * 60_000,
          });
        } finally {
          await copied.stop();
        }
        progress("shifting owners into the workspaces' user namespace");
        await shiftOwnership(tmp, UID_BASE);
        progress("making the image read-only");
        await btrfs.setReadOnly(tmp);
        await rename(tmp, dest);
      } catch (err) {
        await btrfs.remove(tmp).catch(() => undefined);
        throw err;
      }
      const sizeMb = await megabytes(dest);
      progress(`image ${name} added (${sizeMb} MB)`);
      const ev = envelope({ type: "ImageAdded", v: 1 }, { name, description, sizeMb }, this.meta());
      hostRegistry.check(ev);
      const ack = await publishEvent(this.o.js, hostSubjects(this.o.hostId).image(name), ev);
      return [ack.seq];
    });
  }

  async removeImage(name: string): Promise<number[]> {
    return this.lock.run(`image:${name}`, async () => {
      const path = imagePath(this.o.root, name);
      if (!(await pathExists(path))) throw new CocalcError("ERR_HOST_IMAGE", `no image ${name}`);
      const users = [...this.known].filter(([, s]) => s.image === name && s.status !== "deleted");
      if (users.length > 0)
        throw new CocalcError(
          "ERR_HOST_IMAGE",
          `image ${name} is used by ${users.map(([w]) => w).join(", ")}`,
        );
      await btrfs.remove(path);
      const ev = envelope({ type: "ImageRemoved", v: 1 }, { name }, this.meta());
      const ack = await publishEvent(this.o.js, hostSubjects(this.o.hostId).image(name), ev);
      return [ack.seq];
    });
  }

  // Reconciliation

  /**
   * Makes the machine match the recorded state after a restart: containers of workspaces
   * that are not running are removed, actions that were cut short are finished or failed,
   * holders that are gone are released, and overlays nobody holds are unmounted.
   */
  async reconcile(): Promise<{
    removedContainers: number;
    unmounted: number;
    fixed: string[];
    /** Running workspaces whose containers the host took over as they are. */
    adopted: string[];
  }> {
    const fixed: string[] = [];
    const adopted: string[] = [];
    let removedContainers = 0;
    let unmounted = 0;
    const wsDir = join(this.o.root, "workspaces");
    const wsids = new Set<string>(
      (await isDirectory(wsDir)) ? (await readdir(wsDir)).filter((n) => !n.startsWith(".")) : [],
    );
    const containers = await listContainers(this.o.podman, `cocalc.host=${this.o.hostId}`);
    for (const c of containers) {
      // The label says whose it is; a container of another host on this machine is not ours.
      const wsid =
        wsidOfContainer(this.o.hostId, c.name) !== undefined ? c.labels["cocalc.wsid"] : undefined;
      if (wsid) wsids.add(wsid);
    }
    for (const wsid of wsids) {
      await this.lock.run(wsid, async () => {
        const state = await this.stateOf(wsid);
        const container = containers.find((c) => c.name === containerName(this.o.hostId, wsid));
        const interrupted = (action: WorkspaceAction) =>
          this.exec(wsid, {
            type: "FailAction",
            data: {
              action,
              code: "ERR_HOST_CONTAINER",
              message: `the host restarted during ${action}`,
            },
            ...this.meta(),
          });
        switch (state.status) {
          case "running":
            if (container?.running) {
              // Make sure the container's hold on its rootfs is on record.
              const holders = await this.mounts.holders(rootfsMount(wsid));
              if (!holders.includes(containerHolder(wsid))) {
                const p = workspacePaths(this.o.root, wsid);
                await this.mounts.reference(rootfsMount(wsid), containerHolder(wsid), {
                  lower: imagePath(this.o.root, state.image),
                  upper: p.upper,
                  work: p.work,
                  target: p.rootfs,
                });
              }
              // What runs holds its cores, whatever the quota says now.
              await this.reserveCores(wsid, state.account, state.quota.cpus, true);
              adopted.push(`${wsid} (container ${container.id.slice(0, 12)})`);
              return;
            }
            {
              // It ended while nobody watched: recorded like an end noticed at once.
              const ended = (await this.whyEnded(wsid, state)) ?? {
                reason: "its container is not running",
              };
              await this.cleanUpEnded(wsid, ended);
              fixed.push(`${wsid}: container ended (${ended.reason}), stopped`);
            }
            return;
          case "starting":
            await this.cleanup(wsid, "start");
            if (container) removedContainers++;
            await interrupted("start");
            fixed.push(`${wsid}: start interrupted, cleaned up`);
            return;
          case "stopping":
            await this.act(wsid, "stop", () => this.stop(wsid));
            if (container) removedContainers++;
            fixed.push(`${wsid}: stop finished`);
            return;
          case "provisioning":
            await this.cleanup(wsid, "provision");
            await interrupted("provision");
            fixed.push(`${wsid}: provisioning interrupted, removed`);
            return;
          case "deleting":
            await this.act(wsid, "delete", () => this.remove(wsid));
            if (container) removedContainers++;
            fixed.push(`${wsid}: delete finished`);
            return;
          case "stopped":
          case "none":
          case "deleted":
            if (container) {
              await this.removeContainer(wsid);
              removedContainers++;
              fixed.push(`${wsid}: stray container removed`);
            }
            await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
            // A host that died between reserving and starting leaves a hold behind.
            await this.releaseCores(wsid, state.account);
            return;
          default: {
            const never: never = state.status;
            throw new Error(`unhandled status ${String(never)}`);
          }
        }
      });
    }
    // Execs and agents do not survive a restart of the host service: release their holds.
    for (const wsid of wsids) {
      for (const h of await this.mounts.holders(rootfsMount(wsid))) {
        if (!h.startsWith("container:")) {
          await this.mounts.release(rootfsMount(wsid), h as `exec:${string}`);
          fixed.push(`${wsid}: released ${h}`);
        }
      }
    }
    const prefix = `${wsDir}/`;
    for (const m of await readMounts()) {
      if (m.fstype !== "overlay" || !m.target.startsWith(prefix) || !m.target.endsWith("/rootfs"))
        continue;
      const wsid = m.target.slice(prefix.length, -"/rootfs".length);
      if (await this.mounts.unmountIfUnheld(rootfsMount(wsid), m.target)) {
        unmounted++;
        fixed.push(`${wsid}: unheld rootfs unmounted`);
      }
    }
    return { removedContainers, unmounted, fixed, adopted };
  }

  /**
   * The workspace's snapshots, newest first: when btrfs made each, and its size from its
   * qgroup (exclusive: what deleting it frees; referenced: all it refers to).
   */
  async listSnapshots(wsid: string): Promise<SnapshotInfo[]> {
    const state = await this.stateOf(wsid);
    if (state.status === "none" || state.status === "deleted")
      throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", "no such workspace");
    const dir = workspacePaths(this.o.root, wsid).snapshots;
    if (state.snapshots.length === 0 || !(await isDirectory(dir))) return [];
    const [subvolumes, groups] = await Promise.all([
      btrfs.snapshotsIn(dir),
      btrfs.qgroups(this.o.root),
    ]);
    const recorded = new Set(state.snapshots);
    return subvolumes
      .filter((s) => recorded.has(s.name))
      .map((s) => {
        const g = groups.get(`0/${s.id}`);
        return {
          name: s.name,
          takenAt: s.createdAt.toISOString(),
          exclusiveBytes: g?.exclusive ?? null,
          referencedBytes: g?.referenced ?? null,
        };
      })
      .sort((a, b) => b.takenAt.localeCompare(a.takenAt) || b.name.localeCompare(a.name));
  }

  /**
   * Sampled disk use of a workspace, in MB: all of it against its one limit (what home,
   * /scratch and the root layer reference together), and each part's.
   */
  async usage(wsid: string): Promise<{
    usedMb: number;
    homeMb: number;
    scratchMb: number;
    rootMb: number;
  }> {
    const use = await this.diskUse(wsid);
    // The people inside see the same sample (a running workspace's /etc/cocalc/quota).
    const state = this.known.get(wsid);
    if (state?.status === "running")
      await this.writeQuota(wsid, state.quota, use).catch((err) =>
        this.o.log.warn({ wsid, err }, "quota file not written"),
      );
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    return {
      usedMb: mb(use.usedBytes),
      homeMb: mb(use.homeBytes),
      scratchMb: mb(use.scratchBytes),
      rootMb: mb(use.rootBytes),
    };
  }

  /** Disk use in bytes from the qgroups: the workspace's one group, and each part's. */
  private async diskUse(wsid: string): Promise<DiskUse> {
    const p = workspacePaths(this.o.root, wsid);
    const groups = await btrfs.qgroups(this.o.root);
    const of = async (path: string) => groups.get(`0/${await btrfs.id(path)}`)?.referenced ?? 0;
    const [homeBytes, scratchBytes, rootBytes] = await Promise.all(
      [p.home, p.scratch, p.layer].map(of),
    );
    return {
      usedBytes: groups.get(diskGroup(wsid))?.referenced ?? 0,
      homeBytes: homeBytes!,
      scratchBytes: scratchBytes!,
      rootBytes: rootBytes!,
    };
  }

  /**
   * Rewrites the quota files the workspace reads at /etc/cocalc (with `use`, or a fresh
   * sample). Never creates the folder: that is the start's, so a workspace being deleted does
   * not get it back.
   */
  private async writeQuota(wsid: string, quota: Quota, use?: DiskUse): Promise<void> {
    const p = workspacePaths(this.o.root, wsid);
    await writeQuotaFiles(
      p.info,
      quotaFile(quota, use ?? (await this.diskUse(wsid)), this.o.now()),
    );
  }
}

/**
 * Moves every file's owner into the containers' uid range (uid → base + uid), so that root in
 * a container owns what root owned in the image. Symlinks are changed, not followed.
 */
export async function shiftOwnership(dir: string, base: number): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.uid < base) await lchown(path, st.uid + base, st.gid + base);
    // chown clears set-uid/set-gid bits; put them back.
    if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) await chmod(path, st.mode & 0o7777);
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await walk(join(path, name));
    }
  };
  await walk(dir);
}

/**
 * Runs `task` every `ms` until stopped, one at a time (a slow one delays the next); a task
 * that fails is skipped. `stop` waits for the one under way.
 */
function everyWhile(ms: number, task: () => Promise<void>): { stop(): Promise<void> } {
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    current = current.then(() => (stopped ? undefined : task().catch(() => undefined)));
  }, ms);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
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
