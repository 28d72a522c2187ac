/**
 * The per-workspace services of a launchpad host: for every workspace the host has, a
 * supervisor runs the fs service (container paths mapped onto its subvolumes and rootfs), the
 * docs service (documents' files through the fs service), the terminals service (shells
 * through `podman exec` inside the container) and the agents service (agents and their
 * commands through `podman exec` inside, files through the fs service) and the kernels service
 * (Jupyter kernels through `podman exec` inside, reached over ipc sockets) and the apps service
 * (web apps inside, cli/launchpad/app-runner.ts). They follow the
 * `workspaces` view: started once a workspace is provisioned, stopped when it is deleted.
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { agentsService } from "../../services/agents/index.js";
import { appsService } from "../../services/apps/index.js";
import { docsService } from "../../services/docs/index.js";
import { fsService } from "../../services/fs/index.js";
import { hubTurnKeys } from "../../services/host/hub-keys.js";
import {
  hideHostPaths,
  type PodmanConfig,
  podmanGlobal,
  readMounts,
  UID_BASE,
  workspaceGate,
  workspacePaths,
} from "../../services/host/index.js";
import { kernelsService } from "../../services/kernels/index.js";
import type { Logger } from "../../services/runtime/logger.js";
import type { ServiceDefinition } from "../../services/runtime/service.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { stopPtyHost, terminalsService } from "../../services/terminals/index.js";
import { workspaceService } from "../../services/workspace/index.js";
import {
  containerName,
  hostedDurable,
  WORKSPACE_HOME,
  WORKSPACE_KERNELS_DIR,
  WORKSPACE_UID,
  type WorkspaceView,
  workspaceExecArgv,
  workspaceShellArgv,
} from "../../shared/launchpad.js";
import { Buckets } from "../../shared/subjects.js";
import { containerAppRunner, getInContainer } from "./app-runner.js";
import { servicesDoor } from "./services-door.js";

export interface WorkspaceServicesOptions {
  nc: NatsConnection;
  hostId: string;
  /** The host's btrfs root. */
  root: string;
  /** Where the pty hosts keep their sockets (one 0700 folder per workspace). */
  dataDir: string;
  podman: PodmanConfig;
  /** The pty host script. */
  ptyHostScript: string;
  /** The fs worker script (file operations as the workspace user). */
  fsWorkerScript: string;
  log: Logger;
  /** Terminals' shells end this long after their service is gone (default 60 s). */
  orphanExitMs?: number;
  /**
   * Answer requests to the services of workspaces this host does not have with
   * ERR_WORKSPACE_NOT_FOUND, instead of leaving them to NATS' "no responders": only a host on
   * its own knows that no other host has them.
   */
  answerUnknown?: boolean;
  /** Joined to a hub: agents get the API keys of the account that submits a turn from it. */
  keysFromHub?: boolean;
}

/** The services of one container workspace. */
export function containerWorkspaceServices(
  o: WorkspaceServicesOptions,
  wsid: string,
): ServiceDefinition[] {
  const p = workspacePaths(o.root, wsid);
  // The workspace user as the host sees it: the container's uid map shifts every id by UID_BASE.
  const user = UID_BASE + WORKSPACE_UID;
  // Shells, agents and the root file system wait while the workspace starts.
  const gate = workspaceGate(o.nc, wsid, o.log);
  // What the workspace's people see never says where things live on the host.
  const hidePaths = (message: string) =>
    hideHostPaths(message, { root: o.root, dataDir: o.dataDir });
  return [
    // Its settings (colour, agents' defaults); its title is the hub's.
    workspaceService({ defaultTitle: wsid, durable: hostedDurable("workspace", wsid) }),
    fsService({
      hidePaths,
      sandbox: p.dir,
      runAs: { uid: user, gid: user, script: o.fsWorkerScript },
      uploadJournal: uploadsDir(o.dataDir, wsid),
      container: {
        home: WORKSPACE_HOME,
        mounts: [
          { at: "/", dir: p.rootfs, whileRunning: true },
          { at: WORKSPACE_HOME, dir: p.home },
          { at: `${WORKSPACE_HOME}/.snapshots`, dir: p.snapshots },
          { at: "/scratch", dir: p.scratch },
        ],
        running: async () => {
          try {
            await gate.whenRunning();
          } catch {
            return false;
          }
          return (await readMounts()).some((m) => m.target === p.rootfs);
        },
      },
    }),
    // Reads, writes and watches of documents' files go through the fs service above, so they
    // act as the workspace user on the container's paths, never as root on the host's.
    docsService({
      hidePaths,
      durable: `docs-${wsid}`,
      container: { home: WORKSPACE_HOME },
    }),
    terminalsService({
      hidePaths,
      dir: ptyDir(o.dataDir, wsid),
      hostScript: o.ptyHostScript,
      orphanExitMs: o.orphanExitMs ?? 60_000,
      home: WORKSPACE_HOME,
      durable: hostedDurable("terminals", wsid),
      gate,
      shellCommand: ({ cwd, env }) => ({
        file: o.podman.podman,
        args: [
          ...podmanGlobal(o.podman),
          ...workspaceShellArgv(containerName(o.hostId, wsid), { cwd, env }),
        ],
        // podman exec drops what is typed before it has connected the terminal.
        holdInput: true,
      }),
    }),
    agentsService({
      hidePaths,
      dataDir: agentsDir(o.dataDir, wsid),
      durable: hostedDurable("agents", wsid),
      ...(o.keysFromHub && { turnKeys: hubTurnKeys(o.nc, o.hostId, wsid) }),
      container: {
        home: WORKSPACE_HOME,
        exec: (argv, { cwd, env }) => [
          o.podman.podman,
          ...podmanGlobal(o.podman),
          ...workspaceExecArgv(containerName(o.hostId, wsid), argv, { cwd, passEnv: env }),
        ],
        get: (url) => getInContainer(() => containerInit(p.pidfile), url),
      },
    }),
    kernelsService({
      dir: kernelsDir(o.dataDir, wsid),
      durable: hostedDurable("kernels", wsid),
      container: {
        home: WORKSPACE_HOME,
        exec: (argv, { cwd, env }) => [
          o.podman.podman,
          ...podmanGlobal(o.podman),
          ...workspaceExecArgv(containerName(o.hostId, wsid), argv, { cwd, env }),
        ],
        shared: { host: p.kernelsShared, inside: WORKSPACE_KERNELS_DIR, uid: user, gid: user },
        sockets: p.kernelSockets,
        initPid: () => containerInit(p.pidfile),
        whenRunning: () => gate.whenRunning(),
      },
    }),
    // Web apps inside the container, each opened at an origin of its own on the hub.
    appsService({
      durable: hostedDurable("apps", wsid),
      stoppedBy: "the workspace's services stopped",
      runner: containerAppRunner({
        podman: [o.podman.podman, ...podmanGlobal(o.podman)],
        container: containerName(o.hostId, wsid),
        initPid: () => containerInit(p.pidfile),
      }),
    }),
  ];
}

/** The host pid of a running container's init (podman's pid file), or undefined. */
async function containerInit(pidfile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidfile, "utf8").catch(() => "")).trim());
  if (!(pid > 0)) return undefined;
  // A zombie init (killed, not yet reaped by conmon) is a container that has ended.
  const procStat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const state = procStat.slice(procStat.lastIndexOf(")") + 2, procStat.lastIndexOf(")") + 3);
  return state && state !== "Z" && state !== "X" ? pid : undefined;
}

/** The kernels' connection files (the service's copies), process records and logs. */
function kernelsDir(dataDir: string, wsid: string): string {
  return join(dataDir, "kernels", wsid);
}

/** Uploads over NATS in progress (markers naming their temp files; only root reads them). */
function uploadsDir(dataDir: string, wsid: string): string {
  return join(dataDir, "uploads", wsid);
}

function ptyDir(dataDir: string, wsid: string): string {
  return join(dataDir, "terminals", wsid);
}

/** The agent API keys of a workspace (0600 inside). */
function agentsDir(dataDir: string, wsid: string): string {
  return join(dataDir, "agents", wsid);
}

export interface WorkspaceServices {
  /** Workspaces whose services have started and run now. */
  running(): string[];
  /** `keepShells`: leave the terminals' pty hosts running (workspaces that outlive the host). */
  stop(o?: { keepShells?: boolean }): Promise<void>;
}

/** Runs the services of every workspace of this host, following the `workspaces` view. */
export async function startWorkspaceServices(
  o: WorkspaceServicesOptions,
): Promise<WorkspaceServices> {
  const kv = await new Kvm(o.nc).open(Buckets.workspaces);
  const supervisors = new Map<string, Supervisor>();
  /** Workspaces whose services have started (they answer). */
  const started = new Set<string>();
  let chain = Promise.resolve();
  const serially = (fn: () => Promise<void>) => {
    chain = chain.then(fn).catch((err) => o.log.error({ err }, "workspace services"));
  };
  const add = async (wsid: string) => {
    if (supervisors.has(wsid)) return;
    await mkdir(ptyDir(o.dataDir, wsid), { recursive: true, mode: 0o700 });
    await mkdir(agentsDir(o.dataDir, wsid), { recursive: true, mode: 0o700 });
    await mkdir(kernelsDir(o.dataDir, wsid), { recursive: true, mode: 0o700 });
    const s = new Supervisor({ nc: o.nc, wsid, log: o.log.child({ wsid }) });
    supervisors.set(wsid, s);
    await s.start(containerWorkspaceServices(o, wsid));
    started.add(wsid);
    door.open(wsid);
    o.log.info({ wsid }, "workspace services started");
  };
  const remove = async (wsid: string, keepShells = false) => {
    const s = supervisors.get(wsid);
    if (!s) return;
    supervisors.delete(wsid);
    started.delete(wsid);
    await s.stop();
    if (keepShells) return;
    await stopPtyHost(ptyDir(o.dataDir, wsid)).catch(() => undefined);
    await rm(ptyDir(o.dataDir, wsid), { recursive: true, force: true });
    await rm(uploadsDir(o.dataDir, wsid), { recursive: true, force: true });
    // Its kernels ended with its container (a workspace left running keeps this for the next host).
    await rm(kernelsDir(o.dataDir, wsid), { recursive: true, force: true });
    o.log.info({ wsid }, "workspace services stopped");
  };
  // Requests that come before a workspace's services are up wait for them.
  const door = servicesDoor({
    nc: o.nc,
    jsm: await jetstreamManager(o.nc),
    hostId: o.hostId,
    log: o.log,
    answerUnknown: o.answerUnknown ?? false,
    up: (wsid) => started.has(wsid),
  });
  const watch = await kv.watch();
  const loop = (async () => {
    for await (const e of watch) {
      const wsid = e.key;
      if (e.operation !== "PUT" || e.length === 0) {
        door.gone(wsid);
        serially(() => remove(wsid));
        continue;
      }
      const v = e.json<WorkspaceView>();
      if (v.hostId !== o.hostId) continue;
      const gone = v.status === "deleted" || v.status === "deleting" || v.status === "none";
      if (gone) door.gone(wsid);
      else door.expect(wsid);
      // Services start once the workspace's home and /scratch exist.
      if (gone) serially(() => remove(wsid));
      else if (v.status !== "provisioning") serially(() => add(wsid));
    }
  })();
  return {
    running: () => [...started],
    async stop(opts = {}) {
      door.stop();
      watch.stop();
      await loop;
      await chain;
      for (const wsid of [...supervisors.keys()]) await remove(wsid, opts.keepShells);
    },
  };
}
