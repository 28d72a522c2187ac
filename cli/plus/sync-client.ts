/** `cocalc-plus sync add|list|pause|resume|rm|check`: commands to the sync service of a running plus. */
import { readFile } from "node:fs/promises";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { requestReply } from "../../shared/command-client.js";
import { Buckets, ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import {
  describeDirection,
  displayRoot,
  explainPathStatus,
  IGNORE_HELP,
  normalizeRoot,
  pairIdFor,
  previewSummary,
  previewVerb,
  type SyncPairView,
  type SyncPathStatus,
  type SyncPreview,
  syncSummary,
} from "../../shared/sync.js";
import { table } from "../common/table.js";
import { UsageError } from "../common/usage.js";
import type { SyncCliOptions } from "./args.js";
import { connectPlus, sendCommand } from "./client.js";

export const SYNC_HELP = `cocalc-plus sync — keep folders identical here and on a remote session.

  cocalc-plus sync add LOCAL [REMOTE] --session [user@]host[:port]
        [--ignore PATTERN]... [--ignore-file FILE] [--prefer local|remote] [--outside-home]
        [--direction both|to-remote|to-local] [--dry-run [--json]]
  cocalc-plus sync list [--json]
  cocalc-plus sync pause|resume|check|rm PAIR|LOCAL
  cocalc-plus sync resolve PAIR|LOCAL PATH --keep local|remote|both [--copy NAME]
  cocalc-plus sync status PAIR|LOCAL PATH [--json]

The session is one cocalc-plus ssh connected (add refuses another). Paths are relative to the
home directory on each side (~/ means that side's home); REMOTE defaults to LOCAL. A pair syncs
both ways (changes on both sides of a file: both versions kept, --prefer's at the path), or
mirrors one way: --direction to-remote makes the remote folder a copy of the local one (its own
changes are undone, files only it holds are deleted; ignored files are left alone), to-local
the other way round. --dry-run scans both sides and says what the pair would copy and delete,
adding nothing. status says why a file differs: what each side holds, what was synced, the last
decision and the next. A file changed on both sides is a conflict: the preferred version stays at
the path and the other is kept beside it as NAME.conflict-<side>-<time>.EXT; resolve settles it
(PATH relative to the pair's folder): --keep local or remote leaves that version at the path and
removes the copy on both sides, --keep both keeps the two files. rm stops
syncing and never deletes files (only the pair's .cocalc-sync.tmp on both sides). Ignore patterns:
${IGNORE_HELP}`;

/** Most decided paths a dry run prints (--json has the preview's whole list). */
const PRINTED_ITEMS = 50;

function writePreview(p: SyncPreview, json: boolean, out: NodeJS.WritableStream): void {
  if (json) {
    out.write(`${JSON.stringify(p, null, 2)}\n`);
    return;
  }
  const c = p.config;
  out.write(
    `dry run: ${displayRoot(c.local)} (${p.entries.local} entries) ${describeDirection(c.direction)} ${displayRoot(c.remote)} on ${c.session} (${p.entries.remote} entries)\n`,
  );
  out.write(`${previewSummary(p)}\n`);
  for (const i of p.items.slice(0, PRINTED_ITEMS)) out.write(`  ${previewVerb(i)}  ${i.path}\n`);
  const left = p.items.length - Math.min(PRINTED_ITEMS, p.items.length) + p.more;
  if (left > 0) out.write(`  … and ${left} more (--json lists up to ${p.items.length})\n`);
  out.write("nothing was changed; run it again without --dry-run to add the pair\n");
}

async function pairs(nc: NatsConnection): Promise<SyncPairView[]> {
  const kv = await new Kvm(nc).open(Buckets.syncPairs);
  const out: SyncPairView[] = [];
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e?.operation === "PUT" && e.length > 0) out.push(e.json<SyncPairView>());
  }
  return out.sort((a, b) => a.session.localeCompare(b.session) || a.local.localeCompare(b.local));
}

/** Runs one sync command; prints to `out`. Throws with a message for people. */
export async function syncCli(o: SyncCliOptions, out = process.stdout): Promise<void> {
  const { nc, run } = await connectPlus(o.dataDir, "cocalc-plus sync");
  try {
    const all = await pairs(nc);
    const find = (ref: string): SyncPairView => {
      const byId = all.find((p) => p.pair === ref);
      if (byId) return byId;
      let local: string;
      try {
        local = normalizeRoot(ref, { outsideHome: true, home: process.env.HOME });
      } catch {
        local = ref;
      }
      const matches = all.filter((p) => p.local === local);
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1)
        throw new UsageError(`${ref} is synced with several sessions; name the pair id`);
      throw new Error(`no sync pair ${ref} (see cocalc-plus sync list)`);
    };
    switch (o.action) {
      case "list": {
        if (o.json) {
          out.write(`${JSON.stringify(all, null, 2)}\n`);
          return;
        }
        if (all.length === 0) {
          out.write("no sync pairs\n");
          return;
        }
        const rows = [["PAIR", "SESSION", "LOCAL", "REMOTE", "DIRECTION", "STATUS", "CONFLICTS"]];
        for (const p of all) {
          rows.push([
            p.pair,
            p.session,
            displayRoot(p.local),
            displayRoot(p.remote),
            describeDirection(p.direction),
            syncSummary(p),
            String(p.conflicts.length),
          ]);
        }
        out.write(`${table(rows)}\n`);
        return;
      }
      case "add": {
        if (!o.session) throw new UsageError("sync add needs --session [user@]host[:port]");
        const [local, remote] = o.args;
        if (!local) throw new UsageError("sync add needs the LOCAL path");
        let ignore = o.ignore.join("\n");
        if (o.ignoreFile) {
          ignore = `${await readFile(o.ignoreFile, "utf8")}\n${ignore}`.trim();
        }
        const data = {
          session: o.session,
          local,
          ...(remote !== undefined && { remote }),
          ...(ignore !== "" && { ignore }),
          ...(o.prefer && { prefer: o.prefer }),
          ...(o.outsideHome && { outsideHome: true }),
          ...(o.direction && { direction: o.direction }),
        };
        if (o.dryRun) {
          const r = await requestReply<{ result: SyncPreview }>(
            nc,
            workspaceSubjects(run.wsid).request(ServiceNames.sync),
            { op: "preview", pair: data },
            { timeoutMs: 300_000 },
          );
          if (!r.ok) throw new Error(`${r.error.message} (${r.error.code})`);
          writePreview(r.result, o.json, out);
          return;
        }
        await sendCommand(nc, run.wsid, ServiceNames.sync, "AddSyncPair", data);
        const norm = normalizeRoot(local, { outsideHome: o.outsideHome, home: process.env.HOME });
        const arrow = o.direction === "to-remote" ? "→" : o.direction === "to-local" ? "←" : "↔";
        out.write(
          `added sync pair ${pairIdFor(o.session, norm)}: ${displayRoot(norm)} ${arrow} ${o.session}${o.direction && o.direction !== "both" ? ` (${describeDirection(o.direction)})` : ""}\n`,
        );
        return;
      }
      case "resolve": {
        const [ref, path] = o.args;
        if (!ref || !path) throw new UsageError("sync resolve needs a PAIR (or LOCAL) and a PATH");
        const p = find(ref);
        const rel = path.replace(/^\.\/+/, "");
        const listed = p.conflicts.filter(
          (c) => c.path === rel && (o.copy === undefined || c.keptAs === o.copy),
        );
        if (listed.length === 0) {
          const known = p.conflicts.map((c) => c.path).join(", ") || "none";
          throw new Error(`no conflict at ${rel} in ${p.pair} (its conflicts: ${known})`);
        }
        if (listed.length > 1 && o.copy === undefined) {
          throw new UsageError(
            `${rel} has ${listed.length} conflict copies; name one with --copy (${listed.map((c) => c.keptAs).join(", ")})`,
          );
        }
        const c = listed[0]!;
        await sendCommand(nc, run.wsid, ServiceNames.sync, "ResolveSyncConflict", {
          pair: p.pair,
          path: c.path,
          keptAs: c.keptAs,
          keep: o.keep,
        });
        // Carried out between the pair's cycles: its view says when.
        const deadline = Date.now() + 60_000;
        let asked = false;
        for (;;) {
          const now = (await pairs(nc)).find((x) => x.pair === p.pair);
          const still = now?.conflicts.find((x) => x.path === c.path && x.keptAs === c.keptAs);
          if (!still) break;
          if (still.resolving) asked = true;
          // An error of an earlier try counts only once this one was seen asked.
          const answered = asked || still.error !== c.error;
          if (still.error && still.resolving === undefined && answered)
            throw new Error(still.error);
          if (Date.now() > deadline)
            throw new Error(
              "asked, but not settled within a minute: the pair is busy; see sync list",
            );
          await new Promise((r) => setTimeout(r, 200));
        }
        const what =
          o.keep === "both"
            ? `both files kept (${c.keptAs} stays)`
            : `the ${o.keep} version kept; ${c.keptAs} removed`;
        out.write(`${p.pair} ${c.path}: ${what}\n`);
        return;
      }
      case "status": {
        const [ref, path] = o.args;
        if (!ref || !path) throw new UsageError("sync status needs a PAIR (or LOCAL) and a PATH");
        const p = find(ref);
        const r = await requestReply<{ result: SyncPathStatus }>(
          nc,
          workspaceSubjects(run.wsid).request(ServiceNames.sync),
          { op: "status", pair: p.pair, path },
          { timeoutMs: 30_000 },
        );
        if (!r.ok) throw new Error(`${r.error.message} (${r.error.code})`);
        if (o.json) out.write(`${JSON.stringify(r.result, null, 2)}\n`);
        else
          out.write(
            `${r.result.path}:\n${explainPathStatus(r.result)
              .map((l) => `  ${l}\n`)
              .join("")}`,
          );
        return;
      }
      case "pause":
      case "resume":
      case "rm":
      case "check": {
        const ref = o.args[0];
        if (!ref) throw new UsageError(`sync ${o.action} needs a PAIR id or LOCAL path`);
        const p = find(ref);
        const type = {
          pause: "PauseSyncPair",
          resume: "ResumeSyncPair",
          rm: "RemoveSyncPair",
          check: "CheckSyncPair",
        }[o.action];
        await sendCommand(nc, run.wsid, ServiceNames.sync, type, { pair: p.pair });
        const done = {
          pause: "paused",
          resume: "resumed",
          rm: "removed (no files were deleted)",
          check: "deep check started",
        }[o.action];
        out.write(`${p.pair} ${displayRoot(p.local)} ↔ ${p.session}: ${done}\n`);
        return;
      }
      default: {
        const never: never = o.action;
        return never;
      }
    }
  } finally {
    await nc.close();
  }
}
