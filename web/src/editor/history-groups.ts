/**
 * History's versions in groups, as people think of them: one sitting of one author. Versions
 * next to each other join a group when the same author made them the same way (typing, or
 * changes on disk) with no pause longer than GROUP_GAP_MS between them. A named version ends
 * its group, so its name is seen without opening it; an opening, history's start and a
 * revert stand alone.
 */

/** A pause this long starts a new group. */
export const GROUP_GAP_MS = 5 * 60_000;

/** What grouping needs of a version. */
export interface GroupableVersion {
  seq: number;
  at: string;
  source: string;
  /** Who made it (the command's actor), "disk" for changes on disk. */
  author: string;
  name?: string;
}

export interface VersionGroup<V extends GroupableVersion> {
  /** The group's oldest sequence: stable while newer versions join it. */
  key: number;
  author: string;
  source: string;
  /** Newest first; the first is the group's newest version. */
  versions: V[];
}

const ALONE = new Set(["opened", "history start", "revert"]);

/** Groups `versions` (newest first, as history lists them), newest group first. */
export function groupVersions<V extends GroupableVersion>(
  versions: readonly V[],
  gapMs = GROUP_GAP_MS,
): VersionGroup<V>[] {
  const groups: VersionGroup<V>[] = [];
  let open: VersionGroup<V> | undefined;
  // Oldest first: a group grows towards newer versions.
  for (let i = versions.length - 1; i >= 0; i--) {
    const v = versions[i]!;
    const last = open?.versions[0];
    const joins =
      open !== undefined &&
      last !== undefined &&
      !ALONE.has(v.source) &&
      !ALONE.has(open.source) &&
      !last.name &&
      v.author === open.author &&
      v.source === open.source &&
      Date.parse(v.at) - Date.parse(last.at) <= gapMs;
    if (joins) open!.versions.unshift(v);
    else {
      open = { key: v.seq, author: v.author, source: v.source, versions: [v] };
      groups.push(open);
    }
  }
  return groups.reverse();
}
