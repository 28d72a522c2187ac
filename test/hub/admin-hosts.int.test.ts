import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { askHub } from "../../services/gateway/hub-auth.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import { HubWorkspaceBuckets, type HubWorkspaceView } from "../../shared/hub-workspaces.js";
import type { HostView, ImageView, WorkspaceView } from "../../shared/launchpad.js";
import { Buckets } from "../../shared/subjects.js";
import {
  askWorkspaces,
  type HostMachine,
  hubHostUnsupported,
  setupHostMachine,
  startTestHub,
  viewEntry,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "adminhost1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub admin hosts skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("the hub's admin pages: hosts", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let base: string;
  let imagesDir: string;
  let alice: string;
  let asAlice: string;
  let asBob: string;

  const ws = (type: string, data: object) => askWorkspaces(hub.nc, type, data);
  const view = <T>(bucket: string, key: string) => viewEntry<T>(hub.nc, bucket, key);
  const account = async (email: string, role: "admin" | "user") => {
    const password = `${email}'s long password`;
    const id = (
      await askHub<HubReply>(
        hub.nc,
        HubSubjects.command,
        "CreateAccount",
        { by: CONSOLE_ACTOR, email, password, role },
        "accounts service",
      )
    ).account!.id;
    const r = await fetch(`${base}/api/hub/sign-in`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ email, password }),
    });
    expect(r.status).toBe(200);
    return { id, credential: ((await r.json()) as { credential: string }).credential };
  };
  const call = (credential: string, method: "GET" | "POST", path: string, body?: object) =>
    fetch(`${base}/api/hub/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        origin: base,
        ...(body && { "content-type": "application/json" }),
      },
      ...(body && { body: JSON.stringify(body) }),
    });
  const json = async <T>(
    credential: string,
    method: "GET" | "POST",
    path: string,
    body?: object,
  ) => {
    const r = await call(credential, method, path, body);
    expect(r.status, `${method} ${path}`).toBe(200);
    return (await r.json()) as T;
  };
  /** An import's answer: its progress lines, then how it ended. */
  const importImage = async (name: string, source: string) => {
    const r = await call(asAlice, "POST", `/hosts/${HOST}/images`, { name, source });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/application\/x-ndjson/);
    const lines = (await r.text())
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { line?: string; ok?: boolean; error?: { code: string } });
    return { progress: lines.flatMap((l) => (l.line ? [l.line] : [])), end: lines.at(-1)! };
  };
  const placed = (wsid: string) =>
    until(`${wsid} placed or refused`, async () => {
      const v = await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid);
      return v?.placement === "placed" || v?.placement === "failed" ? v : undefined;
    });
  const hostRow = async () =>
    (await json<{ hosts: HostView[] }>(asAlice, "GET", "/hosts")).hosts.find(
      (h) => h.hostId === HOST,
    );

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    imagesDir = join(m.dir, "images");
    await mkdir(imagesDir);
    await rename(await m.rootfs("admin"), join(imagesDir, "bb"));
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
      imagesDir,
    });
    base = hub.url.replace(/\/$/, "");
    const a = await account("alice@example.com", "admin");
    alice = a.id;
    asAlice = a.credential;
    asBob = (await account("bob@example.com", "user")).credential;
    await until("the local host ready", async () =>
      (await view<HostView>(Buckets.hosts, HOST))?.status === "ready" ? true : undefined,
    );
  }, 300_000);

  afterAll(async () => {
    await hub?.stop();
    await m?.cleanup();
  });

  it("hub admin hosts - an account that is not an admin is refused every action (403), and nothing changes", async () => {
    const source = join(imagesDir, "bb");
    for (const [method, path, body] of [
      ["POST", `/hosts/${HOST}/drain`, {}],
      ["POST", `/hosts/${HOST}/undrain`, {}],
      ["GET", `/hosts/${HOST}/images`],
      ["GET", "/image-sources"],
      ["POST", `/hosts/${HOST}/images`, { name: "bobs", source }],
    ] as const) {
      const r = await call(asBob, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(((await r.json()) as { code: string }).code).toBe("ERR_HUB_FORBIDDEN");
    }
    expect((await call("not-a-credential", "POST", `/hosts/${HOST}/drain`, {})).status).toBe(401);
    expect((await view<HostView>(Buckets.hosts, HOST))?.drainedAt).toBeUndefined();
    expect((await view<HostView>(Buckets.hosts, HOST))?.images ?? []).not.toContain("bobs");
  });

  it("hub admin hosts - an admin imports an image from the images directory, with progress; the host lists it", async () => {
    expect(await json(asAlice, "GET", "/image-sources")).toEqual({
      sources: [{ name: "bb", path: join(imagesDir, "bb") }],
    });
    // Anything else is refused before anything starts.
    for (const source of ["/", m.root, join(imagesDir, "..")]) {
      const r = await call(asAlice, "POST", `/hosts/${HOST}/images`, { name: "x", source });
      expect(r.status, source).toBe(400);
      expect(((await r.json()) as { code: string }).code).toBe("ERR_HOST_IMAGE_SOURCE");
    }
    const { progress, end } = await importImage("bb", join(imagesDir, "bb"));
    expect(end).toEqual({ ok: true });
    expect(progress[0]).toMatch(/^copying image bb \(\d+ MB\)$/);
    expect(progress).toContain("making the image read-only");
    expect(progress.at(-1)).toMatch(/^image bb added \(\d+ MB\)$/);
    const listed = await json<{ total: number; images: ImageView[] }>(
      asAlice,
      "GET",
      `/hosts/${HOST}/images`,
    );
    expect(listed.total).toBe(1);
    expect(listed.images[0]).toMatchObject({ hostId: HOST, name: "bb" });
    expect(listed.images[0]!.sizeMb).toBeGreaterThan(0);
    expect(Date.parse(listed.images[0]!.addedAt)).toBeGreaterThan(Date.now() - 600_000);
    await until("the host's beat says it has bb", async () =>
      (await hostRow())?.images?.includes("bb") ? true : undefined,
    );
    // The same name again: the host says so, in words, at the end of the stream.
    const again = await importImage("bb", join(imagesDir, "bb"));
    expect(again.end).toMatchObject({
      ok: false,
      error: { code: "ERR_HOST_IMAGE", message: expect.stringMatching(/already exists/) },
    });
  });

  it("hub admin hosts - drained, the host takes no new workspace while one there keeps running; undrained, it takes them again", async () => {
    const running = await ws("CreateHubWorkspace", {
      by: alice,
      title: "runs on",
      image: "bb",
      quota: { diskMb: 200, memoryMb: 256 },
    });
    expect((await placed(running.wsid!)).placement).toBe("placed");
    expect((await ws("StartHubWorkspace", { by: alice, wsid: running.wsid! })).ok).toBe(true);
    await until("running on the hub's copy", async () =>
      (await view<WorkspaceView>(Buckets.workspaces, running.wsid!))?.status === "running"
        ? true
        : undefined,
    );

    const d = await json<{ drainedAt: string }>(asAlice, "POST", `/hosts/${HOST}/drain`, {});
    expect(Date.parse(d.drainedAt)).toBeGreaterThan(0);
    expect((await hostRow())?.drainedAt).toBe(d.drainedAt);
    // How many are still on it: from the host's next beat, the drain kept.
    const row = await until("the running workspace in the host's beat", async () => {
      const h = await hostRow();
      return h?.running === 1 ? h : undefined;
    });
    expect(row).toMatchObject({ drainedAt: d.drainedAt, workspaces: 1 });
    const refused = await ws("CreateHubWorkspace", {
      by: alice,
      title: "nowhere",
      image: "bb",
      quota: { diskMb: 200, memoryMb: 256 },
    });
    const failed = await placed(refused.wsid!);
    expect(failed.placement).toBe("failed");
    expect(failed.error).toMatchObject({
      code: "ERR_HOST_NO_FIT",
      message: expect.stringContaining(`${HOST}: draining since ${d.drainedAt}`),
    });
    // What ran there runs still, and can be stopped.
    expect((await view<WorkspaceView>(Buckets.workspaces, running.wsid!))?.status).toBe("running");
    expect((await ws("StopHubWorkspace", { by: alice, wsid: running.wsid! })).ok).toBe(true);

    expect(await json(asAlice, "POST", `/hosts/${HOST}/undrain`, {})).toEqual({
      hostId: HOST,
      drainedAt: null,
    });
    expect((await hostRow())?.drainedAt).toBeUndefined();
    const back = await ws("CreateHubWorkspace", {
      by: alice,
      title: "back",
      image: "bb",
      quota: { diskMb: 200, memoryMb: 256 },
    });
    expect(await placed(back.wsid!)).toMatchObject({ placement: "placed", hostId: HOST });
    for (const wsid of [running.wsid!, refused.wsid!, back.wsid!])
      expect((await ws("DeleteHubWorkspace", { by: alice, wsid })).ok).toBe(true);
    // A host the hub never heard of is no such host.
    for (const [method, path] of [
      ["POST", "/hosts/nohost/drain"],
      ["GET", "/hosts/nohost/images"],
    ] as const) {
      const unknown = await call(asAlice, method, path, method === "POST" ? {} : undefined);
      const body = await unknown.text();
      expect(unknown.status, `${path}: ${body}`).toBe(404);
      expect((JSON.parse(body) as { code: string }).code).toBe("ERR_HOST_NOT_FOUND");
    }
  }, 200_000);

  it("hub admin hosts - the activity lists the drain, the undrain and the import, with the admin as who did it", async () => {
    const page = await json<{ items: { type: string; actor: string; subject: string }[] }>(
      asAlice,
      "GET",
      "/activity?limit=100",
    );
    const mine = page.items
      .filter((i) => i.subject === `registry.host.${HOST}`)
      .map((i) => `${i.type} ${i.actor}`);
    expect(mine).toEqual([
      `HostUndrained ${alice}`,
      `HostDrained ${alice}`,
      `HostImageImported ${alice}`,
    ]);
  });
});
