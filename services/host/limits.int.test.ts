import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  autoSnapshotName,
  type ExecResult,
  type RetentionRule,
  snapshotsToPrune,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import { Buckets, hostSubjects, Keys, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { hostService } from "./index.js";

const HOST = "hostlimits1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`host limit tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: ExecResult };

const HOUR = 3_600_000;
const RETENTION: readonly RetentionRule[] = [
  { everyMs: HOUR, keep: 3 },
  { everyMs: 24 * HOUR, keep: 2 },
];

/** cgroup v2 files, or their v1 equivalents, as one line each: memory bytes, cpu quota period. */
const LIMITS = [
  "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
  'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
].join("; ");

describe.skipIf(unsupported !== undefined)("host limits and the snapshot schedule", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;
  /** The host's clock: the test moves it. */
  let clock = new Date("2026-03-01T00:30:00Z");

  const send = async (wsid: string, type: string, data: unknown = {}): Promise<Reply> =>
    (
      await t.nc.request(workspaceSubjects(wsid).command("host"), JSON.stringify({ type, data }), {
        timeout: 60_000,
      })
    ).json<Reply>();
  const ok = async (wsid: string, type: string, data: unknown = {}) => {
    const r = await send(wsid, type, data);
    if (!r.ok) throw new Error(`${type} ${wsid}: ${r.error?.code} ${r.error?.message}`);
    return r;
  };
  const limits = async (wsid: string) => {
    const r = (await ok(wsid, "ExecInWorkspace", { argv: ["/bin/sh", "-c", LIMITS] })).result!;
    const [memory, cpu] = r.stdout.trim().split("\n");
    return { memory: Number(memory), cpu: cpu!.trim() };
  };
  const view = async (wsid: string) => {
    const e = await (await new Kvm(t.nc).open(Buckets.workspaces)).get(Keys.workspace(wsid));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<WorkspaceView>() : undefined;
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, now: () => clock });
    await supervisor.start([
      hostService({
        hostId: HOST,
        root: m.root,
        snapshotEveryMs: HOUR,
        snapshotCheckMs: 20,
        retention: RETENTION,
      }),
    ]);
    const r = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("l") } }),
      { timeout: 120_000 },
    );
    expect(r.json<Reply>().ok).toBe(true);
  });

  afterAll(async () => {
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("memory and cpu limits hold inside the container and follow a quota change", async () => {
    const ws = "wslimits";
    await ok(ws, "CreateWorkspaceOnHost", {
      image: "bb",
      quota: { diskMb: 64, memoryMb: 64, cpus: 0.5 },
    });
    await ok(ws, "StartWorkspace");
    expect(await limits(ws)).toEqual({ memory: 64 * 2 ** 20, cpu: "50000 100000" });

    await ok(ws, "SetWorkspaceQuota", { memoryMb: 96, cpus: 1.5 });
    expect(await limits(ws)).toEqual({ memory: 96 * 2 ** 20, cpu: "150000 100000" });
    const v = await until("quota in the view", async () => {
      const x = await view(ws);
      return x?.quota.cpus === 1.5 ? x : undefined;
    });
    expect(v.quota).toMatchObject({ memoryMb: 96, cpus: 1.5, diskMb: 64 });

    // Bad values change nothing.
    expect((await send(ws, "SetWorkspaceQuota", { cpus: -1 })).error?.code).toBe(
      "ERR_COMMAND_INVALID",
    );
    expect(await limits(ws)).toEqual({ memory: 96 * 2 ** 20, cpu: "150000 100000" });

    // A restart starts with the recorded limits.
    await ok(ws, "StopWorkspace");
    await ok(ws, "SetWorkspaceQuota", { cpus: 0.25 });
    await ok(ws, "StartWorkspace");
    expect(await limits(ws)).toEqual({ memory: 96 * 2 ** 20, cpu: "25000 100000" });
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("scheduled snapshots are taken as the clock passes each hour and pruned by retention", async () => {
    const ws = "wssched";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 64 } });
    await ok(ws, "CreateSnapshot", { name: "mine" });
    const taken: { name: string; at: string }[] = [];
    const names = async () => ((await view(ws))?.snapshots ?? []).map((s) => s.name).sort();
    // 30 hours: more than a day, so both rules prune.
    for (let h = 0; h <= 30; h++) {
      if (h > 0) clock = new Date(clock.getTime() + HOUR);
      const name = autoSnapshotName(clock);
      taken.push({ name, at: clock.toISOString() });
      await until(`snapshot ${name}`, async () => (await names()).includes(name));
    }
    const kept = taken
      .map((s) => s.name)
      .filter((n) => !snapshotsToPrune(taken, clock, RETENTION).includes(n));
    const want = [...kept, "mine"].sort();
    await until("pruned to the retention", async () => {
      const now = await names();
      return JSON.stringify(now) === JSON.stringify(want) ? now : undefined;
    });
    // hourly ×3 (the newest three) and daily ×2 (the newest of today and of yesterday).
    expect(kept).toHaveLength(4);
    const onDisk = await readdir(join(m.root, "workspaces", ws, "snapshots"));
    expect(onDisk.sort()).toEqual(want);
    await ok(ws, "DeleteWorkspace");
  });
});
