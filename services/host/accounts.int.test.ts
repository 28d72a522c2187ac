import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountView,
  containerName,
  type ExecResult,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import {
  accountSubjects,
  Buckets,
  hostSubjects,
  Keys,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { detectPodman, hostService } from "./index.js";
import { listContainers } from "./system.js";

const HOST = "hostcores1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`account cores tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: ExecResult };

describe.skipIf(unsupported !== undefined)("an account's cores quota", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;

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
  const setCores = async (account: string, cores: number | null | string) =>
    (
      await t.nc.request(
        accountSubjects(account).command,
        JSON.stringify({ type: "SetAccountCoresQuota", data: { cores } }),
        { timeout: 20_000 },
      )
    ).json<Reply>();
  const kvGet = async <T>(bucket: string, key: string) => {
    const e = await (await new Kvm(t.nc).open(bucket)).get(key);
    return e && e.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
  };
  const account = (a: string) => kvGet<AccountView>(Buckets.accounts, Keys.account(a));
  const workspace = (w: string) => kvGet<WorkspaceView>(Buckets.workspaces, Keys.workspace(w));
  const cpuLimit = async (wsid: string) =>
    (
      await ok(wsid, "ExecInWorkspace", {
        argv: [
          "/bin/sh",
          "-c",
          "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ],
      })
    ).result!.stdout.trim();

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    await supervisor.start([hostService({ hostId: HOST, root: m.root, snapshotEveryMs: 0 })]);
    const imported = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("c") } }),
      { timeout: 120_000 },
    );
    expect(imported.json<Reply>().ok).toBe(true);
    for (const [wsid, cpus] of [
      ["acore1", 1],
      ["acore2", 1],
    ] as const)
      await ok(wsid, "CreateWorkspaceOnHost", {
        image: "bb",
        account: "acme",
        quota: { diskMb: 64, memoryMb: 128, cpus, pids: 100 },
      });
  });

  afterAll(async () => {
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("a start beyond the quota is refused with ERR_ACCOUNT_CORES_QUOTA and changes nothing", async () => {
    expect((await setCores("acme", 1.5)).ok).toBe(true);
    await until("quota in the view", async () => (await account("acme"))?.coresQuota === 1.5);
    await ok("acore1", "StartWorkspace");
    await until("1 core running", async () => (await account("acme"))?.coresRunning === 1);

    const jsm = t.jsm;
    const lifeBefore = (await jsm.streams.info(Streams.WORKSPACES)).state.messages;
    const refused = await send("acore2", "StartWorkspace");
    expect(refused.ok).toBe(false);
    expect(refused.error?.code).toBe("ERR_ACCOUNT_CORES_QUOTA");
    expect(refused.error?.message).toMatch(/acore2 needs 1 cores.*hold 1 of its 1\.5/);
    // Nothing happened: no event, no container, still stopped, still 1 core held.
    expect((await jsm.streams.info(Streams.WORKSPACES)).state.messages).toBe(lifeBefore);
    const names = (await listContainers(await detectPodman(), `cocalc.host=${HOST}`)).map(
      (c) => c.name,
    );
    expect(names).toEqual([containerName(HOST, "acore1")]);
    expect((await workspace("acore2"))?.status).toBe("stopped");
    expect((await account("acme"))?.workspaces).toEqual({ acore1: { hostId: HOST, cores: 1 } });
  });

  it("raising a running workspace's cpus beyond the quota is refused; within it, it applies", async () => {
    const before = await cpuLimit("acore1");
    const refused = await send("acore1", "SetWorkspaceQuota", { cpus: 2 });
    expect(refused.error?.code).toBe("ERR_ACCOUNT_CORES_QUOTA");
    expect(await cpuLimit("acore1")).toBe(before);
    expect((await workspace("acore1"))?.quota.cpus).toBe(1);

    await ok("acore1", "SetWorkspaceQuota", { cpus: 1.5 });
    await until("1.5 cores running", async () => (await account("acme"))?.coresRunning === 1.5);
    expect(await cpuLimit("acore1")).not.toBe(before);
  });

  it("a stop gives the cores back; a higher quota lets both run", async () => {
    await ok("acore1", "StopWorkspace");
    await until("nothing running", async () => (await account("acme"))?.coresRunning === 0);
    await ok("acore2", "StartWorkspace");
    expect((await send("acore1", "StartWorkspace")).error?.code).toBe("ERR_ACCOUNT_CORES_QUOTA");
    expect((await setCores("acme", 3)).ok).toBe(true);
    await ok("acore1", "StartWorkspace");
    await until("2.5 cores running", async () => (await account("acme"))?.coresRunning === 2.5);
    // A lower quota stops nothing; it only refuses more.
    expect((await setCores("acme", 1)).ok).toBe(true);
    expect((await workspace("acore1"))?.status).toBe("running");
    expect((await send("acore2", "SetWorkspaceQuota", { cpus: 2 })).error?.code).toBe(
      "ERR_ACCOUNT_CORES_QUOTA",
    );
    await ok("acore2", "SetWorkspaceQuota", { cpus: 0.5 });
    await ok("acore1", "StopWorkspace");
    await ok("acore2", "StopWorkspace");
  });

  it("bad quotas and accounts are refused", async () => {
    expect((await setCores("acme", -1)).error?.code).toBe("ERR_COMMAND_INVALID");
    expect((await setCores("acme", "many")).error?.code).toBe("ERR_COMMAND_INVALID");
    expect(
      (await send("acore3", "CreateWorkspaceOnHost", { image: "bb", account: "a.b c" })).error
        ?.code,
    ).toBe("ERR_COMMAND_INVALID");
  });
});
