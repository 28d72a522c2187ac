/**
 * Notebooks' kernels of container workspaces: each runs inside its workspace's container as
 * the workspace user (podman exec), reached by the host's kernels service over ipc sockets.
 * The image is this machine's python3 with ipykernel on busybox (seconds, not a debootstrap).
 */
import { existsSync } from "node:fs";
import { chown, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectPodman, hostService, UID_BASE, workspacePaths } from "../../services/host/index.js";
import {
  KernelEventLog,
  kernelCommand,
  kernelRequest,
  kernelView,
  newExecutionId,
} from "../../services/kernels/test-kit.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { kernelIdForPath } from "../../shared/kernels.js";
import { type ExecResult, WORKSPACE_KERNELS_DIR, WORKSPACE_UID } from "../../shared/launchpad.js";
import { hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import {
  addPython,
  type HostMachine,
  hostUnsupported,
  pythonUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import {
  startWorkspaceServices,
  type WorkspaceServices,
  type WorkspaceServicesOptions,
} from "./workspaces.js";

const HOST = "kernhost1";
const PTY_HOST = new URL("../../dist/services/terminals/pty-host.js", import.meta.url).pathname;
const FS_WORKER = new URL("../../dist/services/fs/worker.js", import.meta.url).pathname;
const unsupported =
  (await hostUnsupported()) ??
  (await pythonUnsupported()) ??
  [PTY_HOST, FS_WORKER]
    .filter((f) => !existsSync(f))
    .map((f) => `${f} is missing: run npm run build first`)[0];
if (unsupported) console.warn(`kernels in container workspaces tests skipped: ${unsupported}`);

type Reply<T = unknown> = { ok: boolean; error?: { code: string; message: string }; result?: T };

describe.skipIf(unsupported !== undefined)("container workspace: notebooks' kernels inside", () => {
  let t: TestNats;
  let m: HostMachine;
  let supervisor: Supervisor;
  let services: WorkspaceServices;
  let servicesOptions: WorkspaceServicesOptions;
  const logs: KernelEventLog[] = [];
  const A = "wskernela";
  const B = "wskernelb";

  const host = async (ws: string, type: string, data: unknown = {}) =>
    (
      await t.nc.request(workspaceSubjects(ws).command("host"), JSON.stringify({ type, data }), {
        timeout: 120_000,
      })
    ).json<Reply<ExecResult>>();
  const sh = async (ws: string, script: string) => {
    const r = await host(ws, "ExecInWorkspace", { argv: ["/bin/sh", "-c", script] });
    if (!r.ok) throw new Error(`exec: ${r.error?.message}`);
    return r.result!;
  };
  const events = (ws: string, kid: string) => {
    const l = new KernelEventLog(t.nc, ws, kid);
    logs.push(l);
    return l;
  };
  async function start(ws: string, path: string) {
    const kid = kernelIdForPath(path);
    const reply = await kernelCommand(t.nc, ws, "StartKernel", {
      kid,
      path,
      kernelspec: "python3",
    });
    expect(reply).toMatchObject({ ok: true });
    const view = await until(
      "kernel idle",
      async () => {
        const v = await kernelView(t.nc, ws, kid);
        return v?.state === "idle" || v?.state === "dead" ? v : undefined;
      },
      90_000,
    );
    return { kid, view };
  }
  async function run(ws: string, kid: string, code: string) {
    const executionId = newExecutionId();
    const reply = await kernelCommand(t.nc, ws, "ExecuteCell", {
      kid,
      executionId,
      cellId: "c1",
      code,
    });
    expect(reply).toMatchObject({ ok: true });
    return executionId;
  }

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    const podman = await detectPodman();
    await supervisor.start([
      hostService({ hostId: HOST, root: m.root, podman, snapshotEveryMs: 0 }),
    ]);
    const source = await m.rootfs("py");
    await addPython(source);
    const imported = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "py", source } }),
      { timeout: 300_000 },
    );
    expect(imported.json<Reply>().ok).toBe(true);
    servicesOptions = {
      nc: t.nc,
      hostId: HOST,
      root: m.root,
      dataDir: join(m.dir, "data"),
      podman,
      ptyHostScript: PTY_HOST,
      fsWorkerScript: FS_WORKER,
      log: testLog,
      orphanExitMs: 5000,
      answerUnknown: true,
    };
    services = await startWorkspaceServices(servicesOptions);
    for (const ws of [A, B]) {
      expect((await host(ws, "CreateWorkspaceOnHost", { image: "py" })).ok).toBe(true);
      expect((await host(ws, "StartWorkspace")).ok).toBe(true);
    }
    await until("workspace services", async () =>
      [A, B].every((ws) => services.running().includes(ws)),
    );
    await sh(A, "mkdir -p /home/user/work");
  }, 600_000);

  afterAll(async () => {
    for (const l of logs) await l.stop();
    await services?.stop();
    await supervisor?.stop();
    await m?.cleanup();
    await t?.cleanup();
  });

  it("lists the kernelspecs inside the container", async () => {
    const r = await kernelRequest<{ kernelspecs: { name: string; dir: string }[] }>(t.nc, A, {
      op: "kernelspecs",
    });
    expect(r).toMatchObject({ ok: true });
    expect(r.ok && r.result.kernelspecs).toEqual([
      expect.objectContaining({ name: "python3", dir: "/usr/share/jupyter/kernels/python3" }),
    ]);
  });

  it("a kernel runs inside as the workspace user, in the notebook's folder (its path inside)", async () => {
    const { kid, view } = await start(A, "/home/user/work/nb.ipynb");
    expect(view.state).toBe("idle");
    const l = events(A, kid);
    const x = await run(
      A,
      kid,
      "import getpass, os\nprint(getpass.getuser(), os.getcwd(), os.getuid())",
    );
    expect((await l.finished(x)).data.status).toBe("ok");
    const whoami = (await sh(A, "whoami")).stdout.trim();
    expect(whoami).toBe("user");
    expect(l.stdout(x)).toBe(`${whoami} /home/user/work ${WORKSPACE_UID}\n`);
    // The pid it shows is its pid inside, and inside it is the workspace user's process.
    const inside = await sh(A, `cat /proc/${view.pid}/status`);
    expect(inside.stdout).toMatch(new RegExp(`^Uid:\\s+${WORKSPACE_UID}\\s`, "m"));
    // On the host it is the container's user (the uid map's shift), never root.
    const hostPid = JSON.parse(
      await readFile(join(m.dir, "data", "kernels", A, `${kid}.process.json`), "utf8"),
    ).pid as number;
    const status = await readFile(`/proc/${hostPid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${UID_BASE + WORKSPACE_UID}\\s`, "m"));
    // Its connection file (with the key) is the user's, 0600; its sockets went to root's folder.
    const ls = await sh(A, `ls -ln ${WORKSPACE_KERNELS_DIR}`);
    expect(ls.stdout).toMatch(
      new RegExp(`-rw------- +1 ${WORKSPACE_UID} +${WORKSPACE_UID} .* ${kid}\\.json`),
    );
    expect(ls.stdout).not.toMatch(/s[rwx-]{9} .*-1$/m);
  });

  it("interrupts `while True: pass` inside: KeyboardInterrupt, and the kernel goes on", async () => {
    const { kid } = await start(A, "/home/user/work/spin.ipynb");
    const l = events(A, kid);
    const spin = await run(A, kid, "print('spinning', flush=True)\nwhile True: pass");
    await l.waitFor("spinning", () => l.stdout(spin).includes("spinning"));
    expect(await kernelCommand(t.nc, A, "InterruptKernel", { kid })).toMatchObject({ ok: true });
    expect((await l.finished(spin)).data.status).toBe("error");
    expect(l.outputs(spin).at(-1)).toMatchObject({
      output_type: "error",
      ename: "KeyboardInterrupt",
    });
    const again = await run(A, kid, "print('still here')");
    await l.finished(again);
    expect(l.stdout(again)).toBe("still here\n");
  });

  it("a kernel outlives a restart of the workspace's services, and keeps its variables", async () => {
    const { kid } = await start(A, "/home/user/work/keep.ipynb");
    const l = events(A, kid);
    const set = await run(A, kid, "kept = 41");
    expect((await l.finished(set)).data.status).toBe("ok");
    const pid = (await kernelView(t.nc, A, kid))?.pid;
    // As a host restarted with its workspaces left running.
    await services.stop({ keepShells: true });
    services = await startWorkspaceServices(servicesOptions);
    await until("workspace services again", async () => services.running().includes(A));
    const read = await run(A, kid, "print(kept + 1)");
    expect((await l.finished(read)).data.status).toBe("ok");
    expect(l.stdout(read)).toBe("42\n");
    expect((await kernelView(t.nc, A, kid))?.pid).toBe(pid);
  });

  it("another workspace cannot reach a workspace's kernel sockets", async () => {
    const { kid, view } = await start(A, "/home/user/work/shared.ipynb");
    expect(view.state).toBe("idle");
    const pa = workspacePaths(m.root, A);
    const socket = join(pa.kernelSockets, `${kid}-1`);
    expect(existsSync(socket)).toBe(true);
    // B's folder has nothing of A's, and A's host folders are not in B's container.
    expect(
      (await sh(B, `ls -a ${WORKSPACE_KERNELS_DIR}`)).stdout.trim().split("\n").sort(),
    ).toEqual([".", ".."]);
    const probe = [
      "import socket, sys",
      "for p in sys.argv[1:]:",
      "    s = socket.socket(socket.AF_UNIX)",
      "    try:",
      "        s.connect(p); print('connected', p)",
      "    except OSError as e:",
      "        print(type(e).__name__)",
    ].join("\n");
    const r = await host(B, "ExecInWorkspace", {
      argv: [
        "/usr/bin/python3",
        "-c",
        probe,
        socket,
        join(pa.kernelsShared, `${kid}.json`),
        `${WORKSPACE_KERNELS_DIR}/${kid}-1`,
      ],
    });
    expect(r.ok).toBe(true);
    expect(r.result!.stdout.trim().split("\n")).toEqual([
      "FileNotFoundError",
      "FileNotFoundError",
      "FileNotFoundError",
    ]);
    // And A's own user reaches none of the service's sockets either.
    expect((await sh(A, `ls ${WORKSPACE_KERNELS_DIR}`)).stdout).not.toContain(`${kid}-`);
  });

  it("a container without the kernels' folder mounted says to restart the workspace", async () => {
    // As a container started before kernels had it: the host's folder is not the one inside.
    const pb = workspacePaths(m.root, B);
    await rm(pb.kernelsShared, { recursive: true });
    await mkdir(pb.kernelsShared, { mode: 0o700 });
    await chown(pb.kernelsShared, UID_BASE + WORKSPACE_UID, UID_BASE + WORKSPACE_UID);
    const { kid, view } = await start(B, "/home/user/old.ipynb");
    expect(view.state).toBe("dead");
    expect(view.died?.reason).toMatch(/restart the workspace to run kernels/);
    void kid;
  });

  it("stopping the workspace ends its kernels", async () => {
    const { kid } = await start(A, "/home/user/work/stop.ipynb");
    const l = events(A, kid);
    await l.waitFor("ready", (es) => es.some((e) => e.event.type === "KernelReady"));
    expect((await host(A, "StopWorkspace")).ok).toBe(true);
    const died = await l.waitFor("died", (es) =>
      es.map((e) => e.event).find((e) => e.type === "KernelDied"),
    );
    expect(died.data).toMatchObject({ reason: expect.stringMatching(/workspace stopped/) });
    expect((await kernelView(t.nc, A, kid))?.state).toBe("dead");
  });
});
