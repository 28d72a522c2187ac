/**
 * What a workspace's people read about their disk limit inside: btrfs's statfs ignores
 * qgroups, so `df` inside shows the whole file system. The host keeps a small folder of its
 * own (`workspaces/<wsid>/info`), mounted read-only at `/etc/cocalc`, with `quota` (one line
 * of text) and `quota.json` (bytes), rewritten at each start, each quota change and each usage
 * sample.
 */
import { randomBytes } from "node:crypto";
import { rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Quota } from "../../shared/launchpad.js";

/** Where the folder is seen inside the container. */
export const QUOTA_DIR_INSIDE = "/etc/cocalc";

/** Disk use in bytes: against the one limit, and each part's. */
export interface DiskUse {
  usedBytes: number;
  homeBytes: number;
  scratchBytes: number;
  rootBytes: number;
}

/** `/etc/cocalc/quota.json`. */
export interface QuotaFile {
  disk: {
    limitBytes: number;
    usedBytes: number;
    homeBytes: number;
    scratchBytes: number;
    rootBytes: number;
  };
  memoryBytes: number;
  cpus: number;
  pids: number;
  sampledAt: string;
}

export function quotaFile(quota: Quota, use: DiskUse | undefined, at: Date): QuotaFile {
  return {
    disk: {
      limitBytes: quota.diskMb * 2 ** 20,
      usedBytes: use?.usedBytes ?? 0,
      homeBytes: use?.homeBytes ?? 0,
      scratchBytes: use?.scratchBytes ?? 0,
      rootBytes: use?.rootBytes ?? 0,
    },
    memoryBytes: quota.memoryMb * 2 ** 20,
    cpus: quota.cpus,
    pids: quota.pids,
    sampledAt: at.toISOString(),
  };
}

const mb = (bytes: number) => {
  const x = bytes / 2 ** 20;
  return `${Number.isInteger(x) ? x : x.toFixed(1)} MB`;
};

/** `/etc/cocalc/quota`: what `cat` shows. */
export function quotaText(f: QuotaFile): string {
  const d = f.disk;
  return [
    `disk: ${mb(d.usedBytes)} used of ${mb(d.limitBytes)} (home ${mb(d.homeBytes)}, /scratch ${mb(d.scratchBytes)}, / ${mb(d.rootBytes)}; snapshots count too)`,
    `memory: ${mb(f.memoryBytes)}, cpus: ${f.cpus}, processes: ${f.pids}`,
    `as of ${f.sampledAt}`,
    "",
  ].join("\n");
}

/**
 * Writes both files into `dir` (the host's folder): each through a new file renamed over the
 * old, so a reader inside never sees half a file (the folder is mounted, not the files, so the
 * rename shows). Each write has new files of its own: a usage sample and a quota change may
 * write at the same moment, and the later rename wins.
 */
export async function writeQuotaFiles(dir: string, f: QuotaFile): Promise<void> {
  for (const [name, text] of [
    ["quota", quotaText(f)],
    ["quota.json", `${JSON.stringify(f, null, 2)}\n`],
  ] as const) {
    const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.new`);
    try {
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, join(dir, name));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
}
