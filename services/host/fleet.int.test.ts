/**
 * The control plane's fleet service on a real nats-server: the hosts view from heartbeats
 * (a host that stops beating turns offline), the refusals of routing (no ready host, a host
 * that is not connected, a workspace on no host), and the ledger a joined host reserves
 * cores in, including a release sent again after the control plane was away. Real hosts
 * (podman, btrfs, leaf nodes) are in cli/launchpad-fleet.int.test.ts.
 */
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountView, HostView } from "../../shared/launchpad.js";
import {
  accountSubjects,
  Buckets,
  hostSubjects,
  Keys,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { controlPlaneStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { setup, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { type Fleet, startFleet } from "./fleet.js";
import { remoteLedger } from "./ledger.js";

type Reply = { ok: boolean; error?: { code: string; message: string } };

describe("the control plane's fleet service", () => {
  let t: TestNats;
  let fleet: Fleet | undefined;
  const start = async () =>
    startFleet({
      nc: t.nc,
      js: t.js,
      jsm: t.jsm,
      kvm: new Kvm(t.nc),
      log: testLog,
      now: () => new Date(),
      offlineAfterMs: 1000,
    });
  const view = async <T>(bucket: string, key: string) => {
    const e = await (await new Kvm(t.nc).open(bucket)).get(key);
    return e?.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
  };
  const send = async (wsid: string, type: string, data: unknown = {}) =>
    (
      await t.nc.request(workspaceSubjects(wsid).command("host"), JSON.stringify({ type, data }), {
        timeout: 10_000,
      })
    ).json<Reply>();
  const beat = (
    hostId: string,
    status: HostView["status"] = "ready",
    more: Partial<HostView> = {},
  ) => {
    const v: HostView = {
      hostId,
      status,
      root: "/x",
      runtime: "runc",
      cgroup: "v1",
      running: 0,
      workspaces: 0,
      disk: { totalMb: 100_000, usedMb: 0 },
      images: ["bb"],
      capacity: { cpus: 4, memoryMb: 16_384 },
      committed: { cpus: 0, memoryMb: 0 },
      coresByAccount: {},
      beatAt: new Date().toISOString(),
      ...more,
    };
    t.nc.publish(hostSubjects(hostId).beat, JSON.stringify(v));
  };

  beforeAll(async () => {
    t = await setup();
    await ensureStreams(t.jsm, controlPlaneStreams());
    fleet = await start();
  });
  afterAll(async () => {
    await fleet?.stop();
    await t?.cleanup();
  });

  it("with no host ready, a create is refused and nothing is placed", async () => {
    const r = await send("w0", "CreateWorkspaceOnHost", { image: "bb" });
    expect(r.error?.code).toBe("ERR_HOST_OFFLINE");
    expect(r.error?.message).toMatch(/no host is ready/);
    expect((await send("w0", "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
  });

  it("a beat makes a host ready; one that stops beating turns offline; a beat for another host id is ignored", async () => {
    beat("hx");
    await until(
      "hx ready",
      async () => (await view<HostView>(Buckets.hosts, "hx"))?.status === "ready",
    );
    // A beat on hx's subject that says it is hy.
    t.nc.publish(hostSubjects("hx").beat, JSON.stringify({ hostId: "hy", status: "ready" }));
    await t.nc.flush();
    // A ready host with nobody answering its subjects: the create is refused and undone.
    const r = await send("w1", "CreateWorkspaceOnHost", { image: "bb", hostId: "hx" });
    expect(r.error?.code).toBe("ERR_HOST_OFFLINE");
    expect(r.error?.message).toMatch(/on host hx, which is not connected/);
    expect((await send("w1", "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
    await until(
      "hx offline",
      async () => (await view<HostView>(Buckets.hosts, "hx"))?.status === "offline",
      10_000,
    );
    expect(await view<HostView>(Buckets.hosts, "hy")).toBeUndefined();
    const late = await send("w2", "CreateWorkspaceOnHost", { image: "bb", hostId: "hx" });
    expect(late.error?.message).toMatch(/host hx is offline \(last heard /);
    const unknown = await send("w2", "CreateWorkspaceOnHost", { image: "bb", hostId: "nope" });
    expect(unknown.error?.message).toMatch(/host nope is not known to the control plane/);
    beat("hx");
    await until(
      "hx back",
      async () => (await view<HostView>(Buckets.hosts, "hx"))?.status === "ready",
    );
  });

  it("a create no ready host can take is refused with each host's reason, and nothing is placed", async () => {
    beat("hfull", "ready", { committed: { cpus: 3, memoryMb: 0 } });
    beat("hnoimage", "ready", { images: [] });
    await until("both ready", async () => {
      const [a, b] = await Promise.all([
        view<HostView>(Buckets.hosts, "hfull"),
        view<HostView>(Buckets.hosts, "hnoimage"),
      ]);
      return a?.status === "ready" && b?.status === "ready";
    });
    beat("hx", "ready", { images: [], disk: { totalMb: 1000, usedMb: 900 } });
    const r = await send("wbig", "CreateWorkspaceOnHost", {
      image: "base",
      quota: { cpus: 2, memoryMb: 512, diskMb: 200 },
    });
    expect(r.error?.code).toBe("ERR_HOST_NO_FIT");
    expect(r.error?.message).toContain(
      "no host can take workspace wbig (image base, 2 cores, 512 MB memory, 200 MB disk): ",
    );
    expect(r.error?.message).toContain("hfull: 1 of 4 cores free");
    expect(r.error?.message).toContain(
      "hnoimage: no image base and the control plane has no images to import (start it with --images DIR)",
    );
    expect(r.error?.message).toContain("hx: 100 MB of disk free");
    expect((await send("wbig", "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
    beat("hx");
  });

  it("a joined host's ledger: reserve within the quota, refuse above it, release even after the control plane was away", async () => {
    const ledger = remoteLedger(t.nc, "hx", testLog, 500);
    const meta = { actor: "host:hx", at: new Date().toISOString() };
    const quota = await t.nc.request(
      accountSubjects("acme").command,
      JSON.stringify({ type: "SetAccountCoresQuota", data: { cores: 1.5 } }),
    );
    expect(quota.json<Reply>().ok).toBe(true);
    await ledger.reserve({ account: "acme", wsid: "w1", cores: 1 }, meta);
    await expect(
      ledger.reserve({ account: "acme", wsid: "w2", cores: 1 }, meta),
    ).rejects.toMatchObject({
      code: "ERR_ACCOUNT_CORES_QUOTA",
    });
    await until("acme in the view", async () => {
      const v = await view<AccountView>(Buckets.accounts, Keys.account("acme"));
      return v?.coresRunning === 1 && v.workspaces.w1?.hostId === "hx";
    });

    await fleet!.stop();
    fleet = undefined;
    // The control plane is away: a start is refused, a stop goes on and its release waits.
    await expect(
      ledger.reserve({ account: "acme", wsid: "w3", cores: 0.5 }, meta),
    ).rejects.toMatchObject({
      code: "ERR_ACCOUNT_LEDGER",
    });
    await ledger.release("acme", "w1", meta);
    // What a restarted host finds running is recorded later, whatever the quota.
    await ledger.reserve({ account: "acme", wsid: "w4", cores: 2, force: true }, meta);
    fleet = await start();
    await ledger.retry();
    await until("w1 released, w4 recorded", async () => {
      const v = await view<AccountView>(Buckets.accounts, Keys.account("acme"));
      return v?.coresRunning === 2 && v.workspaces.w1 === undefined && v.workspaces.w4?.cores === 2;
    });
  });
});
