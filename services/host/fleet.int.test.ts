/**
 * The control plane's fleet service on a real nats-server: the hosts view from heartbeats
 * (a host that stops beating turns offline), the refusals of routing (no ready host, a host
 * that is not connected, a workspace on no host), and the ledger a joined host reserves
 * cores in, including a release sent again after the control plane was away. Real hosts
 * (podman, btrfs, leaf nodes) are in cli/launchpad/fleet.int.test.ts.
 */
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountView, HostView } from "../../shared/launchpad.js";
import {
  accountSubjects,
  Buckets,
  FleetSubjects,
  hostSubjects,
  Keys,
  RegistrySubjects,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { controlPlaneStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { setup, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { readSubjectMessages } from "../runtime/stream-read.js";
import { type Fleet, startFleet } from "./fleet.js";
import { remoteLedger } from "./ledger.js";

type Reply = { ok: boolean; error?: { code: string; message: string } };

describe("the control plane's fleet service", () => {
  let t: TestNats;
  let fleet: Fleet | undefined;
  const start = async (imagesDir?: string) =>
    startFleet({
      nc: t.nc,
      js: t.js,
      jsm: t.jsm,
      kvm: new Kvm(t.nc),
      log: testLog,
      now: () => new Date(),
      offlineAfterMs: 1000,
      ...(imagesDir !== undefined && { imagesDir }),
    });
  const admin = async (type: string, data: object) =>
    (
      await t.nc.request(FleetSubjects.command, JSON.stringify({ type, data }), {
        timeout: 10_000,
      })
    ).json<Reply & { drainedAt?: string | null; result?: unknown }>();
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

  it("a drained host takes no new workspace and says why; its record shows it; undrained, it takes them again", async () => {
    // Two hosts that keep beating (what hd2 says of itself can change); the earlier ones
    // stop, and are offline before anything is placed.
    const hd2: Partial<HostView> = { workspaces: 5 };
    const beating = setInterval(() => {
      beat("hd1");
      beat("hd2", "ready", hd2);
    }, 200);
    try {
      await drainTest(hd2);
    } finally {
      clearInterval(beating);
    }
  });
  const drainTest = async (hd2: Partial<HostView>) => {
    let seen = "";
    await until("only hd1 and hd2 ready", async () => {
      const views = await Promise.all(
        ["hd1", "hd2", "hx", "hfull", "hnoimage"].map((h) => view<HostView>(Buckets.hosts, h)),
      );
      seen = views.map((v) => `${v?.hostId}:${v?.status}@${v?.seenAt}`).join(" ");
      return views.map((v) => v?.status).join() === "ready,ready,offline,offline,offline";
    }).catch((err: Error) => {
      throw new Error(`${err.message}; the hosts' records last said ${seen}`);
    });
    expect(await admin("DrainHost", { hostId: "nohost", by: "adm1" })).toMatchObject({
      ok: false,
      error: { code: "ERR_HOST_NOT_FOUND" },
    });
    const d = await admin("DrainHost", { hostId: "hd1", by: "adm1" });
    expect(d.ok).toBe(true);
    expect(d.drainedAt).toEqual(expect.any(String));
    // Again: nothing changes.
    expect(await admin("DrainHost", { hostId: "hd1", by: "adm1" })).toMatchObject({
      ok: true,
      drainedAt: d.drainedAt,
    });
    // Its record shows it at once, and its next beat (which says otherwise) keeps it.
    await until(
      "drained in the view",
      async () => (await view<HostView>(Buckets.hosts, "hd1"))?.drainedAt === d.drainedAt,
    );
    hd2.drainedAt = "2026-01-01T00:00:00.000Z";
    hd2.running = 1;
    await until("hd2's own word dropped", async () => {
      const v = await view<HostView>(Buckets.hosts, "hd2");
      return v?.running === 1 && v.drainedAt === undefined;
    });
    expect((await view<HostView>(Buckets.hosts, "hd1"))?.drainedAt).toBe(d.drainedAt);
    // Named, it is refused with the reason; otherwise the busier host is chosen (no one
    // answers there, so the create is undone: what counts is where it was sent).
    const named = await send("wd1", "CreateWorkspaceOnHost", { image: "bb", hostId: "hd1" });
    expect(named.error?.code).toBe("ERR_HOST_NO_FIT");
    expect(named.error?.message).toContain(
      `hd1: draining since ${d.drainedAt} (it takes no new workspaces)`,
    );
    const any = await send("wd1", "CreateWorkspaceOnHost", { image: "bb" });
    expect(any.error?.message).toMatch(/on host hd2, which is not connected/);
    const u = await admin("UndrainHost", { hostId: "hd1", by: "adm1" });
    expect(u).toMatchObject({ ok: true, drainedAt: null });
    await until(
      "undrained in the view",
      async () => (await view<HostView>(Buckets.hosts, "hd1"))?.drainedAt === undefined,
    );
    const back = await send("wd1", "CreateWorkspaceOnHost", { image: "bb" });
    expect(back.error?.message).toMatch(/on host hd1, which is not connected/);
    // Both are recorded on the host's registry subject, with the admin as the actor.
    const events = await readSubjectMessages(
      t.js,
      Streams.REGISTRY,
      RegistrySubjects.host("hd1"),
      0,
      Number.MAX_SAFE_INTEGER,
    ).then((ms) => ms.map((m) => JSON.parse(new TextDecoder().decode(m.data))));
    expect(events.map((e) => `${e.type} ${e.actor}`)).toEqual([
      "HostDrained adm1",
      "HostUndrained adm1",
    ]);
  };

  it("an admin imports only a rootfs directory of the hub's images directory; the host must be ready", async () => {
    const images = join(t.dir, "images");
    for (const d of ["good/bin", "nobin", "../outside/bin"])
      await mkdir(join(images, d), { recursive: true });
    await symlink("/", join(images, "escape"));
    await symlink(join(t.dir, "outside"), join(images, "sideways"));
    expect(await admin("ListImageSources", {})).toMatchObject({
      ok: false,
      error: { code: "ERR_HOST_IMAGE_SOURCE", message: expect.stringMatching(/--images DIR/) },
    });
    await fleet!.stop();
    fleet = await start(images);
    try {
      expect(await admin("ListImageSources", {})).toEqual({
        ok: true,
        result: [{ name: "good", path: join(images, "good") }],
      });
      for (const source of [
        "/",
        join(images, "escape"),
        join(images, "sideways"),
        join(images, "nobin"),
        join(images, "good", "..", "..", "outside"),
        join(images, "missing"),
        images,
      ])
        expect(
          await admin("ImportImageOnHost", { hostId: "hd1", name: "x", source, by: "adm1" }),
          source,
        ).toMatchObject({ ok: false, error: { code: "ERR_HOST_IMAGE_SOURCE" } });
      // A good source on a host that is not known, or not ready.
      const good = join(images, "good");
      expect(
        await admin("ImportImageOnHost", { hostId: "nohost", name: "x", source: good, by: "a" }),
      ).toMatchObject({ ok: false, error: { code: "ERR_HOST_NOT_FOUND" } });
      beat("hd3", "stopped");
      await until(
        "hd3 known",
        async () => (await view<HostView>(Buckets.hosts, "hd3")) !== undefined,
      );
      expect(
        await admin("ImportImageOnHost", { hostId: "hd3", name: "x", source: good, by: "a" }),
      ).toMatchObject({ ok: false, error: { code: "ERR_HOST_OFFLINE" } });
      // Not a command of the fleet's, or bad data: refused as such.
      expect((await admin("RemoveHost", { hostId: "hd1" })).error?.code).toBe(
        "ERR_COMMAND_UNKNOWN",
      );
      expect((await admin("DrainHost", { hostId: "a.b" })).error?.code).toBe("ERR_COMMAND_INVALID");
    } finally {
      await fleet!.stop();
      fleet = await start();
    }
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
