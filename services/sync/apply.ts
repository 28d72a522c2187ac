/**
 * Carrying out a cycle's plan on both sides: conflicts (the loser's version renamed beside
 * the path), deletes (only if unchanged since the scan), then copies with rsync in runs,
 * each put in place only where the destination still holds what the scan saw.
 */
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { MAX_DECIDED_ITEMS, type SyncRunEvent, type SyncSide } from "../../shared/sync.js";
import type { Logger } from "../runtime/logger.js";
import { SYNC_TEMP_DIR } from "./ignore.js";
import { type BaseEntry, baseFrom, conflictName } from "./path-decision.js";
import { type CopyUnit, type CyclePlan, copyRuns, entryOn, type PlannedPath } from "./plan.js";
import { transfer } from "./rsync.js";
import type { RemoteTarget, TreeSide } from "./sides.js";
import type { SyncState } from "./state.js";
import { KIND_CODE, type TreeOp } from "./tree.js";

/** What applying a plan works with, and where it leaves what the next cycle must know. */
export interface ApplyContext {
  cycle: number;
  pair: string;
  state: SyncState;
  target: RemoteTarget;
  sides: Record<SyncSide, TreeSide>;
  emit(event: Uncommitted<SyncRunEvent>): Promise<void>;
  log: Logger;
  /** Stops the copies (a transfer in flight too). */
  signal: AbortSignal;
  /** The time conflict copies are named after. */
  now: Date;
  batchFiles?: number;
  batchBytes?: number;
  beforePlace?: (batch: { from: SyncSide; paths: readonly string[] }) => Promise<void>;
  /** Paths this cycle wrote: the next one decides them again (its scan may predate the write). */
  dirty: Set<string>;
  /** Something was left undone (a kept delete, an entry not put in place). */
  leftOver(): void;
}

/**
 * Conflicts: the loser's version moves aside on its side, then the winner's is copied over
 * (added to the plan's copies). Returns how many were kept and the paths moved aside.
 */
export async function keepConflicts(
  c: ApplyContext,
  plan: CyclePlan,
): Promise<{ kept: number; vacated: Set<string> }> {
  const { cycle: n } = c;
  const at = c.now;
  let kept = 0;
  /** Paths whose destination entry was moved aside: it holds nothing now. */
  const vacated = new Set<string>();
  for (const side of ["local", "remote"] as const) {
    const mine = plan.conflicts.filter((p) => p.d.action === "conflict" && p.d.winner !== side);
    if (mine.length === 0) continue;
    const renames = mine.map((p) => ({
      op: "rename" as const,
      p: p.path,
      to: conflictName(p.path, side, at),
    }));
    const results = await c.sides[side].apply(renames);
    for (let i = 0; i < mine.length; i++) {
      const p = mine[i]!;
      const r = results[i];
      if (!r?.ok) {
        c.log.warn(
          { path: p.path, why: r && !r.ok ? r.why : "no answer" },
          "conflict copy not kept",
        );
        continue;
      }
      kept++;
      c.dirty.add(p.path);
      c.dirty.add(renames[i]!.to);
      vacated.add(p.path);
      const winner = side === "local" ? "remote" : "local";
      plan.copies[winner].push(p);
      await c.emit({
        type: "SyncConflictKept",
        data: {
          cycle: n,
          path: p.path,
          winner,
          keptAs: renames[i]!.to,
          reason: p.d.action === "conflict" ? p.d.reason : "both-changed",
          ...(p.l && { localSize: p.l.size }),
          ...(p.r && { remoteSize: p.r.size }),
          ...(p.l?.hash && { localHash: p.l.hash }),
          ...(p.r?.hash && { remoteHash: p.r.hash }),
        },
      });
    }
  }
  return { kept, vacated };
}

/** Deletes, in the plan's order; what changed since the scan is kept. Returns how many went. */
export async function applyDeletes(c: ApplyContext, plan: CyclePlan): Promise<number> {
  const { cycle: n, pair, state } = c;
  let deleted = 0;
  for (const side of ["local", "remote"] as const) {
    const list = plan.deletes[side];
    if (list.length === 0) continue;
    const ops: TreeOp[] = list.map((p) => {
      const e = entryOn(p, side)!;
      return {
        op: "delete",
        p: p.path,
        k: e.kind === "file" ? "f" : e.kind === "dir" ? "d" : "l",
        s: e.size,
        m: e.mtime,
      };
    });
    const results = await c.sides[side].apply(ops);
    const gone: string[] = [];
    const kept: string[] = [];
    results.forEach((r, i) => {
      const p = list[i]!.path;
      (r?.ok ? gone : kept).push(p);
    });
    deleted += gone.length;
    for (const g of gone) c.dirty.add(g);
    if (kept.length > 0) c.leftOver();
    state.write(pair, [], gone);
    for (let i = 0; i < Math.max(gone.length, kept.length); i += MAX_DECIDED_ITEMS) {
      await c.emit({
        type: "SyncDeleted",
        data: {
          cycle: n,
          on: side,
          paths: gone.slice(i, i + MAX_DECIDED_ITEMS),
          kept: kept.slice(i, i + MAX_DECIDED_ITEMS),
        },
      });
    }
  }
  return deleted;
}

/**
 * Copies, in rsync runs per direction, parents before children. A folder new on one side
 * goes across whole (one recursive rsync entry instead of one per file).
 */
export async function copyAll(
  c: ApplyContext,
  plan: CyclePlan,
  vacated: ReadonlySet<string>,
): Promise<{ copied: number; kept: number; bytes: number }> {
  const progress = { files: 0, bytes: 0 };
  let copied = 0;
  let kept = 0;
  const { cycle: n } = c;
  const batchFiles = c.batchFiles ?? 200_000;
  const batchBytes = c.batchBytes ?? 1024 ** 3;
  let stageSeq = 0;
  for (const from of ["local", "remote"] as const) {
    for (const run of copyRuns(plan.copies[from], from, plan.whole, batchFiles, batchBytes)) {
      if (c.signal.aborted) throw new CocalcError("ERR_SYNC_TRANSFER", "sync was stopped");
      const r = await copyBatch(c, from, run.units, run.recursive, `s${n}-${stageSeq++}`, {
        vacated,
        progress,
      });
      copied += r.landed;
      kept += r.kept;
    }
  }
  return { copied, kept, bytes: progress.bytes };
}

/**
 * One rsync run into a stage folder in the receiving side's temp dir, then each entry is put
 * in place there only if the destination still holds what the scan saw: a write made on the
 * receiving side since the scan is never overwritten (the path is decided again next cycle).
 */
async function copyBatch(
  c: ApplyContext,
  from: SyncSide,
  batch: readonly CopyUnit[],
  recursive: boolean,
  stage: string,
  ctx: { vacated: ReadonlySet<string>; progress: { files: number; bytes: number } },
): Promise<{ landed: number; kept: number }> {
  const { cycle: n, pair, state } = c;
  const to: SyncSide = from === "local" ? "remote" : "local";
  const src = c.sides[from];
  const dst = c.sides[to];
  const srcOf = (p: PlannedPath) => entryOn(p, from);
  const dstOf = (p: PlannedPath) => (ctx.vacated.has(p.path) ? undefined : entryOn(p, to));
  const listed = batch.map((u) => u.root ?? u.entries[0]!);
  const updates = listed.some((p) => dstOf(p)?.kind === "file");
  let sinceFiles = 0;
  let sinceBytes = 0;
  let lastEmit = Date.now();
  let emitting = Promise.resolve();
  const t1 = Date.now();
  const flush = (force: boolean, kept: string[] = []) => {
    if (!force && Date.now() - lastEmit < 1000) return;
    if (sinceFiles === 0 && !force) return;
    const data = {
      cycle: n,
      from,
      files: sinceFiles,
      bytes: sinceBytes,
      ms: Date.now() - t1,
      doneFiles: ctx.progress.files,
      doneBytes: ctx.progress.bytes,
    };
    sinceFiles = 0;
    sinceBytes = 0;
    lastEmit = Date.now();
    const events =
      kept.length === 0
        ? [data]
        : chunks(kept, MAX_DECIDED_ITEMS).map((k, i) =>
            i === 0 ? { ...data, kept: k } : { ...data, files: 0, bytes: 0, kept: k },
          );
    for (const d of events)
      emitting = emitting.then(() => c.emit({ type: "SyncTransferred", data: d }));
  };
  const result = await transfer({
    target: c.target,
    from: src.rsyncRoot,
    to: `${dst.rsyncRoot}${SYNC_TEMP_DIR}/${stage}/`,
    paths: listed.map((p) => p.path),
    recursive,
    // Files already there are the basis of a delta transfer; new ones go whole.
    basis: updates ? "../../" : undefined,
    signal: c.signal,
    onFile: (_path, size) => {
      ctx.progress.files++;
      ctx.progress.bytes += size;
      sinceFiles++;
      sinceBytes += size;
      flush(false);
    },
  });
  await c.beforePlace?.({ from, paths: listed.map((p) => p.path) });
  const ops: TreeOp[] = listed.map((p) => {
    const e = srcOf(p)!;
    const k = KIND_CODE[e.kind];
    const d = dstOf(p);
    return {
      op: "place",
      p: p.path,
      stage,
      k,
      ...(recursive && { whole: true }),
      ...(d && { expect: { k: KIND_CODE[d.kind], s: d.size, m: d.mtime } }),
    };
  });
  const results = await dst.apply([...ops, { op: "clean-stage", stage }]);
  const landed: PlannedPath[] = [];
  const kept: string[] = [];
  batch.forEach((u, i) => {
    const r = results[i];
    if (r?.ok) landed.push(...u.entries);
    else {
      c.leftOver();
      const p = listed[i]!.path;
      c.dirty.add(p);
      if (r && !r.ok && r.why === "changed") kept.push(p);
      else if (r && !r.ok && r.why !== "missing")
        c.log.warn({ path: p, why: r.why, err: r.e }, "transferred entry not put in place");
    }
  });
  if (result.code !== 0) c.leftOver();
  flush(true, kept);
  await emitting;
  state.write(
    pair,
    landed.map((p) => {
      const e = srcOf(p)!;
      // rsync -t gives the copy the source's mtime.
      return [p.path, baseFrom(e, e)] as [string, BaseEntry];
    }),
  );
  // Our own writes: decided again next cycle (a whole folder's entries come in the scan).
  for (const p of listed) c.dirty.add(p.path);
  return { landed: landed.length, kept: kept.length };
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
