/**
 * Where a host keeps things on its btrfs file system, and the names derived from a workspace
 * id that need no record: its folders, its image's folder, its disk qgroup, its uid range.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";

/** Host uids/gids 0…65535 of every container map to UID_BASE…UID_BASE+65535. */
export const UID_BASE = 200_000;

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
    /** Root's folder of the kernels' files (0700): `shared` and `sockets` in it. */
    kernels: join(dir, "kernels"),
    /** The user's folder, mounted in the container: kernels bind their sockets here. */
    kernelsShared: join(dir, "kernels", "shared"),
    /** Root's: each kernel socket moved out of `shared`, where the service reaches it. */
    kernelSockets: join(dir, "kernels", "sockets"),
    /** The container's init pid, written by podman. */
    pidfile: join(dir, "container.pid"),
  };
}

export type WorkspacePaths = ReturnType<typeof workspacePaths>;

export function imagePath(root: string, name: string): string {
  return join(root, "images", name);
}

/**
 * The qgroup that holds a workspace's one disk limit: `1/<n>`, n from the workspace id (40
 * bits of its SHA-256), so it needs no record and survives restores and image changes.
 */
export function diskGroup(wsid: string): string {
  return `1/${Number.parseInt(createHash("sha256").update(wsid).digest("hex").slice(0, 10), 16)}`;
}

/** The mount manager's name of a workspace's rootfs overlay, and its container's hold on it. */
export const rootfsMount = (wsid: string) => `rootfs-${wsid}`;
export const containerHolder = (wsid: string) => `container:${wsid}` as const;
