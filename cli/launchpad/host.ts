/**
 * `cocalc-launchpad host`: the btrfs (given, or a loop-mounted image file), nats-server (own
 * or given), streams, and the host service under a supervisor. stop() undoes it in reverse.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { fromSeed } from "@nats-io/nkeys";
import {
  type AccountCommand,
  type AccountDecided,
  type AccountState,
  accountDecider,
  accountRegistry,
} from "../../services/host/accounts.js";
import { detectPodman, hostService } from "../../services/host/index.js";
import { AggregateStore } from "../../services/runtime/aggregate.js";
import { connectServices } from "../../services/runtime/connect.js";
import type { Logger } from "../../services/runtime/logger.js";
import {
  locateNatsServer,
  NatsServer,
  natsServerVersion,
  supportsSyncAlways,
} from "../../services/runtime/nats-server.js";
import { freePort } from "../../services/runtime/ports.js";
import { StoreWatch, storeWatchOptionsFromEnv } from "../../services/runtime/store-watch.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { browserPermissions } from "../../shared/browser-permissions.js";
import { requestReply } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import { storeStateFor } from "../../shared/health.js";
import { AccountEvents, type LeafCredentials } from "../../shared/launchpad.js";
import {
  AllAccounts,
  AllWorkspaces,
  accountOfSubject,
  hostSubjects,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { ensureStreams } from "../../streams/ensure.js";
import { cleanupStack } from "../common/cleanups.js";
import { writeFileAtomic } from "../common/files.js";
import { acquireLock } from "../common/lock.js";
import { loadSecrets } from "../common/secrets.js";
import { PACKAGE_ROOT } from "../common/version.js";
import type { HostOptions } from "./args.js";
import { joinedBefore, joinHub, writeLeafCredentials } from "./join.js";
import { startWorkspaceServices } from "./workspaces.js";

const execFileP = promisify(execFile);

/** Where the workspace commands find a running host: 0600, removed on stop. */
export interface LaunchpadRunInfo {
  pid: number;
  natsUrl: string;
  hostId: string;
  /** The file with the services seed. */
  seedFile: string;
  /** Joined to a control plane: its own workspaces' commands go to `hostcmd.<hostId>.ws.<wsid>`. */
  joined?: boolean;
}

export function launchpadRunFile(dataDir: string): string {
  return join(dataDir, "run.json");
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await execFileP(cmd, args, { timeout: 120_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CocalcError(
      "ERR_HOST_BTRFS",
      `${cmd} ${args.join(" ")}: ${(e.stderr || e.message).trim()}`,
    );
  }
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await readFile("/proc/self/mounts", "utf8");
  return mounts.split("\n").some((l) => l.split(" ")[1] === dir);
}

export interface LaunchpadHost {
  hostId: string;
  root: string;
  natsUrl: string;
  nc: NatsConnection;
  stop(): Promise<void>;
}

export async function startLaunchpadHost(
  opts: HostOptions,
  log: Logger,
  progress: (line: string) => void,
): Promise<LaunchpadHost> {
  const cleanups = cleanupStack(log);
  const undo = cleanups.undo;
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o711 });
    cleanups.push(await acquireLock(opts.dataDir, "cocalc-launchpad host"));
    // A host that joins a hub is the host its token names; one that joined before comes back
    // joined, with or without --join.
    const leaf = opts.join
      ? ((await joinedBefore(opts.dataDir)) ??
        (await joinHub(
          opts.join,
          opts.dataDir,
          progress,
          await ownCoresQuotas(opts, log),
          opts.joinLeafUrl,
        )))
      : await joinedBefore(opts.dataDir);
    if (leaf && !opts.join) {
      if (opts.nats)
        throw new CocalcError(
          "ERR_HOST_JOINED",
          `host ${leaf.hostId} joined a hub (${opts.dataDir}/leaf.json): it runs its own nats-server as a leaf node, not --nats`,
        );
      progress(`host ${leaf.hostId} joined the hub before: joining it again`);
    }
    if (leaf) opts = { ...opts, hostId: leaf.hostId };

    let root = opts.btrfs;
    if (opts.btrfsImage) {
      const image = opts.btrfsImage;
      const exists = await stat(image).then(
        () => true,
        () => false,
      );
      if (!exists) {
        progress(`creating ${image} (${Math.round(opts.sizeBytes / 2 ** 30)} GiB btrfs)`);
        await sh("truncate", ["-s", String(opts.sizeBytes), image]);
        await sh("mkfs.btrfs", ["-q", image]);
      }
      // Containers run as mapped uids and must pass through the data dir to reach their
      // rootfs: o+x only (no listing); the secrets in it are 0600 files.
      await chmod(opts.dataDir, 0o711);
      root = join(opts.dataDir, "btrfs");
      await mkdir(root, { recursive: true, mode: 0o711 });
      if (!(await isMountPoint(root))) {
        await sh("mount", ["-o", "loop", image, root]);
        progress(`mounted ${image} on ${root}`);
      } else {
        // Left mounted by a host that was killed (-9): it is ours all the same.
        progress(`${image} is still mounted on ${root} (the host was not stopped): using it`);
      }
      // The loop device goes with the mount (autoclear), so unmounting releases both.
      cleanups.push(async () => {
        // Kept workspaces still use it; the restarted host finds it mounted.
        if (!opts.keepWorkspaces) await sh("umount", [root!]);
      });
    }
    if (!root) throw new Error("no btrfs root");

    let natsUrl: string;
    let seed: string;
    let seedFile: string;
    let ownNats: NatsServer | undefined;
    if (opts.nats) {
      natsUrl = opts.nats;
      seedFile = opts.natsSeedFile!;
      seed = (await readFile(seedFile, "utf8")).trim();
    } else {
      const own = await hostNatsServer(opts, log, leaf);
      const nats = own.nats;
      ownNats = nats;
      seed = own.seed;
      seedFile = own.seedFile;
      await nats.start();
      cleanups.push(() => nats.stop());
      natsUrl = nats.url;
      progress(
        `nats-server on ${natsUrl}${leaf ? `, a leaf node of the hub at ${leaf.leafUrl}` : ""}`,
      );
    }
    // A joined host hears the control plane's answers only on its own inbox prefix.
    const nc = await connectServices(
      { url: natsUrl, seed },
      `cocalc-launchpad host ${opts.hostId}`,
      leaf ? hostSubjects(opts.hostId).inbox : undefined,
    );
    cleanups.push(async () => {
      await nc.drain().catch(() => nc.close());
    });
    await ensureStreams(await jetstreamManager(nc));
    // A full disk under the host's store: noticed, commands refused with ERR_DISK_FULL, and
    // nats-server restarted once there is room again (services/runtime/store-watch.ts).
    // The workspaces whose pages hear of a full disk (their services run here).
    let hosted: () => readonly string[] = () => [];
    if (ownNats) {
      const storeNc = await connectServices(
        { url: natsUrl, seed },
        `cocalc-launchpad host ${opts.hostId} store watch`,
        leaf ? hostSubjects(opts.hostId).inbox : undefined,
      );
      cleanups.push(async () => {
        await storeNc.drain().catch(() => storeNc.close());
      });
      const store = new StoreWatch({
        dir: ownNats.config.dir,
        server: ownNats,
        nc: storeNc,
        connections: [nc],
        log: log.child({ component: "store" }),
        ...storeWatchOptionsFromEnv(),
        // Its workspaces' pages say so too (a hosted page's banner), in their own words.
        publishTo: () => hosted().map((wsid) => workspaceSubjects(wsid).storeFeed),
        answerOn: AllWorkspaces.storeRead,
        shown: (s) => storeStateFor(s, `the disk of host ${opts.hostId}`),
      });
      store.start();
      cleanups.push(() => store.stop());
    }

    const supervisor = new Supervisor({ nc, wsid: opts.hostId, log });
    let failed: string | undefined;
    const podman = await detectPodman(opts.network);
    await supervisor.start([
      hostService({
        hostId: opts.hostId,
        root,
        dataDir: opts.dataDir,
        podman,
        snapshotEveryMs: opts.snapshotEveryMs,
        controlPlane: leaf !== undefined,
        capacity: {
          ...(opts.cpus !== undefined && { cpus: opts.cpus }),
          ...(opts.memoryMb !== undefined && { memoryMb: opts.memoryMb }),
        },
        ...(opts.heartbeatMs !== undefined && { heartbeatMs: opts.heartbeatMs }),
        onReconciled: (r) => {
          for (const f of r.fixed) progress(`reconciled: ${f}`);
          for (const a of r.adopted) progress(`adopted running workspace ${a}`);
        },
      }),
    ]);
    const health = supervisor.health()[0];
    if (health?.status !== "running")
      failed = health?.lastError ?? "the host service did not start";
    if (failed) {
      await supervisor.stop();
      throw new CocalcError("ERR_HOST_UNSUPPORTED", failed);
    }
    cleanups.push(async () => {
      // A deliberate stop stops the workspaces, unless they are to outlive the host (an
      // upgrade): the restarted host adopts them.
      if (!opts.keepWorkspaces) await stopAllWorkspaces(nc, opts.hostId, progress);
      await supervisor.stop();
    });
    // Files and terminals of each workspace, inside its container.
    const workspaces = await startWorkspaceServices({
      nc,
      hostId: opts.hostId,
      root,
      dataDir: opts.dataDir,
      podman,
      ptyHostScript: join(PACKAGE_ROOT, "dist", "bundle", "pty-host.js"),
      fsWorkerScript: join(PACKAGE_ROOT, "dist", "bundle", "fs-worker.js"),
      log: log.child({ component: "workspace-services" }),
      // Joined to a control plane, another host may have the workspace.
      answerUnknown: leaf === undefined,
      keysFromHub: leaf !== undefined,
    });
    hosted = () => workspaces.running();
    // Kept workspaces keep their terminals' shells (the pty hosts) for the restarted host.
    cleanups.push(() => workspaces.stop({ keepShells: opts.keepWorkspaces }));

    const run: LaunchpadRunInfo = {
      pid: process.pid,
      natsUrl,
      hostId: opts.hostId,
      seedFile,
      ...(leaf && { joined: true }),
    };
    await writeFileAtomic(launchpadRunFile(opts.dataDir), `${JSON.stringify(run, null, 2)}\n`);
    cleanups.push(() => rm(launchpadRunFile(opts.dataDir), { force: true }));

    return {
      hostId: opts.hostId,
      root,
      natsUrl,
      nc,
      stop: undo,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

/** The host's own nats-server: a leaf node of the hub once joined. */
async function hostNatsServer(
  opts: HostOptions,
  log: Logger,
  leaf: LeafCredentials | undefined,
): Promise<{ nats: NatsServer; seed: string; seedFile: string }> {
  const secrets = await loadSecrets(opts.dataDir);
  const seed = secrets.servicesSeed;
  const binary = locateNatsServer();
  const version = await natsServerVersion(binary, join(opts.dataDir, "nats-version.json"));
  const nats = new NatsServer(
    {
      binary,
      dir: join(opts.dataDir, "nats"),
      port: await freePort(),
      wsPort: await freePort(),
      servicesNkey: fromSeed(new TextEncoder().encode(seed)).getPublicKey(),
      // No browser talks to a host directly (the control plane does); a user without a
      // workspace of its own keeps the config shape of plus.
      browser: {
        user: "browser",
        password: secrets.browserPassword,
        permissions: browserPermissions("none", ["host"]),
      },
      wsOrigin: "http://gateway.cocalc-launchpad.invalid",
      syncAlways: supportsSyncAlways(version),
      ...(leaf && {
        serverName: `cocalc-host-${leaf.hostId}`,
        jetstreamDomain: leaf.hostDomain,
        leafRemote: {
          url: leaf.leafUrl,
          credentials: await writeLeafCredentials(leaf, opts.dataDir),
          ...(leaf.hubCaFile !== undefined && { caFile: leaf.hubCaFile }),
        },
      }),
    },
    log.child({ component: "nats-server" }),
  );
  return { nats, seed, seedFile: join(opts.dataDir, "services.nk") };
}

/**
 * The cores quotas in the host's own ledger, read before it joins (its nats-server started
 * on its own for the moment): the control plane refuses the join unless it has a quota for
 * each, so none is dropped without a word (services/hub/join-quotas.ts).
 */
async function ownCoresQuotas(opts: HostOptions, log: Logger): Promise<Record<string, number>> {
  const quotas: Record<string, number> = {};
  if (!existsSync(join(opts.dataDir, "nats"))) return quotas;
  const { nats, seed } = await hostNatsServer(opts, log, undefined);
  await nats.start();
  try {
    const nc = await connectServices({ url: nats.url, seed }, "cocalc-launchpad host (join)");
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams
        .info(Streams.ACCOUNTS, { subjects_filter: AllAccounts.cores })
        .catch(() => undefined);
      const store = new AggregateStore<AccountCommand, AccountDecided, AccountState>({
        js: jetstream(nc),
        jsm,
        log,
        stream: Streams.ACCOUNTS,
        registry: accountRegistry,
        events: AccountEvents,
        decider: accountDecider,
      });
      for (const subject of Object.keys(info?.state.subjects ?? {})) {
        const account = accountOfSubject(subject);
        const { quota } = (await store.state(subject)).state;
        if (account && quota !== null) quotas[account] = quota;
      }
    } finally {
      await nc.close();
    }
  } finally {
    await nats.stop();
  }
  return quotas;
}

/** Stops the running workspaces of a host (a deliberate stop of the host). */
async function stopAllWorkspaces(
  nc: NatsConnection,
  hostId: string,
  progress: (line: string) => void,
): Promise<void> {
  const { Kvm } = await import("@nats-io/kv");
  const { Buckets, hostSubjects } = await import("../../shared/subjects.js");
  const kv = await new Kvm(nc).open(Buckets.workspaces);
  const running: string[] = [];
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e?.operation !== "PUT" || e.length === 0) continue;
    const v = e.json<{ hostId: string; status: string; wsid: string }>();
    if (v.hostId === hostId && v.status === "running") running.push(v.wsid);
  }
  await Promise.all(
    running.map(async (wsid) => {
      progress(`stopping workspace ${wsid}`);
      try {
        const r = await requestReply(
          nc,
          hostSubjects(hostId).workspaceCommand(wsid),
          { type: "StopWorkspace", data: {} },
          { timeoutMs: 60_000 },
        );
        if (!r.ok) progress(`workspace ${wsid} did not stop: ${r.error.message}`);
      } catch (err) {
        progress(`workspace ${wsid} did not stop: ${(err as Error).message}`);
      }
    }),
  );
}
