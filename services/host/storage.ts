/**
 * A workspace's storage on the host's btrfs: home and /scratch subvolumes, the writable layer
 * over its image, read-only snapshots of home, and one disk limit over all three (a qgroup),
 * sampled into the quota files the workspace reads at /etc/cocalc.
 */
import { chown, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { type Quota, type SnapshotInfo, WORKSPACE_UID } from "../../shared/launchpad.js";
import { diskGroup, UID_BASE, workspacePaths } from "./layout.js";
import { type DiskUse, quotaFile, writeQuotaFiles } from "./quota-file.js";
import { btrfs, isDirectory, pathExists } from "./system.js";

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

export class WorkspaceStorage {
  /** `root`: the btrfs file system (mounted) that holds images and workspaces. */
  constructor(
    private readonly root: string,
    private readonly now: () => Date,
  ) {}

  private paths(wsid: string) {
    return workspacePaths(this.root, wsid);
  }

  /** Home and /scratch (with the default dot files) and the root layer; `step` hears each. */
  async provision(
    wsid: string,
    quota: Quota,
    step: (name: string, detail?: string) => Promise<unknown>,
  ): Promise<void> {
    const p = this.paths(wsid);
    await mkdir(p.dir, { recursive: true, mode: 0o711 });
    await mkdir(p.snapshots, { recursive: true, mode: 0o755 });
    await mkdir(p.rootfs, { recursive: true });
    const owner = UID_BASE + WORKSPACE_UID;
    for (const sub of [p.home, p.scratch]) {
      await btrfs.create(sub);
      await chown(sub, owner, owner);
    }
    await step("home and /scratch subvolumes");
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
    await step("rootfs layer", `disk limit ${quota.diskMb} MB in all`);
  }

  /** The writable layer belongs to one image: a new image starts it afresh. */
  async resetLayer(wsid: string, quota: Quota): Promise<void> {
    await btrfs.remove(this.paths(wsid).layer);
    await this.makeLayer(wsid, quota);
  }

  private async makeLayer(wsid: string, quota: Quota): Promise<void> {
    const p = this.paths(wsid);
    await btrfs.create(p.layer);
    if (await pathExists(p.home)) await this.applyDiskQuota(wsid, quota);
    await mkdir(p.upper, { recursive: true });
    await mkdir(p.work, { recursive: true });
    // The overlay's root directory takes its owner from the upper dir: the container's root.
    await chown(p.upper, UID_BASE, UID_BASE);
  }

  /**
   * One disk limit for the workspace: home, /scratch and the root layer are the members of
   * its qgroup (diskGroup), whose referenced bytes are limited to `diskMb`.
   */
  async applyDiskQuota(wsid: string, quota: Quota): Promise<void> {
    const p = this.paths(wsid);
    await btrfs.limitTogether(
      this.root,
      diskGroup(wsid),
      [p.home, p.scratch, p.layer],
      quota.diskMb,
    );
  }

  /** Everything of the workspace on the host: snapshots, subvolumes, its qgroup, its folder. */
  async remove(wsid: string): Promise<void> {
    const p = this.paths(wsid);
    if (await isDirectory(p.snapshots)) {
      for (const s of await readdir(p.snapshots)) await btrfs.remove(join(p.snapshots, s));
    }
    await btrfs.removeGroup(this.root, diskGroup(wsid)).catch(() => undefined);
    for (const sub of [p.home, p.scratch, p.layer, join(p.dir, "home.restoring")])
      await btrfs.remove(sub);
    await rm(p.dir, { recursive: true, force: true });
  }

  async createSnapshot(wsid: string, name: string, quota: Quota): Promise<void> {
    const p = this.paths(wsid);
    await mkdir(p.snapshots, { recursive: true });
    await this.applyDiskQuota(wsid, quota);
    await btrfs.snapshot(p.home, join(p.snapshots, name), true, diskGroup(wsid));
  }

  async deleteSnapshot(wsid: string, name: string): Promise<void> {
    await btrfs.remove(join(this.paths(wsid).snapshots, name));
  }

  /** Home becomes a writable copy of snapshot `name`; the old home is gone. */
  async restoreSnapshot(wsid: string, name: string, quota: Quota): Promise<void> {
    const p = this.paths(wsid);
    const snapshot = join(p.snapshots, name);
    if (!(await isDirectory(snapshot)))
      throw new CocalcError(
        "ERR_WORKSPACE_SNAPSHOT",
        `snapshot ${name} is on record but gone from the host's storage; nothing was restored`,
      );
    const restored = join(p.dir, "home.restoring");
    await btrfs.remove(restored);
    await btrfs.snapshot(snapshot, restored, false, diskGroup(wsid));
    await btrfs.remove(p.home);
    await rename(restored, p.home);
    await this.applyDiskQuota(wsid, quota);
  }

  /**
   * The recorded snapshots, newest first: when btrfs made each, and its size from its qgroup
   * (exclusive: what deleting it frees; referenced: all it refers to).
   */
  async listSnapshots(wsid: string, recorded: readonly string[]): Promise<SnapshotInfo[]> {
    const dir = this.paths(wsid).snapshots;
    if (recorded.length === 0 || !(await isDirectory(dir))) return [];
    const [subvolumes, groups] = await Promise.all([
      btrfs.snapshotsIn(dir),
      btrfs.qgroups(this.root),
    ]);
    const names = new Set(recorded);
    return subvolumes
      .filter((s) => names.has(s.name))
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

  /** Disk use in bytes from the qgroups: the workspace's one group, and each part's. */
  async diskUse(wsid: string): Promise<DiskUse> {
    const p = this.paths(wsid);
    const groups = await btrfs.qgroups(this.root);
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

  /** Makes the folder of the quota files (at a start only: a deleted workspace never gets it back). */
  async prepareQuotaFolder(wsid: string): Promise<void> {
    await mkdir(this.paths(wsid).info, { recursive: true, mode: 0o755 });
  }

  /**
   * Rewrites the quota files the workspace reads at /etc/cocalc (with `use`, or a fresh
   * sample). Never creates the folder (prepareQuotaFolder does).
   */
  async writeQuota(wsid: string, quota: Quota, use?: DiskUse): Promise<void> {
    await writeQuotaFiles(
      this.paths(wsid).info,
      quotaFile(quota, use ?? (await this.diskUse(wsid)), this.now()),
    );
  }
}
