import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecResult, MountView, WorkspaceView } from "../../shared/launchpad.js";
import { Buckets, hostSubjects, Keys, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  overlaysUnder,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { detectPodman, HOST_SERVICE, hostService } from "./index.js";
import { listContainers } from "./system.js";

const HOST = "hosttest1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`host tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: ExecResult };

describe.skipIf(unsupported !== undefined)("host service (real btrfs, real podman)", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;
  let mountsBefore: string[];
  const reconciled: { adopted: string[]; fixed: string[] }[] = [];

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
  const sh = async (wsid: string, script: string) =>
    (await ok(wsid, "ExecInWorkspace", { argv: ["/bin/sh", "-c", script] })).result!;
  const importImage = async (name: string, source: string) => {
    const r = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name, source } }),
      { timeout: 120_000 },
    );
    expect(r.json<Reply>()).toMatchObject({ ok: true });
  };
  const view = async (wsid: string) => {
    const e = await (await new Kvm(t.nc).open(Buckets.workspaces)).get(Keys.workspace(wsid));
    return e && e.operation === "PUT" && e.length > 0 ? e.json<WorkspaceView>() : undefined;
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST);
    mountsBefore = await overlaysUnder(m.root);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 200 });
    await supervisor.start([
      hostService({
        hostId: HOST,
        root: m.root,
        heartbeatMs: 200,
        snapshotEveryMs: 0,
        onReconciled: (r) => reconciled.push(r),
      }),
    ]);
    await importImage("bb1", await m.rootfs("one"));
    await importImage("bb2", await m.rootfs("two"));
  });

  afterAll(async () => {
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("create → start → exec → stop → start keeps home → delete; illegal transitions refused", async () => {
    const ws = "wslife";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb1", quota: { diskMb: 50 } });
    expect((await send(ws, "CreateWorkspaceOnHost", { image: "bb1" })).error?.code).toBe(
      "ERR_WORKSPACE_EXISTS",
    );
    expect((await send(ws, "StopWorkspace")).ok).toBe(true); // stopped already: nothing to do
    await ok(ws, "StartWorkspace");
    const r = await sh(
      ws,
      "id; df -m /scratch | tail -1; touch ~/x && echo touched; cat ~/.bashrc | head -1",
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("uid=1000(user)");
    expect(r.stdout).toContain("/scratch");
    expect(r.stdout).toContain("touched");
    expect(r.stdout).toContain("CoCalc workspace");
    expect((await send(ws, "DeleteWorkspace")).error?.code).toBe("ERR_WORKSPACE_STATE");
    expect((await send(ws, "SetWorkspaceImage", { image: "bb2" })).error?.code).toBe(
      "ERR_WORKSPACE_STATE",
    );
    await ok(ws, "StopWorkspace");
    expect((await send(ws, "ExecInWorkspace", { argv: ["true"] })).error?.code).toBe(
      "ERR_WORKSPACE_STATE",
    );
    await ok(ws, "StartWorkspace");
    expect((await sh(ws, "ls ~/x")).exitCode).toBe(0);
    const v = await until("view running", async () => {
      const x = await view(ws);
      return x?.status === "running" ? x : undefined;
    });
    expect(v.quota.diskMb).toBe(50);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
    await until("view removed", async () => (await view(ws)) === undefined);
    expect((await send(ws, "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
    expect(await overlaysUnder(m.root)).toEqual(mountsBefore);
  });

  it("a crash of the host service: the restarted service adopts the running container", async () => {
    const ws = "wscrash";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb1" });
    await ok(ws, "StartWorkspace");
    const idOf = async () =>
      (await listContainers(await detectPodman(), `cocalc.wsid=${ws}`)).map((c) => [c.id, c.pid]);
    const before = await idOf();
    expect(before).toHaveLength(1);
    const n = reconciled.length;
    await supervisor.restart(HOST_SERVICE);
    const r = await until("the service reconciled again", async () => reconciled[n]);
    expect(r.adopted.join(" ")).toContain(ws);
    expect(r.fixed.join(" ")).not.toContain(ws);
    expect(await idOf()).toEqual(before);
    expect((await sh(ws, "echo still here")).stdout).toBe("still here\n");
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("disk quota: writing past 50 MB fails inside the workspace with a quota error", async () => {
    const ws = "wsquota";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb1", quota: { diskMb: 50 } });
    await ok(ws, "StartWorkspace");
    const r = await sh(ws, "dd if=/dev/zero of=$HOME/big bs=1M count=60 conv=fsync 2>&1; sync");
    expect(r.stdout).toMatch(/quota exceeded/i);
    const scratch = await sh(ws, "dd if=/dev/zero of=/scratch/big bs=1M count=60 conv=fsync 2>&1");
    expect(scratch.stdout).toMatch(/quota exceeded/i);
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("snapshot → change → restore; image change while stopped; isolation inside the container", async () => {
    const ws = "wssnap";
    const other = "wsother";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb1" });
    await ok(other, "CreateWorkspaceOnHost", { image: "bb1" });
    await ok(ws, "StartWorkspace");
    await ok(other, "StartWorkspace");
    await sh(other, "echo secret > ~/other-file");
    await sh(ws, "echo one > ~/a");
    await ok(ws, "CreateSnapshot", { name: "s1" });
    expect((await send(ws, "CreateSnapshot", { name: "s1" })).error?.code).toBe(
      "ERR_WORKSPACE_SNAPSHOT",
    );
    await sh(ws, "echo two > ~/a; echo new > ~/b; echo tmp > /scratch/t");
    expect((await send(ws, "RestoreSnapshot", { name: "s1" })).error?.code).toBe(
      "ERR_WORKSPACE_STATE",
    );

    // Isolation: no capabilities, no_new_privs, no other workspace, no host files.
    const sec = await sh(
      ws,
      `grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status; ls / ; ls ${m.root} 2>&1; find / -name other-file 2>/dev/null | head -1; echo end`,
    );
    expect(sec.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(sec.stdout).toMatch(/CapBnd:\s+0000000000000000/);
    expect(sec.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(sec.stdout).not.toContain("other-file");
    expect(sec.stdout).toMatch(/No such file or directory/);
    // No nested user namespace (it would give every capability inside it).
    const userns = await sh(ws, "unshare -Ur id 2>&1; echo rc=$?");
    expect(userns.stdout).toMatch(/Operation not permitted/);
    expect(userns.stdout).toMatch(/rc=[1-9]/);
    // A UTF-8 locale; /etc/hostname says what hostname says.
    const env = await sh(ws, 'echo "LANG=$LANG"; hostname; cat /etc/hostname');
    expect(env.stdout.trim().split("\n")).toEqual(["LANG=C.UTF-8", `ws-${ws}`, `ws-${ws}`]);
    // Snapshots are there to read, not to change.
    const snaps = await sh(
      ws,
      "cat ~/.snapshots/s1/a; (echo x > ~/.snapshots/s1/a) 2>&1; echo rc=$?",
    );
    expect(snaps.stdout).toMatch(/^one\n/);
    expect(snaps.stdout).toMatch(/Read-only file system/);
    const rootSelf = await sh(ws, "cat /proc/self/uid_map");
    expect(rootSelf.stdout.trim().split(/\s+/)).toEqual(["0", "200000", "65536"]);

    await ok(ws, "StopWorkspace");
    await ok(ws, "RestoreSnapshot", { name: "s1" });
    await ok(ws, "SetWorkspaceImage", { image: "bb2" });
    await ok(ws, "StartWorkspace");
    const after = await sh(ws, "cat ~/a; ls ~/b 2>&1; cat /scratch/t; cat /etc/image-name");
    expect(after.stdout).toContain("one");
    expect(after.stdout).toMatch(/No such file/);
    expect(after.stdout).toContain("tmp"); // /scratch is not part of snapshots
    expect(after.stdout).toContain("two"); // the new image
    const v = await until("snapshot in view", async () => {
      const x = await view(ws);
      return x?.snapshots.length === 1 && x.image === "bb2" ? x : undefined;
    });
    expect(v.snapshots[0]!.name).toBe("s1");
    await ok(ws, "DeleteSnapshot", { name: "s1" });
    for (const w of [ws, other]) {
      await ok(w, "StopWorkspace");
      await ok(w, "DeleteWorkspace");
    }
    expect(await overlaysUnder(m.root)).toEqual(mountsBefore);
  });

  it("a workspace allowed nested user namespaces has them", async () => {
    const ws = "wsuserns";
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb1", userNamespaces: true });
    await ok(ws, "StartWorkspace");
    const r = await sh(ws, "unshare -Ur id -u");
    expect(r.stdout).toBe("0\n");
    await ok(ws, "StopWorkspace");
    await ok(ws, "DeleteWorkspace");
  });

  it("mounts are reference-counted: 20 start/stop cycles of 5 workspaces leak nothing", async () => {
    const wsids = ["wsc1", "wsc2", "wsc3", "wsc4", "wsc5"];
    const cycles = Number(process.env.HOST_TEST_CYCLES ?? 20);
    for (const ws of wsids) await ok(ws, "CreateWorkspaceOnHost", { image: "bb1" });
    await Promise.all(
      wsids.map(async (ws) => {
        for (let i = 0; i < cycles; i++) {
          await ok(ws, "StartWorkspace");
          await ok(ws, "StopWorkspace");
        }
      }),
    );
    expect(await overlaysUnder(m.root)).toEqual(mountsBefore);
    const mounts = await new Kvm(t.nc).open(Buckets.mounts);
    const held: MountView[] = [];
    await until("mounts view caught up", async () => {
      held.length = 0;
      for await (const k of await mounts.keys()) {
        const e = await mounts.get(k);
        if (e && e.operation === "PUT" && e.length > 0) held.push(e.json<MountView>());
      }
      return held.length === 0;
    });
    for (const ws of wsids) await ok(ws, "DeleteWorkspace");
  });
});
