/**
 * `cocalc-launchpad workspace …`, `image …`, `account …` and `hosts …`: drive a running
 * host, or a hub (which routes each workspace's commands to its host), through NATS.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { accountsOnControlPlane } from "../../services/host/index.js";
import { connectServices } from "../../services/runtime/connect.js";
import { requestWithProgress } from "../../services/runtime/progress.js";
import { domainManager, viewValues } from "../../services/runtime/remote-views.js";
import { errorText, parseReply, type Reply, requestReply } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import type {
  AccountView,
  HostView,
  ImageView,
  SnapshotInfo,
  WorkspaceView,
} from "../../shared/launchpad.js";
import {
  accountSubjects,
  Buckets,
  FleetSubjects,
  hostDomain,
  hostSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { silentLogger } from "../common/logger.js";
import { table } from "../common/table.js";
import type { ClientOptions } from "./args.js";
import { streamExec } from "./exec.js";
import { launchpadRunFile } from "./host.js";
import { connectHub, hubRunFile } from "./hub-connect.js";

/** What `workspace shell` runs: bash if the image has it, else sh, as a login shell. */
const LOGIN_SHELL = [
  "/bin/sh",
  "-c",
  'cd; for s in /bin/bash /bin/sh; do [ -x "$s" ] && exec "$s" -l; done',
];

export class CommandFailed extends Error {}

/** What the client talks to: a host (its id), or a hub (no host id). */
interface Target {
  natsUrl: string;
  seedFile?: string;
  hostId?: string;
  joined?: boolean;
}

async function readTarget(file: string): Promise<{ run: Target; seed: string } | undefined> {
  try {
    const run = JSON.parse(await readFile(file, "utf8")) as Target;
    return { run, seed: (await readFile(run.seedFile!, "utf8")).trim() };
  } catch {
    return undefined;
  }
}

/** A host running on `dataDir`, else a hub there (or in its default subfolder). */
async function connect(dataDir: string): Promise<{ nc: NatsConnection; run: Target }> {
  const host = await readTarget(launchpadRunFile(dataDir));
  if (host)
    return {
      nc: await connectServices({ url: host.run.natsUrl, seed: host.seed }, "cocalc-launchpad"),
      run: host.run,
    };
  for (const dir of [dataDir, join(dataDir, "hub")]) {
    if (!existsSync(hubRunFile(dir))) continue;
    const nc = await connectHub(dir, silentLogger());
    return { nc, run: { natsUrl: nc.getServer() } };
  }
  throw new CommandFailed(
    `no cocalc-launchpad host or hub is running on ${dataDir} (start one with \`cocalc-launchpad host\` or \`cocalc-launchpad\`, or pass --data-dir)`,
  );
}

/**
 * A view of the hosts: on a host, its own bucket; on a control plane, each known host's
 * bucket read through its JetStream domain (a host that does not answer is left out).
 */
async function hostValues<T>(
  nc: NatsConnection,
  run: Target,
  bucket: string,
): Promise<{ rows: T[]; missing: string[] }> {
  if (run.hostId !== undefined) return { rows: await values<T>(nc, bucket), missing: [] };
  const rows: T[] = [];
  const missing: string[] = [];
  for (const h of await values<HostView>(nc, Buckets.hosts)) {
    try {
      rows.push(...(await viewValues<T>(await domainManager(nc, hostDomain(h.hostId)), bucket)));
    } catch {
      missing.push(h.hostId);
    }
  }
  return { rows, missing };
}

async function values<T>(nc: NatsConnection, bucket: string): Promise<T[]> {
  const kv = await new Kvm(nc).open(bucket);
  const out: T[] = [];
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e && e.operation === "PUT" && e.length > 0) out.push(e.json<T>());
  }
  return out;
}

/** Bytes as people read them: `512 B`, `3.4 MB`, `1.2 GB`. */
export function formatBytes(n: number | null): string {
  if (n === null) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** What `workspace snapshots W` prints. */
export function snapshotsTable(rows: readonly SnapshotInfo[]): string {
  if (rows.length === 0) return "no snapshots";
  return table([
    ["SNAPSHOT", "TAKEN", "EXCLUSIVE", "REFERENCED"],
    ...rows.map((r) => [
      r.name,
      r.takenAt,
      formatBytes(r.exclusiveBytes),
      formatBytes(r.referencedBytes),
    ]),
  ]);
}

/** Runs one client command; returns the exit code. */
export async function runClient(
  o: ClientOptions,
  out: { write(s: string): unknown } = process.stdout,
): Promise<number> {
  const { nc, run } = await connect(o.dataDir);
  try {
    const print = (s: string) => out.write(`${s}\n`);
    const unanswered = (missing: string[]) => {
      if (missing.length > 0) print(`(not answering: ${missing.join(" ")})`);
    };
    if (o.command === "hosts" && o.action !== "list") {
      // Draining is placement's, which is the hub's.
      if (run.hostId !== undefined)
        throw new CommandFailed(
          `hosts ${o.action} is the hub's: run it with --data-dir of the hub (this is host ${run.hostId})`,
        );
      const hostId = o.args[0]!;
      const r = await requestReply<{ drainedAt?: string | null }>(
        nc,
        FleetSubjects.command,
        { type: o.action === "drain" ? "DrainHost" : "UndrainHost", data: { hostId } },
        { timeoutMs: 30_000 },
      );
      if (!r.ok) return finish(r, "");
      const h = (await values<HostView>(nc, Buckets.hosts)).find((v) => v.hostId === hostId);
      const still = h ? `; ${h.workspaces} workspaces on it (${h.running} running)` : "";
      print(
        r.drainedAt
          ? `host ${hostId} drained since ${r.drainedAt}: it takes no new workspaces, those on it keep running until stopped${still}`
          : `host ${hostId} takes new workspaces${still}`,
      );
      return 0;
    }
    if (o.command === "hosts") {
      const hosts = await values<HostView>(nc, Buckets.hosts);
      print(
        table([
          ["HOST", "STATUS", "RUNNING", "WORKSPACES", "DISK", "LAST HEARD", "LAST ERROR"],
          ...hosts.map((h) => [
            h.hostId,
            h.drainedAt ? `${h.status}, draining` : h.status,
            String(h.running),
            String(h.workspaces),
            `${h.disk.usedMb}/${h.disk.totalMb} MB`,
            h.seenAt ?? h.beatAt,
            h.lastError ?? "",
          ]),
        ]),
      );
      return 0;
    }
    if (o.command === "account") {
      // A joined host's own ledger is no longer written: the control plane's is the one.
      if (run.joined && run.hostId) throw accountsOnControlPlane(run.hostId);
      if (o.action === "list") {
        const accounts = await values<AccountView>(nc, Buckets.accounts);
        print(
          table([
            ["ACCOUNT", "CORES RUNNING", "CORES QUOTA", "WORKSPACES"],
            ...accounts.map((a) => [
              a.account,
              String(a.coresRunning),
              a.coresQuota === null ? "no limit" : String(a.coresQuota),
              Object.keys(a.workspaces).join(" "),
            ]),
          ]),
        );
        return 0;
      }
      const [account, value] = o.args as [string, string];
      const cores = value === "none" ? null : Number(value);
      const r = await requestReply(
        nc,
        accountSubjects(account).command,
        { type: "SetAccountCoresQuota", data: { cores } },
        { timeoutMs: 60_000 },
      );
      return finish(r, `account ${account}: cores quota ${cores === null ? "removed" : cores}`);
    }
    if (o.action === "list") {
      if (o.command === "image") {
        const { rows: images, missing } = await hostValues<ImageView>(nc, run, Buckets.images);
        print(
          table([
            ["HOST", "IMAGE", "SIZE", "ADDED", "DESCRIPTION"],
            ...images.map((i) => [i.hostId, i.name, `${i.sizeMb} MB`, i.addedAt, i.description]),
          ]),
        );
        unanswered(missing);
        return 0;
      }
      const { rows: all, missing } = await hostValues<WorkspaceView>(nc, run, Buckets.workspaces);
      print(
        table([
          [
            "WORKSPACE",
            "HOST",
            "STATUS",
            "IMAGE",
            "NETWORK",
            "DISK USED/LIMIT",
            "HOME",
            "SCRATCH",
            "ROOT",
            "MEMORY",
            "CPUS",
            "PIDS",
            "SNAPSHOTS",
            "LAST ERROR",
          ],
          ...all.map((w) => [
            w.wsid,
            w.hostId,
            w.status,
            w.image,
            w.network ?? "default",
            // One limit for home, /scratch and the root layer together.
            `${w.usage?.usedMb ?? "?"}/${w.quota.diskMb} MB`,
            w.usage ? `${w.usage.homeMb} MB` : "?",
            w.usage ? `${w.usage.scratchMb} MB` : "?",
            w.usage?.rootMb !== undefined ? `${w.usage.rootMb} MB` : "?",
            `${w.quota.memoryMb} MB`,
            String(w.quota.cpus),
            String(w.quota.pids),
            String(w.snapshots.length),
            w.lastError ? `${w.lastError.action}: ${w.lastError.message}` : "",
          ]),
        ]),
      );
      unanswered(missing);
      return 0;
    }
    if (o.command === "image") {
      const [name, dir] = o.args as [string, string];
      let hostId = (o.flags.host as string | undefined) ?? run.hostId;
      if (hostId === undefined) {
        // On a hub with one ready host (its own, say), that one.
        const ready = (await values<HostView>(nc, Buckets.hosts)).filter(
          (h) => h.status === "ready",
        );
        if (ready.length !== 1)
          throw new CommandFailed(
            `on a hub with ${ready.length === 0 ? "no ready host" : `${ready.length} ready hosts (${ready.map((h) => h.hostId).join(", ")})`}, image import needs --host HOSTID`,
          );
        hostId = ready[0]!.hostId;
      }
      print(`importing ${resolve(dir)} as image ${name}…`);
      const data = {
        name,
        source: resolve(dir),
        ...(o.flags.description !== undefined && { description: o.flags.description }),
      };
      // On a hub, through its fleet (which records it, the console as the actor); on a host,
      // to the host itself. Either way the host's steps come as progress.
      const answer = await requestWithProgress(
        nc,
        run.hostId === undefined ? FleetSubjects.command : hostSubjects(hostId).command,
        JSON.stringify(
          run.hostId === undefined
            ? { type: "ImportImageOnHost", data: { hostId, ...data } }
            : { type: "ImportImage", data },
        ),
        { timeoutMs: 10 * 60_000, onProgress: (p) => process.stderr.write(`  ${p.line}\n`) },
      );
      return finish(parseReply(answer.string()), `image ${name} imported`);
    }
    const wsid = o.args[0]!;
    const subjects = workspaceSubjects(wsid);
    // A joined host answers for its own workspaces on its own subject; what crosses the leaf
    // to the control plane is only what the control plane asks of it.
    const target =
      run.joined && run.hostId
        ? hostSubjects(run.hostId).workspaceCommand(wsid)
        : subjects.command("host");
    if (o.action === "exec" || o.action === "shell") {
      const tty = o.action === "shell" || o.flags.tty === true;
      const stdin = o.action === "shell" || o.flags.interactive === true;
      if (tty && stdin && !process.stdin.isTTY)
        throw new CommandFailed(
          `${o.action === "shell" ? "workspace shell" : "exec -it"} needs a terminal (stdin is not one); use exec -i without -t`,
        );
      const seconds = o.flags.timeout === undefined ? (tty ? 0 : 3600) : Number(o.flags.timeout);
      return await streamExec({
        nc,
        commandSubject: target,
        wsid,
        argv: o.action === "shell" ? LOGIN_SHELL : o.args.slice(1),
        tty,
        stdin,
        root: o.flags.root === true,
        timeoutMs: seconds * 1000,
      });
    }
    if (o.action === "snapshots") {
      const r = await requestReply<{ result?: SnapshotInfo[] }>(
        nc,
        target,
        { type: "ListSnapshots", data: {} },
        { timeoutMs: 60_000 },
      );
      if (!r.ok) return finish(r, "");
      const rows = r.result ?? [];
      print(o.flags.json ? JSON.stringify(rows, null, 2) : snapshotsTable(rows));
      return 0;
    }
    const num = (k: string) => (o.flags[k] === undefined ? undefined : Number(o.flags[k]));
    const command: { type: string; data: unknown } = (() => {
      const quota = Object.fromEntries(
        Object.entries({
          diskMb: num("disk-mb"),
          memoryMb: num("memory-mb"),
          cpus: num("cpus"),
          pids: num("pids"),
        }).filter(([, v]) => v !== undefined),
      );
      switch (o.action) {
        case "quota":
          return { type: "SetWorkspaceQuota", data: quota };
        case "create": {
          return {
            type: "CreateWorkspaceOnHost",
            data: {
              image: o.flags.image,
              quota,
              ...(o.flags.account !== undefined && { account: o.flags.account }),
              ...(o.flags.host !== undefined && { hostId: o.flags.host }),
              ...(o.flags["user-namespaces"] === true && { userNamespaces: true }),
              ...(o.flags.network !== undefined && { network: o.flags.network }),
            },
          };
        }
        case "start":
          return { type: "StartWorkspace", data: {} };
        case "stop":
          return { type: "StopWorkspace", data: {} };
        case "delete":
          return { type: "DeleteWorkspace", data: {} };
        case "snapshot":
          return { type: "CreateSnapshot", data: { name: o.args[1] } };
        case "snapshot-delete":
          return { type: "DeleteSnapshot", data: { name: o.args[1] } };
        case "restore":
          return { type: "RestoreSnapshot", data: { name: o.args[1] } };
        case "image":
          return { type: "SetWorkspaceImage", data: { image: o.args[1] } };
        default:
          throw new CommandFailed(`unknown action ${o.action}`);
      }
    })();
    if (run.joined && command.type === "CreateWorkspaceOnHost")
      throw new CocalcError(
        "ERR_HOST_JOINED",
        `host ${run.hostId} is joined to a control plane: create workspaces there (--data-dir of the control plane)`,
      );
    // Progress the handler sends on the request's inbox: the control plane's (placement,
    // image imports) and the host's (each lifecycle event the command records), through the
    // control plane or straight from the host.
    const answer = await requestWithProgress(nc, target, JSON.stringify(command), {
      timeoutMs: 10 * 60_000,
      onProgress: (p) => process.stderr.write(`  ${wsid} ${p.line}\n`),
    });
    return finish(parseReply(answer.string()), `${wsid}: ${o.action} done`);
  } finally {
    await nc.close();
  }
}

function finish(r: Reply, done: string): number {
  if (r.ok) {
    console.log(done);
    return 0;
  }
  console.error(`cocalc-launchpad: ${errorText(r.error)}`);
  return 1;
}
