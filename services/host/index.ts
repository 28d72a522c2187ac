/**
 * The host service of a launchpad host: runs many workspaces, each in a podman container with
 * its home and /scratch on btrfs subvolumes and `/` an overlay of a rootfs image. Serves the
 * workspaces' `host` commands, projects the `workspaces`, `mounts` and `images` views, writes
 * the `hosts` view, takes scheduled snapshots, and reconciles the machine on start.
 */
import { readdir } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import { join } from "node:path";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { type Command, parseCommand } from "../../shared/commands.js";
import { envelope } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  AccountCommands,
  autoSnapshotName,
  autoSnapshotTime,
  DEFAULT_RETENTION,
  ExecInWorkspace,
  HostCommands,
  type HostView,
  ListSnapshots,
  type RetentionRule,
  snapshotsToPrune,
  WorkspaceHostCommands,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import { OpenExec, OpenPipe } from "../../shared/launchpad-exec.js";
import {
  AllAccounts,
  AllHosts,
  AllWorkspaces,
  accountOfSubject,
  Buckets,
  hostSubjects,
  Keys,
  ServiceNames,
  Streams,
  workspaceSubjects,
  wsidOfSubject,
} from "../../shared/subjects.js";
import { consumeEvents } from "../runtime/consumer.js";
import { writeLive } from "../runtime/live.js";
import { sendProgress, wantsProgress } from "../runtime/progress.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import type { RunningService, ServiceDefinition } from "../runtime/service.js";
import { accountRegistry, accountsProjection } from "./accounts.js";
import { type LifecycleCommand, workspaceHostRegistry } from "./decider.js";
import { ExecSessions } from "./exec.js";
import { hostRegistry } from "./images.js";
import { imagePath, workspacePaths } from "./layout.js";
import { remoteLedger } from "./ledger.js";
import { mountRegistry } from "./mounts.js";
import { PipeExecs } from "./pipe-exec.js";
import { imagesProjection, mountsProjection, workspacesProjection } from "./projections.js";
import { btrfs, detectPodman, type PodmanConfig, requireTraversable } from "./system.js";
import { mirrorWorkspaceViews } from "./view-mirror.js";
import { ContainerWatch } from "./watch.js";
import { HostWorkspaces } from "./workspaces.js";

export { accountDecider } from "./accounts.js";
export { lifecycleDecider } from "./decider.js";
export { FLEET, type Fleet, type FleetOptions, startFleet } from "./fleet.js";
export { workspaceGate } from "./gate.js";
export { hideHostPaths } from "./host-paths.js";
export { imagePath, UID_BASE, workspacePaths } from "./layout.js";
export { type CoresLedger, remoteLedger } from "./ledger.js";
export { mountDecider } from "./mounts.js";
export { pickHost, placementDecider } from "./placement.js";
export { detectPodman, type PodmanConfig, podmanGlobal, readMounts } from "./system.js";
export { HostWorkspaces } from "./workspaces.js";

export const HOST_SERVICE = ServiceNames.host;

export interface HostServiceOptions {
  hostId: string;
  /** A mounted btrfs file system. */
  root: string;
  /** The host's data dir (never shown in error messages, like `root`). */
  dataDir?: string;
  /** Detected when not given. */
  podman?: PodmanConfig;
  /**
   * The network of workspaces (those created with network none have only loopback):
   * `default` (podman's default bridge, outbound access), `none`, or a podman network name.
   */
  network?: string;
  heartbeatMs?: number;
  usageEveryMs?: number;
  /** 0 disables scheduled snapshots (default: hourly). */
  snapshotEveryMs?: number;
  retention?: readonly RetentionRule[];
  /** How often to look for due snapshots (default: a minute, or `snapshotEveryMs` if less). */
  snapshotCheckMs?: number;
  /**
   * The host joined a control plane: it answers only its own subjects
   * (`hostcmd.<hostId>.ws.*`, to which the control plane routes the commands of the workspaces
   * placed here) and reserves cores in the control plane's account ledger.
   */
  controlPlane?: boolean;
  /** Cores and memory the host gives its running workspaces together (default: the machine's). */
  capacity?: { cpus?: number; memoryMb?: number };
  /** How often running containers' init and conmon are looked for (default 2 s). */
  containerCheckMs?: number;
  /** An exec session whose client is not heard for this long ends (default EXEC_IDLE_MS). */
  execIdleMs?: number;
  /** Called with what reconciliation fixed (tests, the CLI). */
  onReconciled?(r: Awaited<ReturnType<HostWorkspaces["reconcile"]>>): void;
}

const commandDefs = [...WorkspaceHostCommands, ExecInWorkspace, OpenExec, OpenPipe, ListSnapshots];

export function hostService(opts: HostServiceOptions): ServiceDefinition {
  return {
    name: HOST_SERVICE,
    durables: [HOST_SERVICE],
    async start(ctx): Promise<RunningService> {
      const log = ctx.log.child({ host: opts.hostId });
      if (!(await btrfs.isBtrfs(opts.root)))
        throw new CocalcError("ERR_HOST_UNSUPPORTED", `${opts.root} is not a btrfs file system`);
      await requireTraversable(opts.root);
      await btrfs.enableQuota(opts.root);
      const podmanConfig = opts.podman ?? (await detectPodman(opts.network ?? "default"));
      const workspaces = new HostWorkspaces({
        js: ctx.js,
        jsm: ctx.jsm,
        log,
        hostId: opts.hostId,
        root: opts.root,
        ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
        podman: podmanConfig,
        now: ctx.now,
        ...(opts.controlPlane && { ledger: remoteLedger(ctx.nc, opts.hostId, log) }),
      });
      const hostsKv = await ctx.kvm.open(Buckets.hosts);
      const workspacesKv = await ctx.kvm.open(Buckets.workspaces);
      let lastError: string | undefined;
      let status: HostView["status"] = "starting";
      const capacity = {
        cpus: opts.capacity?.cpus ?? availableParallelism(),
        memoryMb: opts.capacity?.memoryMb ?? Math.floor(totalmem() / 2 ** 20),
      };

      const beat = async () => {
        const known = [...workspaces.known.values()].filter(
          (s) => s.hostId === opts.hostId && s.status !== "deleted" && s.status !== "none",
        );
        const running = known.filter((s) => s.status === "running");
        const coresByAccount: Record<string, number> = {};
        const committed = { cpus: 0, memoryMb: 0 };
        for (const s of running) {
          const a = s.account ?? "";
          coresByAccount[a] = (coresByAccount[a] ?? 0) + s.quota.cpus;
          committed.cpus += s.quota.cpus;
          committed.memoryMb += s.quota.memoryMb;
        }
        // The image subvolumes themselves: `.import-…` is one being imported.
        const images = (await readdir(join(opts.root, "images")).catch(() => [] as string[]))
          .filter((n) => !n.startsWith("."))
          .sort();
        const view: HostView = {
          hostId: opts.hostId,
          status,
          root: opts.root,
          runtime: podmanConfig.runtime || "default",
          cgroup: podmanConfig.cgroup,
          running: running.length,
          workspaces: known.length,
          disk: await btrfs.fsUsage(opts.root).catch(() => ({ totalMb: 0, usedMb: 0 })),
          images,
          capacity,
          committed,
          coresByAccount,
          ...(lastError !== undefined && { lastError }),
          beatAt: ctx.now().toISOString(),
        };
        await hostsKv.put(Keys.host(opts.hostId), JSON.stringify(view)).catch(() => undefined);
        // For a control plane, if there is one (nobody listens on a host on its own); a beat
        // that ends after the connection closed (the host stopping) is dropped.
        if (!ctx.nc.isClosed())
          ctx.nc.publish(hostSubjects(opts.hostId).beat, JSON.stringify(view));
        if (!retrying) {
          retrying = true;
          void workspaces.ledger.retry().finally(() => {
            retrying = false;
          });
        }
      };
      let retrying = false;

      const sampleUsage = async () => {
        for (const [wsid, s] of workspaces.known) {
          if (s.hostId !== opts.hostId || s.status === "deleted" || s.status === "none") continue;
          try {
            const usage = await workspaces.usage(wsid);
            await writeLive<WorkspaceView>(workspacesKv, Keys.workspace(wsid), (v) => ({
              ...v,
              usage: { ...usage, sampledAt: ctx.now().toISOString() },
            }));
          } catch (err) {
            // The workspace went away meanwhile: the next sample will do.
            log.debug({ wsid, err }, "usage not sampled");
          }
        }
      };

      const everyMs = opts.snapshotEveryMs ?? 3_600_000;
      let snapshotting = false;
      /**
       * Takes the scheduled snapshots that are due (none taken in the last `everyMs` by the
       * host's clock) and prunes by retention. Runs often; does something only when due.
       */
      const snapshotDue = async () => {
        if (snapshotting) return;
        snapshotting = true;
        try {
          const at = ctx.now();
          for (const [wsid, known] of workspaces.known) {
            if (known.hostId !== opts.hostId) continue;
            const meta = { actor: `host:${opts.hostId}`, at: at.toISOString() };
            try {
              const s = await workspaces.stateOf(wsid);
              if (s.status !== "running" && s.status !== "stopped") continue;
              const taken = s.snapshots.flatMap((name) => {
                const t = autoSnapshotTime(name);
                return t ? [{ name, at: t.toISOString() }] : [];
              });
              const last = Math.max(0, ...taken.map((x) => Date.parse(x.at)));
              if (at.getTime() - last < everyMs) continue;
              const name = autoSnapshotName(at);
              await workspaces.handle(wsid, { type: "CreateSnapshot", data: { name }, ...meta });
              taken.push({ name, at: at.toISOString() });
              for (const old of snapshotsToPrune(taken, at, opts.retention ?? DEFAULT_RETENTION))
                await workspaces.handle(wsid, {
                  type: "DeleteSnapshot",
                  data: { name: old },
                  ...meta,
                });
            } catch (err) {
              log.warn({ wsid, err }, "scheduled snapshot failed");
            }
          }
        } finally {
          snapshotting = false;
        }
      };

      // Views first, so everything the reconciler records is projected.
      const consumers = await Promise.all([
        consumeEvents({
          nc: ctx.nc,
          js: ctx.js,
          jsm: ctx.jsm,
          stream: Streams.WORKSPACES,
          durable: HOST_SERVICE,
          filterSubject: AllWorkspaces.hostLife,
          registry: workspaceHostRegistry,
          log,
          handle: await projectionHandler(ctx.kvm, [workspacesProjection]),
        }),
        consumeEvents({
          nc: ctx.nc,
          js: ctx.js,
          jsm: ctx.jsm,
          stream: Streams.MOUNTS,
          durable: HOST_SERVICE,
          filterSubject: AllHosts.mounts,
          registry: mountRegistry,
          log,
          handle: await projectionHandler(ctx.kvm, [mountsProjection]),
        }),
        consumeEvents({
          nc: ctx.nc,
          js: ctx.js,
          jsm: ctx.jsm,
          stream: Streams.HOSTS,
          durable: HOST_SERVICE,
          filterSubject: AllHosts.images,
          registry: hostRegistry,
          log,
          handle: await projectionHandler(ctx.kvm, [imagesProjection]),
        }),
        consumeEvents({
          nc: ctx.nc,
          js: ctx.js,
          jsm: ctx.jsm,
          stream: Streams.ACCOUNTS,
          durable: HOST_SERVICE,
          filterSubject: AllAccounts.cores,
          registry: accountRegistry,
          log,
          handle: await projectionHandler(ctx.kvm, [accountsProjection]),
        }),
      ]);
      await beat();
      const started = envelope(
        { type: "HostStarted", v: 1 },
        {
          root: opts.root,
          runtime: podmanConfig.runtime || "default",
          cgroup: podmanConfig.cgroup,
          ulimits: podmanConfig.ulimits,
        },
        { actor: `host:${opts.hostId}`, at: ctx.now() },
      );
      await publishEvent(ctx.js, hostSubjects(opts.hostId).life, started);

      const reconciled = await workspaces.reconcile();
      if (reconciled.fixed.length > 0) log.info({ fixed: reconciled.fixed }, "reconciled");
      if (reconciled.adopted.length > 0)
        log.info({ adopted: reconciled.adopted }, "adopted running workspaces");
      opts.onReconciled?.(reconciled);
      // Containers that end by themselves are noticed within seconds.
      const watch = new ContainerWatch({
        podman: podmanConfig,
        hostId: opts.hostId,
        log,
        running: () =>
          [...workspaces.known]
            .filter(([, s]) => s.status === "running" && s.hostId === opts.hostId)
            .map(([wsid]) => wsid),
        check: (wsid) => workspaces.checkContainer(wsid),
        ...(opts.containerCheckMs !== undefined && { checkMs: opts.containerCheckMs }),
      });
      watch.start();
      status = "ready";
      await beat();

      const inflight = new Set<Promise<void>>();
      const reply = (m: Msg, r: unknown) => {
        if (m.reply) m.respond(JSON.stringify(r));
      };
      const serve = (sub: Subscription, handle: (m: Msg) => Promise<unknown>) =>
        (async () => {
          for await (const m of sub) {
            const p = handle(m).then(
              (r) => reply(m, { ok: true, seqs: [], ...(r as object) }),
              (err: unknown) => {
                const error = toErrorPayload(err);
                if (error.code === "ERR_INTERNAL") log.error({ err }, "command failed");
                else log.info({ code: error.code, reason: error.message }, "command refused");
                // The operator's log keeps the paths; the answer shows the workspace's.
                error.message = workspaces.hidePaths(error.message);
                reply(m, { ok: false, error });
              },
            );
            const tracked = p.finally(() => inflight.delete(tracked));
            inflight.add(tracked);
          }
        })();

      const execs = new ExecSessions({
        nc: ctx.nc,
        hostId: opts.hostId,
        log,
        ...(opts.execIdleMs !== undefined && { idleMs: opts.execIdleMs }),
      });
      const pipes = new PipeExecs({ nc: ctx.nc, hostId: opts.hostId, log });
      const own = hostSubjects(opts.hostId);
      // On its own a host answers every workspace's commands; joined to a control plane, only
      // those routed to it (the control plane answers `ws.*.cmd.host` and accounts there).
      const subs = opts.controlPlane
        ? [ctx.nc.subscribe(own.workspaceCommands, { queue: HOST_SERVICE })]
        : [
            ctx.nc.subscribe(AllWorkspaces.command(HOST_SERVICE), { queue: HOST_SERVICE }),
            ctx.nc.subscribe(own.workspaceCommands, { queue: HOST_SERVICE }),
          ];
      const hostSub = ctx.nc.subscribe(hostSubjects(opts.hostId).command, {
        queue: HOST_SERVICE,
      });
      // Joined, the control plane keeps the accounts: this host's own clients are told so.
      const accountSubs = [ctx.nc.subscribe(AllAccounts.commands, { queue: HOST_SERVICE })];
      /**
       * Runs a workspace's command; a requester that asked for progress gets each lifecycle
       * event the command records (steps: subvolumes, rootfs, container, …) as a line on its
       * own inbox before the answer, the only place they go (a control plane relays them to
       * its client: it keeps no copy of the host's events).
       */
      const withProgress = async <T>(m: Msg, wsid: string, run: () => Promise<T>) => {
        if (!wantsProgress(m)) return run();
        const life = ctx.nc.subscribe(workspaceSubjects(wsid).hostLife, {
          callback: (_err, ev) => {
            try {
              sendProgress(m, { line: lifecycleLine(ev.json()) });
            } catch {}
          },
        });
        await ctx.nc.flush();
        try {
          return await run();
        } finally {
          // Every event the command published has reached this connection (and so the
          // requester) before the answer goes.
          await ctx.nc.flush().catch(() => undefined);
          life.unsubscribe();
        }
      };
      const onWorkspace = async (m: Msg) => {
        const wsid = wsidOfSubject(m.subject) ?? wsidOfHostCommand(m.subject);
        if (!wsid) throw new CocalcError("ERR_COMMAND_INVALID", "no workspace in the subject");
        return withProgress(m, wsid, () => runWorkspaceCommand(m, wsid));
      };
      const runWorkspaceCommand = async (m: Msg, wsid: string) => {
        const at = ctx.now().toISOString();
        const command = parseCommand<Command>(commandDefs, m.data, { actor: "user", at });
        if (command.type === ExecInWorkspace.type) {
          return { result: await workspaces.execs.run(wsid, command.data as never) };
        }
        if (command.type === ListSnapshots.type) {
          return { result: await workspaces.listSnapshots(wsid) };
        }
        if (command.type === OpenExec.type) {
          return { result: await workspaces.execs.open(execs, wsid, command.data as never) };
        }
        if (command.type === OpenPipe.type) {
          return { result: await workspaces.execs.openPipe(pipes, wsid, command.data as never) };
        }
        if (command.type === "CreateWorkspaceOnHost") {
          const { hostId, ...data } = command.data as { hostId?: string };
          if (hostId !== undefined && hostId !== opts.hostId)
            throw new CocalcError(
              "ERR_WORKSPACE_INVALID",
              `this is host ${opts.hostId}, not ${hostId}`,
            );
          const c = { ...command, data, hostId: opts.hostId } as LifecycleCommand;
          return { seqs: await workspaces.handle(wsid, c) };
        }
        return { seqs: await workspaces.handle(wsid, command as LifecycleCommand) };
      };
      const loops = Promise.all([
        ...subs.map((sub) => serve(sub, onWorkspace)),
        ...accountSubs.map((accountSub) =>
          serve(accountSub, async (m) => {
            const account = accountOfSubject(m.subject);
            if (!account) throw new CocalcError("ERR_ACCOUNT_INVALID", "no account in the subject");
            if (opts.controlPlane) throw accountsOnControlPlane(opts.hostId);
            const at = ctx.now().toISOString();
            const command = parseCommand<Command>(AccountCommands, m.data, { actor: "user", at });
            const { cores } = command.data as { cores: number | null };
            return { seqs: await workspaces.setAccountCores(account, cores, command.actor) };
          }),
        ),
        serve(hostSub, async (m) => {
          const at = ctx.now().toISOString();
          const command = parseCommand<Command>(HostCommands, m.data, { actor: "user", at });
          // An import's steps and copy go to a requester that asked for progress, only.
          const seqs =
            command.type === "ImportImage"
              ? await (() => {
                  const d = command.data as { name: string; source: string; description?: string };
                  return workspaces.images.import(d.name, d.source, d.description ?? "", (line) =>
                    sendProgress(m, { line }),
                  );
                })()
              : await workspaces.images.remove((command.data as { name: string }).name);
          // Placement reads what images a host has from its beat: the next one says so now,
          // before the answer (both go the same way, in order).
          await beat();
          return { seqs };
        }),
      ]).then(() => undefined);

      const timers = [
        setInterval(() => void beat(), opts.heartbeatMs ?? 5000),
        setInterval(() => void sampleUsage(), opts.usageEveryMs ?? 30_000),
        ...(everyMs > 0
          ? [
              setInterval(
                () => void snapshotDue(),
                opts.snapshotCheckMs ?? Math.min(everyMs, 60_000),
              ),
            ]
          : []),
      ];
      for (const t of timers) t.unref();
      void sampleUsage();
      // Joined: the hub keeps a copy of the workspaces' views for the dashboards.
      const mirror = opts.controlPlane
        ? await mirrorWorkspaceViews({ nc: ctx.nc, kvm: ctx.kvm, hostId: opts.hostId, log })
        : undefined;

      const done = Promise.race([
        loops,
        ...consumers.map((c) => c.done),
        ...(mirror ? [mirror.done] : []),
      ]);
      return {
        done,
        async stop() {
          for (const t of timers) clearInterval(t);
          await mirror?.stop();
          await watch.stop();
          for (const sub of [...subs, hostSub, ...accountSubs]) await sub.drain();
          await Promise.allSettled([...inflight]);
          await loops;
          await execs.stop();
          await pipes.stop();
          for (const c of consumers) await c.stop();
          status = "stopped";
          await beat();
          const stopped = envelope(
            { type: "HostStopped", v: 1 },
            {},
            { actor: `host:${opts.hostId}`, at: ctx.now() },
          );
          await publishEvent(ctx.js, hostSubjects(opts.hostId).life, stopped).catch(
            () => undefined,
          );
        },
      };
    },
  };
}

/** The workspace id in `hostcmd.<hostId>.ws.<wsid>`, or undefined. */
function wsidOfHostCommand(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 4 && parts[0] === "hostcmd" && parts[2] === "ws" ? parts[3] : undefined;
}

/** Paths of a workspace under a host root (for tools and tests). */
export function hostPaths(root: string) {
  return {
    workspace: (wsid: string) => workspacePaths(root, wsid),
    image: (n: string) => imagePath(root, n),
  };
}

/** A lifecycle event as a line of progress: `WorkspaceStepDone: rootfs (mounted)`. */
function lifecycleLine(ev: { type: string; data?: { step?: string; detail?: string } }): string {
  const step = ev.data?.step;
  return `${ev.type}${step ? `: ${step}${ev.data?.detail ? ` (${ev.data.detail})` : ""}` : ""}`;
}

/** What a joined host answers for account commands: the control plane keeps the ledger. */
export function accountsOnControlPlane(hostId: string): CocalcError {
  return new CocalcError(
    "ERR_ACCOUNT_ON_CONTROL_PLANE",
    `host ${hostId} is joined to a control plane, which keeps the accounts' quotas and cores of all its hosts: run \`cocalc-launchpad account …\` there (--data-dir of the control plane)`,
  );
}
