/**
 * Operating workspaces on a real host (real btrfs on a loop device, Debian's podman): the
 * snapshot listing, the workspace's network, error messages without host paths and the one
 * disk limit of a workspace.
 */
import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workspaceHostRegistry } from "../../services/host/decider.js";
import { hostService } from "../../services/host/index.js";
import { diskGroup } from "../../services/host/layout.js";
import type { QuotaFile } from "../../services/host/quota-file.js";
import { btrfs as hostBtrfs } from "../../services/host/system.js";
import { lastSubjectSeq, readSubject } from "../../services/runtime/stream-read.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import type { ExecResult, SnapshotInfo, WorkspaceView } from "../../shared/launchpad.js";
import { Buckets, hostSubjects, Keys, Streams, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { snapshotsTable } from "./client.js";

const execFileP = promisify(execFile);
const HOST = "hostops1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`launchpad operate tests skipped: ${unsupported}`);

type Reply<T = unknown> = {
  ok: boolean;
  error?: { code: string; message: string };
  result?: T;
};

describe.skipIf(unsupported !== undefined)("operating workspaces (real btrfs, real podman)", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;

  const send = async <T = ExecResult>(
    wsid: string,
    type: string,
    data: unknown = {},
  ): Promise<Reply<T>> =>
    (
      await t.nc.request(workspaceSubjects(wsid).command("host"), JSON.stringify({ type, data }), {
        timeout: 60_000,
      })
    ).json<Reply<T>>();
  const ok = async <T = ExecResult>(wsid: string, type: string, data: unknown = {}) => {
    const r = await send<T>(wsid, type, data);
    if (!r.ok) throw new Error(`${type} ${wsid}: ${r.error?.code} ${r.error?.message}`);
    return r;
  };
  const sh = async (wsid: string, script: string) =>
    (await ok(wsid, "ExecInWorkspace", { argv: ["/bin/sh", "-c", script] })).result!;
  const view = async (wsid: string) => {
    const e = await (await new Kvm(t.nc).open(Buckets.workspaces)).get(Keys.workspace(wsid));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<WorkspaceView>() : undefined;
  };

  /** The host's sample of a workspace's disk use (the view's, once the sampler wrote it). */
  const runtimeUsage = async (ws: string) =>
    until("the disk use sampled", async () => {
      const u = (await view(ws))?.usage;
      return u?.usedMb !== undefined && u.homeMb >= 20 && u.scratchMb > 0
        ? (u as Required<typeof u>)
        : undefined;
    });

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    await supervisor.start([
      hostService({ hostId: HOST, root: m.root, snapshotEveryMs: 0, usageEveryMs: 200 }),
    ]);
    const r = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("o") } }),
      { timeout: 120_000 },
    );
    expect(r.json<Reply>().ok).toBe(true);
  });

  afterAll(async () => {
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("workspace snapshots: names, times and sizes, newest first", async () => {
    const ws = "wssnaps";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 200 } });
    expect((await ok<SnapshotInfo[]>(ws, "ListSnapshots")).result).toEqual([]);
    await ok(ws, "StartWorkspace");
    await sh(ws, "dd if=/dev/urandom of=$HOME/a bs=1M count=4 2>/dev/null; sync");
    await ok(ws, "CreateSnapshot", { name: "first" });
    // Replaced after the snapshot: its 4 MB are held by "first" only.
    await sh(ws, "rm $HOME/a; dd if=/dev/urandom of=$HOME/b bs=1M count=2 2>/dev/null; sync");
    await ok(ws, "CreateSnapshot", { name: "second" });
    const list = (await ok<SnapshotInfo[]>(ws, "ListSnapshots")).result!;
    expect(list.map((s) => s.name)).toEqual(["second", "first"]);
    const [second, first] = list as [SnapshotInfo, SnapshotInfo];
    expect(Date.parse(second.takenAt)).toBeGreaterThanOrEqual(Date.parse(first.takenAt));
    expect(first.exclusiveBytes).toBeGreaterThanOrEqual(4 * 2 ** 20);
    expect(first.referencedBytes).toBeGreaterThanOrEqual(4 * 2 ** 20);
    // "second" shares its 2 MB with home.
    expect(second.exclusiveBytes).toBeLessThan(2 ** 20);
    expect(second.referencedBytes).toBeGreaterThanOrEqual(2 * 2 ** 20);
    const printed = snapshotsTable(list).split("\n");
    expect(printed[0]).toMatch(/^SNAPSHOT\s+TAKEN\s+EXCLUSIVE\s+REFERENCED$/);
    expect(printed[1]).toMatch(/^second\s/);
    expect(printed[2]).toMatch(/^first\s+\S+\s+4\.\d MB\s+4\.\d MB$/);
    expect((await send("nosuchws", "ListSnapshots")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
    await until("view removed", async () => (await view(ws)) === undefined);
  });

  it("network: outbound by default (an address and a default route), none: only loopback", async () => {
    // Nothing leaves this machine: the container's network namespace is read, not used.
    const look =
      "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; echo ---; ip -4 -o addr; echo ---; cat /proc/net/route";
    const netOf = async (ws: string) => {
      const r = await sh(ws, look);
      expect(r.exitCode).toBe(0);
      const [ifaces = "", addrs = "", routes = ""] = r.stdout.split("---\n");
      return {
        interfaces: ifaces.split("\n").filter(Boolean).sort(),
        addresses: addrs
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(/\s+/).slice(1, 4).join(" ")),
        // /proc/net/route: Iface Destination Gateway …; destination 00000000 is the default.
        defaultVia: routes
          .split("\n")
          .slice(1)
          .map((l) => l.split(/\s+/))
          .filter((f) => f[1] === "00000000")
          .map((f) => f[0]),
      };
    };
    await ok("wsnet", "CreateWorkspaceOnHost", { image: "bb" });
    await ok("wsnet", "StartWorkspace");
    const net = await netOf("wsnet");
    expect(net.interfaces).toContain("lo");
    const outside = net.interfaces.filter((i) => i !== "lo");
    expect(outside.length).toBeGreaterThan(0);
    expect(net.addresses.some((a) => outside.some((i) => a.startsWith(`${i} inet `)))).toBe(true);
    expect(net.defaultVia.length).toBeGreaterThan(0);
    expect(outside).toContain(net.defaultVia[0]);
    expect((await view("wsnet"))?.network).toBe("default");

    await ok("wsnonet", "CreateWorkspaceOnHost", { image: "bb", network: "none" });
    await ok("wsnonet", "StartWorkspace");
    expect(await netOf("wsnonet")).toEqual({
      interfaces: ["lo"],
      addresses: ["lo inet 127.0.0.1/8"],
      defaultVia: [],
    });
    expect(
      (await send("wsbadnet", "CreateWorkspaceOnHost", { image: "bb", network: "host" })).error
        ?.code,
    ).toBe("ERR_COMMAND_INVALID");
    expect(await view("wsbadnet")).toBeUndefined();
    for (const ws of ["wsnet", "wsnonet"]) {
      await ok(ws, "StopWorkspace");
      await ok(ws, "DeleteWorkspace");
    }
  });

  it("errors never show host paths: the workspace's paths instead, in answers and in events", async () => {
    const ws = "wserrs";
    const errors: string[] = [];
    const refused = async (type: string, data: unknown, code: string) => {
      const r = await send(ws, type, data);
      expect(r.error?.code, JSON.stringify(r)).toBe(code);
      errors.push(r.error!.message);
      return r.error!.message;
    };
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 40 } });
    await refused("SetWorkspaceImage", { image: "nosuchimage" }, "ERR_HOST_IMAGE");
    expect(
      (await send("wserrs2", "CreateWorkspaceOnHost", { image: "nosuchimage" })).error?.code,
    ).toBe("ERR_HOST_IMAGE");
    await refused("SetWorkspaceImage", { image: "../images" }, "ERR_COMMAND_INVALID");
    await refused("RestoreSnapshot", { name: "missing" }, "ERR_WORKSPACE_SNAPSHOT");
    // A snapshot the host has on record but not on disk (removed behind its back): btrfs's
    // own message, which names the host's paths, reaches people with the workspace's.
    await ok(ws, "CreateSnapshot", { name: "gone" });
    const p = join(m.root, "workspaces", ws);
    await execFileP("btrfs", ["subvolume", "delete", join(p, "snapshots", "gone")]);
    expect(await refused("RestoreSnapshot", { name: "gone" }, "ERR_WORKSPACE_SNAPSHOT")).toMatch(
      /^snapshot gone is on record but gone/,
    );
    // A start that fails on the host (its overlay's work dir is gone): the failure event too.
    await rm(join(p, "layer", "work"), { recursive: true });
    expect(await refused("StartWorkspace", {}, "ERR_HOST_MOUNT")).toContain(
      "mount: (the workspace's root file system): ",
    );
    await mkdir(join(p, "layer", "work"));
    await ok(ws, "StartWorkspace");
    expect(
      await refused("ExecInWorkspace", { argv: ["true"], cwd: "/nope" }, "ERR_WORKSPACE_CWD"),
    ).toBe("/nope does not exist in the workspace (or is not a folder)");
    const full = await sh(ws, "dd if=/dev/zero of=$HOME/big bs=1M count=60 conv=fsync 2>&1");
    expect(full.stdout).toMatch(/quota exceeded/i);
    errors.push(full.stdout, full.stderr);

    const hostPaths = [m.root, m.dir];
    for (const e of errors) for (const h of hostPaths) expect(e).not.toContain(h);
    const subject = workspaceSubjects(ws).hostLife;
    const events = await readSubject(
      t.js,
      workspaceHostRegistry,
      Streams.WORKSPACES,
      subject,
      0,
      await lastSubjectSeq(t.jsm, Streams.WORKSPACES, subject),
    );
    expect(events.map((e) => e.event.type)).toContain("WorkspaceActionFailed");
    const recorded = JSON.stringify(events.map((e) => e.event));
    for (const h of hostPaths) expect(recorded).not.toContain(h);
    const v = await until("the view has the start's failure", async () => {
      const x = await view(ws);
      return x?.status === "running" ? x : undefined;
    });
    for (const h of hostPaths) expect(JSON.stringify(v)).not.toContain(h);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("one disk limit for the workspace: home and /scratch together, per-part use visible", async () => {
    const ws = "wsdisk";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 40 } });
    await ok(ws, "StartWorkspace");
    const dd = (file: string, mb: number) =>
      sh(ws, `dd if=/dev/zero of=${file} bs=1M count=${mb} conv=fsync 2>&1; sync`);
    expect((await dd("$HOME/a", 20)).stdout).not.toMatch(/quota/i);
    // 30 MB more: within a limit per volume, past the one limit of 40 MB.
    expect((await dd("/scratch/b", 30)).stdout).toMatch(/Disk quota exceeded/);
    const usage = await runtimeUsage(ws);
    expect(usage.homeMb).toBeGreaterThanOrEqual(20);
    expect(usage.scratchMb).toBeGreaterThan(0);
    expect(usage.usedMb).toBeGreaterThanOrEqual(usage.homeMb + usage.scratchMb - 1);
    expect(usage.usedMb).toBeLessThanOrEqual(41);
    // A higher limit takes at once.
    await ok(ws, "SetWorkspaceQuota", { diskMb: 80 });
    expect((await dd("/scratch/c", 20)).stdout).not.toMatch(/quota/i);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("a workspace with a limit per subvolume (the old 3×N) moves to the one qgroup on start", async () => {
    const ws = "wsmigrate";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 40 } });
    const p = join(m.root, "workspaces", ws);
    const parts = [join(p, "home"), join(p, "scratch"), join(p, "layer")];
    const btrfs = async (...args: string[]) => (await execFileP("btrfs", args)).stdout;
    const ids = await Promise.all(
      parts.map(async (x) => `0/${(await btrfs("inspect-internal", "rootid", x)).trim()}`),
    );
    // The old layout, by hand: no parent qgroup, a limit of 40 MB on each subvolume.
    const group = diskGroup(ws);
    for (const id of ids) await btrfs("qgroup", "remove", id, group, m.root);
    await btrfs("qgroup", "destroy", group, m.root);
    for (const x of parts) await btrfs("qgroup", "limit", "40M", x);
    await btrfs("quota", "rescan", "-W", m.root);
    const old = await hostBtrfs.qgroups(m.root);
    expect(old.has(group)).toBe(false);
    for (const id of ids) expect(old.get(id)?.limit).toBe(40 * 2 ** 20);

    await ok(ws, "StartWorkspace");
    const now = await hostBtrfs.qgroups(m.root);
    expect(now.get(group)?.limit).toBe(40 * 2 ** 20);
    expect([...(now.get(group)?.children ?? [])].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      expect(now.get(id)?.limit).toBeNull();
      expect(now.get(id)?.parents).toEqual([group]);
    }
    // One limit for all three: 30 MB in home and 20 in /scratch do not fit in 40.
    const dd = (file: string, mb: number) =>
      sh(ws, `dd if=/dev/zero of=${file} bs=1M count=${mb} conv=fsync 2>&1; sync`);
    expect((await dd("$HOME/a", 30)).stdout).not.toMatch(/quota/i);
    expect((await dd("/scratch/b", 20)).stdout).toMatch(/Disk quota exceeded/);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("the limit and use inside: /etc/cocalc/quota follows quota changes and the samples", async () => {
    const ws = "wsquotafile";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 40 } });
    await ok(ws, "StartWorkspace");
    const read = async () => {
      const r = await sh(ws, "cat /etc/cocalc/quota; echo ---; cat /etc/cocalc/quota.json");
      expect(r.exitCode, r.stderr).toBe(0);
      const [text = "", json = ""] = r.stdout.split("---\n");
      return { text, json: JSON.parse(json) as QuotaFile };
    };
    const first = await read();
    expect(first.text).toMatch(/^disk: [\d.]+ MB used of 40 MB \(home /);
    expect(first.json.disk.limitBytes).toBe(40 * 2 ** 20);
    // Read-only for the workspace, and owned by the host.
    for (const f of ["quota", "new"]) {
      const w = await sh(ws, `echo x > /etc/cocalc/${f}`);
      expect(w.exitCode).not.toBe(0);
      expect(w.stderr).toMatch(/Read-only file system|Permission denied/);
    }
    expect((await read()).text).toMatch(/^disk: /);

    await ok(ws, "SetWorkspaceQuota", { diskMb: 60 });
    const changed = await until("the file shows the new limit", async () => {
      const f = await read();
      return f.json.disk.limitBytes === 60 * 2 ** 20 ? f : undefined;
    });
    expect(changed.text).toMatch(/^disk: [\d.]+ MB used of 60 MB/);

    const before = changed.json.disk.usedBytes;
    await sh(ws, "dd if=/dev/zero of=$HOME/f bs=1M count=12 conv=fsync 2>/dev/null; sync");
    const grown = await until("the sample shows the new file", async () => {
      const f = await read();
      return f.json.disk.usedBytes >= before + 12 * 2 ** 20 ? f : undefined;
    });
    expect(grown.json.disk.homeBytes).toBeGreaterThanOrEqual(12 * 2 ** 20);
    expect(grown.text).toMatch(/^disk: (1[2-9]|[2-5]\d)(\.\d)? MB used of 60 MB/);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });
});
