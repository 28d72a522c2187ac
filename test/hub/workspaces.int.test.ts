import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { askHub } from "../../services/gateway/hub-auth.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceView,
  type MembershipView,
} from "../../shared/hub-workspaces.js";
import type { WorkspaceView } from "../../shared/launchpad.js";
import { Buckets, hostSubjects } from "../../shared/subjects.js";
import {
  askWorkspaces,
  type HostMachine,
  hubHostUnsupported,
  setupHostMachine,
  startTestHub,
  viewEntry,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "hubhost1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub workspaces skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("hub workspaces on the hub's own host", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let alice: string;
  let bob: string;

  const ws = (type: string, data: object) => askWorkspaces(hub.nc, type, data);
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
    );
  const view = <T>(bucket: string, key: string) => viewEntry<T>(hub.nc, bucket, key);
  const account = async (email: string, role: "admin" | "user") =>
    (
      await askHub<HubReply>(
        hub.nc,
        HubSubjects.command,
        "CreateAccount",
        {
          by: CONSOLE_ACTOR,
          email,
          password: "a long enough password",
          role,
        },
        "accounts service",
      )
    ).account!.id;

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    expect(hub.localHostId).toBe(HOST);
    alice = await account("alice@example.com", "admin");
    bob = await account("bob@example.com", "user");
    const imported = await hub.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("hub") } }),
      { timeout: 120_000 },
    );
    expect(imported.json<{ ok: boolean }>().ok).toBe(true);
  }, 300_000);

  afterAll(async () => {
    await hub?.stop();
    await m?.cleanup();
  });

  let wsid: string;

  it("hub workspaces - create: images of ready hosts are offered; the workspace is placed on the local host", async () => {
    const options = await until("the local host's image offered", async () => {
      const r = await ws("HubCreateOptions", { by: alice });
      return r.images?.some((i) => i.name === "bb") ? r : undefined;
    });
    expect(options.images).toEqual([{ name: "bb", hosts: [HOST] }]);
    expect(options.limits?.workspaces).toBeGreaterThan(0);
    const r = await ws("CreateHubWorkspace", {
      by: alice,
      title: "First one",
      image: "bb",
      quota: { diskMb: 200, memoryMb: 256 },
    });
    wsid = r.wsid!;
    expect(wsid).toMatch(/^w[0-9a-f]{12}$/);
    const placed = await until("placed", async () => {
      const v = await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid);
      return v?.placement === "placed" ? v : undefined;
    });
    expect(placed).toMatchObject({ owner: alice, title: "First one", hostId: HOST });
    expect(
      await view<MembershipView>(HubWorkspaceBuckets.memberships, `${alice}.${wsid}`),
    ).toMatchObject({ wsid, role: "owner" });
    // The hub's copy of the host's view.
    await until("the host's view mirrored to the hub", async () =>
      (await view<WorkspaceView>(Buckets.workspaces, wsid))?.status === "stopped"
        ? true
        : undefined,
    );
  });

  it("hub workspaces - start, snapshot, stop, restore: the mirrored view follows", async () => {
    expect((await ws("StartHubWorkspace", { by: alice, wsid })).ok).toBe(true);
    await until("running on the hub's copy", async () =>
      (await view<WorkspaceView>(Buckets.workspaces, wsid))?.status === "running"
        ? true
        : undefined,
    );
    expect((await ws("SnapshotHubWorkspace", { by: alice, wsid, name: "before" })).ok).toBe(true);
    const listed = await ws("ListHubSnapshots", { by: alice, wsid });
    expect(listed.snapshots?.map((s) => s.name)).toContain("before");
    // A running workspace cannot be restored: the host says so, in words.
    expect(
      await refusal(ws("RestoreHubWorkspace", { by: alice, wsid, name: "before" })),
    ).toMatchObject({
      code: "ERR_WORKSPACE_STATE",
    });
    expect((await ws("StopHubWorkspace", { by: alice, wsid })).ok).toBe(true);
    await until("stopped on the hub's copy", async () =>
      (await view<WorkspaceView>(Buckets.workspaces, wsid))?.status === "stopped"
        ? true
        : undefined,
    );
    expect((await ws("RestoreHubWorkspace", { by: alice, wsid, name: "before" })).ok).toBe(true);
  });

  it("hub workspaces - another account can do nothing with it, and does not see it", async () => {
    for (const type of [
      "StartHubWorkspace",
      "StopHubWorkspace",
      "DeleteHubWorkspace",
      "ListHubSnapshots",
    ])
      expect(await refusal(ws(type, { by: bob, wsid })), type).toMatchObject({
        code: "ERR_WORKSPACE_NOT_FOUND",
      });
    expect(await refusal(ws("RenameHubWorkspace", { by: bob, wsid, title: "mine" }))).toMatchObject(
      {
        code: "ERR_WORKSPACE_NOT_FOUND",
      },
    );
    expect(await view(HubWorkspaceBuckets.memberships, `${bob}.${wsid}`)).toBeUndefined();
    expect((await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid))?.title).toBe(
      "First one",
    );
  });

  it("hub workspaces - the account's limits: cpus, memory and disk per workspace, disk together", async () => {
    const create = (quota: object) =>
      refusal(ws("CreateHubWorkspace", { by: bob, title: "big", image: "bb", quota }));
    expect(await create({ cpus: 64 })).toMatchObject({ code: "ERR_HUB_LIMIT" });
    expect(await create({ memoryMb: 1_000_000 })).toMatchObject({ code: "ERR_HUB_LIMIT" });
    expect(await create({ diskMb: 1_000_000 })).toMatchObject({
      code: "ERR_HUB_LIMIT",
      message: expect.stringMatching(/at most \d+ MB are left/),
    });
    // Nothing was made.
    const mine: string[] = [];
    for await (const k of await (await new Kvm(hub.nc).open(HubWorkspaceBuckets.memberships)).keys(
      `${bob}.*`,
    ))
      mine.push(k);
    expect(mine).toEqual([]);
  });

  it("hub workspaces - a workspace no host can take says why; it can be deleted", async () => {
    const r = await ws("CreateHubWorkspace", {
      by: bob,
      title: "nowhere",
      image: "noimage",
      quota: {},
    });
    const failed = await until("placement failed", async () => {
      const v = await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, r.wsid!);
      return v?.placement === "failed" ? v : undefined;
    });
    expect(failed.error?.message).toMatch(/noimage/);
    expect(await refusal(ws("StartHubWorkspace", { by: bob, wsid: r.wsid! }))).toMatchObject({
      code: "ERR_WORKSPACE_STATE",
      message: expect.stringMatching(/no host took the workspace/),
    });
    expect((await ws("DeleteHubWorkspace", { by: bob, wsid: r.wsid! })).ok).toBe(true);
    await until("gone from bob's list", async () =>
      (await view(HubWorkspaceBuckets.memberships, `${bob}.${r.wsid}`)) === undefined
        ? true
        : undefined,
    );
  });

  it("hub workspaces - the owner deletes it: gone from the host, the hub's views and the list", async () => {
    expect((await ws("DeleteHubWorkspace", { by: alice, wsid })).ok).toBe(true);
    await until("gone from the hub's views", async () =>
      (await view(HubWorkspaceBuckets.workspaces, wsid)) === undefined &&
      (await view(HubWorkspaceBuckets.memberships, `${alice}.${wsid}`)) === undefined
        ? true
        : undefined,
    );
    await until("gone from the hub's copy of the host's view", async () =>
      (await view(Buckets.workspaces, wsid)) === undefined ? true : undefined,
    );
    expect(await refusal(ws("StartHubWorkspace", { by: alice, wsid }))).toMatchObject({
      code: "ERR_WORKSPACE_NOT_FOUND",
    });
  });

  it("hub workspaces - an admin sets an account's limits: what it may create follows", async () => {
    const limits = { workspaces: 1, diskMb: 1000, cpusPerWorkspace: 1, memoryMbPerWorkspace: 512 };
    // Only an admin may.
    expect(
      await refusal(
        askHub<HubReply>(
          hub.nc,
          HubSubjects.command,
          "SetAccountLimits",
          {
            by: bob,
            account: bob,
            limits: { ...limits, workspaces: 100 },
          },
          "accounts service",
        ),
      ),
    ).toMatchObject({ code: "ERR_HUB_FORBIDDEN" });
    const set = await askHub<HubReply>(
      hub.nc,
      HubSubjects.command,
      "SetAccountLimits",
      {
        by: alice,
        account: bob,
        limits,
      },
      "accounts service",
    );
    expect(set.account?.limits).toEqual(limits);
    await until("bob's limits in force", async () => {
      const r = await ws("HubCreateOptions", { by: bob });
      return r.limits?.workspaces === 1 ? true : undefined;
    });
    expect(
      await refusal(
        ws("CreateHubWorkspace", { by: bob, title: "x", image: "bb", quota: { cpus: 2 } }),
      ),
    ).toMatchObject({ code: "ERR_HUB_LIMIT", message: expect.stringMatching(/at most 1 cpus/) });
    const one = await ws("CreateHubWorkspace", {
      by: bob,
      title: "one",
      image: "bb",
      quota: { cpus: 1, memoryMb: 256, diskMb: 200 },
    });
    await until("bob's first placed", async () =>
      (await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, one.wsid!))?.placement ===
      "placed"
        ? true
        : undefined,
    );
    expect(
      await refusal(
        ws("CreateHubWorkspace", { by: bob, title: "two", image: "bb", quota: { diskMb: 200 } }),
      ),
    ).toMatchObject({
      code: "ERR_HUB_LIMIT",
      message: expect.stringMatching(/may have 1 workspaces/),
    });
    expect((await ws("DeleteHubWorkspace", { by: bob, wsid: one.wsid! })).ok).toBe(true);
  });
});
