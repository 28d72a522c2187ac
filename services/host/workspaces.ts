/**
 * What a host does to its machine for each lifecycle step of a workspace, recording every
 * step as an event. Actions on one workspace run one at a time. A failed action is cleaned up
 * and recorded with its reason, so the workspace is always in a consistent state; a host that
 * restarts reconciles the recorded state with /proc/mounts and the running containers.
 * The parts it drives: storage (btrfs), containers (podman), images, and execs.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { CocalcError, type ErrorCode, toErrorPayload } from "../../shared/errors.js";
import {
  AccountEvents,
  containerName,
  type SnapshotInfo,
  type WorkspaceAction,
  WorkspaceHostEvents,
  wsidOfContainer,
} from "../../shared/launchpad.js";
import { accountSubjects, Streams, workspaceSubjects } from "../../shared/subjects.js";
import { AggregateStore, KeyedMutex } from "../runtime/aggregate.js";
import type { Logger } from "../runtime/logger.js";
import {
  type AccountCommand,
  type AccountDecided,
  type AccountState,
  accountDecider,
  accountRegistry,
} from "./accounts.js";
import { type ContainerEnd, WorkspaceContainers } from "./containers.js";
import {
  type LifecycleCommand,
  type LifecycleDecided,
  type LifecycleState,
  lifecycleDecider,
  workspaceHostRegistry,
} from "./decider.js";
import { hideHostPaths } from "./host-paths.js";
import { HostImages } from "./images.js";
import { containerHolder, imagePath, rootfsMount, workspacePaths } from "./layout.js";
import { type CoresLedger, localLedger } from "./ledger.js";
import { MountManager } from "./mounts.js";
import { WorkspaceStorage } from "./storage.js";
import { isDirectory, listContainers, type PodmanConfig, readMounts } from "./system.js";
import { WorkspaceExecs } from "./workspace-exec.js";

export interface HostWorkspacesOptions {
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

export class HostWorkspaces {
  readonly store: AggregateStore<LifecycleCommand, LifecycleDecided, LifecycleState>;
  readonly mounts: MountManager;
  /** Accounts' cores of this host's own ACCOUNTS stream (quota commands of a host on its own). */
  readonly accounts: AggregateStore<AccountCommand, AccountDecided, AccountState>;
  /** Where a workspace's cpus are reserved before it starts: local, or the control plane's. */
  readonly ledger: CoresLedger;
  readonly images: HostImages;
  readonly execs: WorkspaceExecs;
  private readonly storage: WorkspaceStorage;
  private readonly containers: WorkspaceContainers;
  private readonly lock = new KeyedMutex();
  /** The last known state of every workspace this host has touched. */
  readonly known = new Map<string, LifecycleState>();

  constructor(private readonly o: HostWorkspacesOptions) {
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
    this.storage = new WorkspaceStorage(o.root, o.now);
    this.containers = new WorkspaceContainers({
      hostId: o.hostId,
      root: o.root,
      podman: o.podman,
      log: o.log,
    });
    this.images = new HostImages({
      js: o.js,
      hostId: o.hostId,
      root: o.root,
      lock: this.lock,
      usersOf: (name) =>
        [...this.known]
          .filter(([, s]) => s.image === name && s.status !== "deleted")
          .map(([w]) => w),
      meta: () => this.meta(),
    });
    this.execs = new WorkspaceExecs({
      root: o.root,
      containers: this.containers,
      mounts: this.mounts,
      stateOf: (wsid) => this.stateOf(wsid),
      checkContainer: (wsid) => this.checkContainer(wsid),
    });
  }

  // Cores

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

  // The record

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

  // Commands

  /** Runs a workspace command from the wire (or the scheduler), side effects included. */
  handle(wsid: string, command: LifecycleCommand): Promise<number[]> {
    return this.lock.run(wsid, () => this.handleLocked(wsid, command));
  }

  private async handleLocked(wsid: string, command: LifecycleCommand): Promise<number[]> {
    const subject = workspaceSubjects(wsid).hostLife;
    switch (command.type) {
      case "CreateWorkspaceOnHost": {
        await this.store.check(subject, command);
        await this.images.require(command.data.image);
        const r = await this.store.execute(subject, command);
        this.known.set(wsid, r.state);
        await this.act(wsid, "provision", async () => {
          await this.storage.provision(wsid, r.state.quota, (s, d) =>
            this.step(wsid, "provision", s, d),
          );
          return undefined;
        });
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
        await this.images.require(command.data.image);
        await this.storage.resetLayer(wsid, (await this.stateOf(wsid)).quota);
        return (await this.store.execute(subject, command)).seqs;
      }
      case "SetWorkspaceQuota":
        return this.setQuota(wsid, command);
      case "CreateSnapshot":
        await this.store.check(subject, command);
        await this.storage.createSnapshot(
          wsid,
          command.data.name,
          (await this.stateOf(wsid)).quota,
        );
        return (await this.store.execute(subject, command)).seqs;
      case "DeleteSnapshot":
        await this.store.check(subject, command);
        await this.storage.deleteSnapshot(wsid, command.data.name);
        return (await this.store.execute(subject, command)).seqs;
      case "RestoreSnapshot":
        await this.store.check(subject, command);
        await this.storage.restoreSnapshot(
          wsid,
          command.data.name,
          (await this.stateOf(wsid)).quota,
        );
        return (await this.store.execute(subject, command)).seqs;
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

  private async setQuota(
    wsid: string,
    command: Extract<LifecycleCommand, { type: "SetWorkspaceQuota" }>,
  ): Promise<number[]> {
    const subject = workspaceSubjects(wsid).hostLife;
    const change = (await this.store.check(subject, command))[0];
    if (change?.type === "WorkspaceQuotaChanged") {
      const state = await this.stateOf(wsid);
      const running = state.status === "running";
      const cpus = change.data.quota.cpus;
      // More cpus for a running workspace are more of its account's cores: asked first.
      if (running && cpus !== state.quota.cpus) await this.reserveCores(wsid, state.account, cpus);
      try {
        await this.storage.applyDiskQuota(wsid, change.data.quota);
        // A running container's cgroup follows at once.
        if (running) await this.containers.updateLimits(wsid, change.data.quota);
      } catch (err) {
        if (running && cpus !== state.quota.cpus)
          await this.reserveCores(wsid, state.account, state.quota.cpus, true);
        throw err;
      }
    }
    const r = await this.store.execute(subject, command);
    this.known.set(wsid, r.state);
    // After the record: a usage sample from now on writes the new limit too.
    if (change && r.state.status === "running") await this.storage.writeQuota(wsid, r.state.quota);
    return r.seqs;
  }

  // Actions

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
        this.o.log.error({ wsid, action, err: c }, "cleanup after failure failed"),
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

  /** The container is gone, the rootfs and the cores released. */
  private async release(wsid: string): Promise<void> {
    await this.containers.remove(wsid);
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
  }

  /** Brings the machine to the state a failed action leaves the workspace in. */
  private async cleanup(wsid: string, action: WorkspaceAction): Promise<void> {
    await this.release(wsid);
    if (action === "provision") await this.storage.remove(wsid);
  }

  private async mountRootfs(wsid: string, state: LifecycleState, holder: `container:${string}`) {
    const p = workspacePaths(this.o.root, wsid);
    await this.mounts.reference(rootfsMount(wsid), holder, {
      lower: imagePath(this.o.root, state.image),
      upper: p.upper,
      work: p.work,
      target: p.rootfs,
    });
  }

  private async start(wsid: string): Promise<string> {
    const state = await this.stateOf(wsid);
    await this.images.require(state.image);
    // Also moves a workspace made with a limit per subvolume to one limit for all three.
    await this.storage.applyDiskQuota(wsid, state.quota);
    await this.storage.prepareQuotaFolder(wsid);
    await this.storage.writeQuota(wsid, state.quota);
    await this.mountRootfs(wsid, state, containerHolder(wsid));
    await this.step(wsid, "start", "rootfs mounted", state.image);
    return this.containers.start(wsid, state, (s, d) => this.step(wsid, "start", s, d));
  }

  private async stop(wsid: string): Promise<undefined> {
    await this.containers.remove(wsid);
    await this.step(wsid, "stop", "container stopped");
    await this.mounts.release(rootfsMount(wsid), containerHolder(wsid));
    await this.step(wsid, "stop", "rootfs released");
    await this.releaseCores(wsid, (await this.stateOf(wsid)).account);
    return undefined;
  }

  private async remove(wsid: string): Promise<undefined> {
    await this.release(wsid);
    await this.storage.remove(wsid);
    await this.step(wsid, "delete", "storage removed");
    return undefined;
  }

  // Containers that end by themselves

  /**
   * Looks at a running workspace's container after a sign that it may have ended (a podman
   * event, its init or conmon gone, an exec that found no container): if it has, removes what
   * is left of it, releases the rootfs and the cores and records why. True when it had ended.
   */
  checkContainer(wsid: string): Promise<boolean> {
    return this.lock.run(wsid, async () => {
      const state = await this.stateOf(wsid);
      if (state.status !== "running") return false;
      const ended = await this.containers.whyEnded(wsid, state);
      if (!ended) return false;
      await this.recordEnded(wsid, ended);
      return true;
    });
  }

  private async recordEnded(wsid: string, ended: ContainerEnd): Promise<void> {
    this.o.log.warn({ wsid, ...ended }, "the workspace's container ended");
    await this.release(wsid);
    await this.exec(wsid, { type: "RecordContainerEnded", data: ended, ...this.meta() });
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
              if (!holders.includes(containerHolder(wsid)))
                await this.mountRootfs(wsid, state, containerHolder(wsid));
              // What runs holds its cores, whatever the quota says now.
              await this.reserveCores(wsid, state.account, state.quota.cpus, true);
              adopted.push(`${wsid} (container ${container.id.slice(0, 12)})`);
              return;
            }
            {
              // It ended while nobody watched: recorded like an end noticed at once.
              const ended = (await this.containers.whyEnded(wsid, state)) ?? {
                reason: "its container is not running",
              };
              await this.recordEnded(wsid, ended);
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
              await this.containers.remove(wsid);
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

  // Disk

  /** The workspace's snapshots, newest first, with their sizes. */
  async listSnapshots(wsid: string): Promise<SnapshotInfo[]> {
    const state = await this.stateOf(wsid);
    if (state.status === "none" || state.status === "deleted")
      throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", "no such workspace");
    return this.storage.listSnapshots(wsid, state.snapshots);
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
    const use = await this.storage.diskUse(wsid);
    // The people inside see the same sample (a running workspace's /etc/cocalc/quota).
    const state = this.known.get(wsid);
    if (state?.status === "running")
      await this.storage
        .writeQuota(wsid, state.quota, use)
        .catch((err) => this.o.log.warn({ wsid, err }, "quota file not written"));
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    return {
      usedMb: mb(use.usedBytes),
      homeMb: mb(use.homeBytes),
      scratchMb: mb(use.scratchBytes),
      rootMb: mb(use.rootBytes),
    };
  }
}
