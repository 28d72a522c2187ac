/**
 * A dry run of a pair: both sides scanned (whole listings), every path decided as the pair's
 * first cycle would (no synced state yet), nothing written on either side.
 */
import {
  MAX_PREVIEW_ITEMS,
  mirrorSource,
  type PairConfig,
  type SyncPreview,
  type SyncSide,
} from "../../shared/sync.js";
import { pairMatcher } from "./ignore.js";
import type { BaseEntry, SyncEntry } from "./path-decision.js";
import { pathsToDecide, planCycle } from "./plan.js";
import {
  entryOfLine,
  hashInto,
  LocalSide,
  RemoteSide,
  type RemoteTarget,
  type ScanResult,
} from "./sides.js";

function entriesOf(res: ScanResult, gitignores: Map<string, string>): Map<string, SyncEntry> {
  const tree = new Map<string, SyncEntry>();
  for (const l of res.lines) {
    if (l.k === "-") continue;
    tree.set(l.p, entryOfLine(l));
    if (l.g !== undefined) gitignores.set(l.p, l.g);
  }
  return tree;
}

export async function previewPair(o: {
  config: PairConfig;
  target: RemoteTarget;
  home?: string;
}): Promise<SyncPreview> {
  const { config } = o;
  const local = new LocalSide(config.local, o.home);
  const remote = new RemoteSide(o.target, config.remote);
  try {
    const req = { patterns: config.ignore };
    const [ls, rs] = await Promise.all([local.scan(req), remote.scan(req)]);
    const gitignores = new Map<string, string>();
    const sides = {
      local: entriesOf(ls, gitignores),
      remote: entriesOf(rs, gitignores),
      base: new Map<string, BaseEntry>(),
    };
    const candidates = new Set([...sides.local.keys(), ...sides.remote.keys()]);
    const matcher = pairMatcher(config.ignore, gitignores);
    const { paths, hash } = pathsToDecide(candidates, sides, matcher, "full");
    // Same size, another mtime: only the bytes tell whether they differ.
    await Promise.all([
      hashInto(local, hash.local, sides.local),
      hashInto(remote, hash.remote, sides.remote),
    ]);
    const plan = planCycle(paths, sides, config.prefer, false, mirrorSource(config.direction));
    const count = (side: SyncSide) => ({
      copies: plan.items.filter((i) => i.action === "copy" && i.side !== side).length,
      deletes: plan.deletes[side].length,
    });
    const l = count("local");
    const r = count("remote");
    return {
      config,
      entries: { local: sides.local.size, remote: sides.remote.size },
      copies: { local: l.copies, remote: r.copies },
      deletes: { local: l.deletes, remote: r.deletes },
      conflicts: plan.conflicts.length,
      bytes: plan.pendingBytes,
      items: plan.items.slice(0, MAX_PREVIEW_ITEMS),
      more: Math.max(0, plan.items.length - MAX_PREVIEW_ITEMS),
    };
  } finally {
    await remote.close();
  }
}
