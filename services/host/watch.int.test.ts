/**
 * A dead container is noticed: its init stopped from inside, killed from outside, killed by
 * the OOM killer, or its conmon killed. Each time the host records why, and releases the
 * container, the rootfs and the account's cores. Real btrfs, Debian's podman.
 */
import { readFile } from "node:fs/promises";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountView,
  containerName,
  type ExecResult,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import { Buckets, hostSubjects, Keys, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  overlaysUnder,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { detectPodman, hostService } from "./index.js";
import { inspectContainer, listContainers } from "./system.js";

const HOST = "hostwatch1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`container watch tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: ExecResult };
type LifeEvent = { type: string; data: Record<string, unknown> };

describe.skipIf(unsupported !== undefined)("a dead container is noticed", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;
  let overlaysBefore: string[];

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
  const kvGet = async <T>(bucket: string, key: string) => {
    const e = await (await new Kvm(t.nc).open(bucket)).get(key);
    return e && e.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
  };
  const podman = async () => detectPodman();

  /** A running workspace of account acme; resolves with the end event the host records. */
  const runAndWatch = async (ws: string, quota: object = {}) => {
    await ok(ws, "CreateWorkspaceOnHost", { image: "bb", account: "acme", quota });
    await ok(ws, "StartWorkspace");
    await until("cores held", async () =>
      (await kvGet<AccountView>(Buckets.accounts, Keys.account("acme")))?.workspaces[ws]
        ? true
        : undefined,
    );
    const sub = t.nc.subscribe(workspaceSubjects(ws).hostLife);
    const ended = (async () => {
      for await (const msg of sub) {
        const ev = msg.json<LifeEvent>();
        if (ev.type === "WorkspaceStopped" || ev.type === "WorkspaceFailed") {
          sub.unsubscribe();
          return ev;
        }
      }
      throw new Error("no end event");
    })();
    const c = await inspectContainer(await podman(), containerName(HOST, ws));
    return { ended, container: c! };
  };
  /** After the end: nothing of the container is left, the view says why, exec is refused. */
  const released = async (ws: string) => {
    expect((await listContainers(await podman(), `cocalc.wsid=${ws}`)).map((c) => c.name)).toEqual(
      [],
    );
    expect(await overlaysUnder(m.root)).toEqual(overlaysBefore);
    await until("cores released", async () => {
      const a = await kvGet<AccountView>(Buckets.accounts, Keys.account("acme"));
      return a && a.workspaces[ws] === undefined;
    });
    const v = await until("view stopped", async () => {
      const x = await kvGet<WorkspaceView>(Buckets.workspaces, Keys.workspace(ws));
      return x?.status === "stopped" && x.ended ? x : undefined;
    });
    const exec = await send(ws, "ExecInWorkspace", { argv: ["true"] });
    expect(exec.error?.code).toBe("ERR_WORKSPACE_STATE");
    return v;
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST);
    overlaysBefore = await overlaysUnder(m.root);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    await supervisor.start([hostService({ hostId: HOST, root: m.root, snapshotEveryMs: 0 })]);
    const r = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("bb") } }),
      { timeout: 120_000 },
    );
    expect(r.json<Reply>().ok).toBe(true);
  });

  afterAll(async () => {
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("kill -TERM 1 inside: init exits 0, the workspace is stopped with the reason", async () => {
    const ws = "wsterm";
    const { ended } = await runAndWatch(ws);
    const r = await send(ws, "ExecInWorkspace", { argv: ["/bin/sh", "-c", "kill -TERM 1"] });
    expect(r.ok).toBe(true);
    expect(await ended).toMatchObject({
      type: "WorkspaceStopped",
      data: { exitCode: 0, reason: "its init exited with code 0" },
    });
    const v = await released(ws);
    expect(v.lastError).toBeUndefined();
    // It starts again as usual.
    await ok(ws, "StartWorkspace");
    await ok(ws, "StopWorkspace");
  });

  it("init killed from outside: WorkspaceFailed with the signal", async () => {
    const ws = "wskill";
    const { ended, container } = await runAndWatch(ws);
    process.kill(container.pid, "SIGKILL");
    expect(await ended).toMatchObject({
      type: "WorkspaceFailed",
      data: { exitCode: 137, error: { code: "ERR_WORKSPACE_EXITED" } },
    });
    const v = await released(ws);
    expect(v.lastError).toMatchObject({ action: "run", code: "ERR_WORKSPACE_EXITED" });
    expect(v.lastError?.message).toMatch(/SIGKILL/);
  });

  it("init killed by the OOM killer: WorkspaceFailed with oom", async () => {
    const ws = "wsoom";
    const { ended } = await runAndWatch(ws, { memoryMb: 64 });
    // Init volunteers to be the OOM killer's choice; ten shells of 10 MB each (none as big
    // as init's score) take the 64 MB cgroup over.
    const r = await send(ws, "ExecInWorkspace", {
      argv: [
        "/bin/sh",
        "-c",
        'echo 1000 > /proc/1/oom_score_adj && for i in 1 2 3 4 5 6 7 8 9 10; do (x=$(head -c 10000000 /dev/zero | tr "\\0" a); sleep 100) & done; wait',
      ],
    });
    expect(r.ok || r.error?.code === "ERR_WORKSPACE_STATE").toBe(true);
    expect(await ended).toMatchObject({
      type: "WorkspaceFailed",
      data: { oom: true, error: { code: "ERR_WORKSPACE_EXITED" } },
    });
    const v = await released(ws);
    expect(v.ended).toMatchObject({ oom: true });
    expect(v.lastError?.message).toMatch(/out of memory \(limit 64 MB\)/);
  });

  it("conmon killed: the container is stopped and WorkspaceFailed says its monitor is gone", async () => {
    const ws = "wsconmon";
    const { ended, container } = await runAndWatch(ws);
    expect((await readFile(`/proc/${container.conmonPid}/comm`, "utf8")).trim()).toBe("conmon");
    process.kill(container.conmonPid, "SIGKILL");
    expect(await ended).toMatchObject({
      type: "WorkspaceFailed",
      data: { error: { code: "ERR_WORKSPACE_EXITED", message: expect.stringMatching(/conmon/) } },
    });
    await released(ws);
    // Its init went with it.
    expect(() => process.kill(container.pid, 0)).toThrow();
  });
});
