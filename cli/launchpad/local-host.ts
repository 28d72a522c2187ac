/**
 * The host a hub runs joined to itself, so that one command on one machine gives people
 * workspaces. It is an ordinary host (its own nats-server as a leaf node of the hub, the host
 * service, podman containers on btrfs) that joins with a token the hub issues to itself, in
 * `DATA_DIR/local-host`; later starts find it joined.
 */
import { spawnSync } from "node:child_process";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../../services/runtime/logger.js";
import { writeSecretFile } from "../../services/runtime/secret-file.js";
import { request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import type { HostTokenFile, HubCertPin } from "../../shared/launchpad.js";
import { RegistrySubjects } from "../../shared/subjects.js";
import { defaultHostId, type HostOptions, type HubOptions } from "./args.js";
import { type LaunchpadHost, startLaunchpadHost } from "./host.js";
import { joinedBefore, keepLeaf } from "./join.js";

export function localHostDir(hubDataDir: string): string {
  return join(hubDataDir, "local-host");
}

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/** Why this machine cannot run workspaces, or undefined when it can. */
export function cannotRunWorkspaces(): string | undefined {
  if (process.getuid?.() !== 0) return "the hub does not run as root";
  const missing = ["podman", "mkfs.btrfs", "btrfs"].filter((t) => !onPath(t));
  if (missing.length > 0) return `${missing.join(", ")} not installed`;
  return undefined;
}

/**
 * Starts the hub's own host (joining it first, once), or says why there is none. `nc` is the
 * hub's services connection; the host reaches the hub on `loopback` (its client and leaf
 * listeners as this machine sees them).
 */
export async function startLocalHost(
  hub: HubOptions,
  nc: NatsConnection,
  loopback: { natsUrl: string; leafUrl: string; tls?: HubCertPin | undefined },
  log: Logger,
  progress: (line: string) => void,
): Promise<LaunchpadHost | undefined> {
  const want = hub.localHost;
  if (!want) return undefined;
  const why = cannotRunWorkspaces();
  if (why) {
    if (want.btrfs || want.btrfsImage)
      throw new CocalcError("ERR_HOST_UNSUPPORTED", `no local host: ${why}`);
    progress(
      `no local host (${why}): workspaces run on hosts that join with \`cocalc-launchpad hub token\``,
    );
    return undefined;
  }
  // Containers run as mapped uids and must pass through the hub's data dir to reach their
  // rootfs: o+x only (no listing); its secrets are 0600 files in 0700 folders.
  await chmod(hub.dataDir, 0o711);
  const dataDir = localHostDir(hub.dataDir);
  const tokenFile = join(dataDir, "join.token");
  const before = await joinedBefore(dataDir);
  // The hub's own host follows the hub: its address and certificate as they are now.
  const joined = before && (await keepLeaf(dataDir, before, loopback.leafUrl, loopback.tls));
  const hostId = joined?.hostId ?? want.hostId ?? defaultHostId();
  if (!joined) {
    const r = await request<{ result: HostTokenFile }>(
      nc,
      RegistrySubjects.command,
      { type: "IssueHostToken", data: { hostId, ttlSeconds: 600 } },
      {
        timeoutMs: 30_000,
        refused: (error) => new CocalcError("ERR_HOST_JOIN", error.message),
      },
    );
    await mkdir(dataDir, { recursive: true, mode: 0o711 });
    await writeSecretFile(tokenFile, JSON.stringify({ ...r.result, natsUrl: loopback.natsUrl }));
  }
  const opts: HostOptions = {
    command: "host",
    ...(want.btrfs
      ? { btrfs: want.btrfs }
      : { btrfsImage: want.btrfsImage ?? join(dataDir, "btrfs.img") }),
    sizeBytes: want.sizeBytes,
    hostId,
    network: "default",
    snapshotEveryMs: 60 * 60_000,
    dataDir,
    logLevel: hub.logLevel,
    join: tokenFile,
    joinLeafUrl: loopback.leafUrl,
  };
  progress(`starting the local host ${hostId} in ${dataDir}`);
  return startLaunchpadHost(opts, log.child({ component: "local-host" }), progress);
}
