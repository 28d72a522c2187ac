/**
 * A host restart keeps its workspaces: kill -9 of the host process, a stop with
 * --keep-workspaces (the restarted host adopts the same containers, their processes and
 * terminals), and a deliberate stop (the workspaces are stopped cleanly). Real btrfs, Debian's
 * podman, the built CLI.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeViewer, terminalCommand, typeInto } from "../../services/terminals/test-kit.js";
import type { ServiceHealth } from "../../shared/health.js";
import { containerName } from "../../shared/launchpad.js";
import { Buckets, hostSubjects, Streams, workspaceSubjects } from "../../shared/subjects.js";
import { newTerminalId } from "../../shared/terminals.js";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, type TestNats, until } from "../../test/helpers/nats.js";
import { alive, proc } from "../../test/helpers/procs.js";

const BIN = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const HOST = "hostrestart1";
const unsupported =
  (await hostUnsupported()) ?? (existsSync(BIN) ? undefined : `${BIN} is missing: npm run build`);
if (unsupported) console.warn(`launchpad host restart tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string } };

describe.skipIf(unsupported !== undefined)("a host restart keeps its workspaces", () => {
  let t: TestNats;
  let m: HostMachine;
  let host: ChildProcess | undefined;
  let output = "";
  let seedFile: string;
  const viewers: NodeViewer[] = [];
  const ws = "wsrestart";

  /** Starts the host and resolves once it printed ready. */
  const startHost = async (...extra: string[]) => {
    output = "";
    const child = spawn(
      process.execPath,
      [
        BIN,
        "host",
        "--btrfs",
        m.root,
        "--nats",
        t.url,
        "--nats-seed-file",
        seedFile,
        "--host-id",
        HOST,
        "--data-dir",
        join(m.dir, "data"),
        "--snapshot-every",
        "0",
        "--log-level",
        "warn",
        ...extra,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (b: Buffer) => {
        output += b.toString();
        if (output.includes("ready")) resolve();
      });
      child.stderr!.on("data", (b: Buffer) => {
        output += b.toString();
      });
      child.once("exit", (code) => reject(new Error(`host exited with ${code}: ${output}`)));
    });
    host = child;
  };
  const exited = (c: ChildProcess) =>
    new Promise((r) =>
      c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once("exit", r),
    );
  const send = async (type: string, data: unknown = {}) =>
    (
      await t.nc.request(workspaceSubjects(ws).command("host"), JSON.stringify({ type, data }), {
        timeout: 60_000,
      })
    ).json<Reply>();
  const inspect = () => {
    const r = spawnSync(
      "podman",
      [
        "container",
        "inspect",
        "--format",
        "{{.Id}} {{.State.Status}} {{.State.Pid}}",
        containerName(HOST, ws),
      ],
      { encoding: "utf8" },
    );
    const [id, status, pid] = r.stdout.trim().split(" ");
    return r.status === 0 ? { id, status, pid: Number(pid) } : undefined;
  };
  const lastEvent = async () => {
    const jsm = await jetstreamManager(t.nc);
    const msg = await jsm.streams.getMessage(Streams.WORKSPACES, {
      last_by_subj: workspaceSubjects(ws).hostLife,
    });
    return msg!.json<{ type: string }>().type;
  };
  /** Resolves once this host process runs the workspace's terminals service. */
  const terminalsUp = () =>
    until("the workspace's terminals service runs", async () => {
      const kv = await new Kvm(t.nc).open(Buckets.services);
      for await (const k of await kv.keys()) {
        const e = await kv.get(k);
        if (e?.operation !== "PUT" || e.length === 0) continue;
        const h = e.json<ServiceHealth>();
        if (h.service === "terminals" && h.pid === host!.pid && h.status === "running") return true;
      }
      return false;
    });
  /** A terminal's shell; returns its pid as the shell itself prints it. */
  const shellPid = async (tid: string) => {
    const v = new NodeViewer(t.nc, ws, tid);
    viewers.push(v);
    await v.attach();
    const marker = `m${Math.floor(Math.random() * 1e9)}`;
    typeInto(t.nc, ws, tid, `echo ${marker}=$$\r`);
    return Number((await v.waitFor(new RegExp(`^${marker}=(\\d+)`, "m"), 30_000))[1]);
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    seedFile = join(m.dir, "seed.nk");
    await writeFile(seedFile, `${t.seed}\n`, { mode: 0o600 });
    await startHost();
    const imported = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("bb") } }),
      { timeout: 120_000 },
    );
    expect(imported.json<Reply>().ok).toBe(true);
    expect(await send("CreateWorkspaceOnHost", { image: "bb" })).toMatchObject({ ok: true });
    expect(await send("StartWorkspace")).toMatchObject({ ok: true });
  });

  afterAll(async () => {
    for (const v of viewers) await v.stop();
    if (host && host.exitCode === null && host.signalCode === null) {
      host.kill("SIGTERM");
      await exited(host);
    }
    await m?.cleanup();
    await t?.cleanup();
  });

  it("kill -9 of the host: the restarted host adopts the container, its processes and terminals", async () => {
    const before = inspect();
    expect(before?.status).toBe("running");
    await terminalsUp();
    const tid = newTerminalId();
    expect(
      await terminalCommand(t.nc, ws, "OpenTerminal", { tid, cols: 80, rows: 24 }),
    ).toMatchObject({
      ok: true,
    });
    const pid = await shellPid(tid);
    const init = proc(before!.pid)!;

    host!.kill("SIGKILL");
    await exited(host!);
    await startHost();
    expect(output).toContain(`adopted running workspace ${ws}`);
    expect(output).not.toMatch(/reconciled: wsrestart/);
    expect(inspect()).toEqual(before);
    expect(alive(init)).toBe(true);
    // The same shell answers in the same terminal.
    await terminalsUp();
    expect(await shellPid(tid)).toBe(pid);
    expect(await lastEvent()).toBe("WorkspaceRunning");
  });

  it("a deliberate stop stops the workspaces cleanly", async () => {
    expect(inspect()?.status).toBe("running");
    host!.kill("SIGTERM");
    await exited(host!);
    expect(host!.exitCode).toBe(0);
    expect(output).toContain(`stopping workspace ${ws}`);
    expect(inspect()).toBeUndefined();
    expect(await lastEvent()).toBe("WorkspaceStopped");
  });

  it("stop with --keep-workspaces leaves them running; the next host adopts them", async () => {
    await startHost("--keep-workspaces");
    expect(output).not.toMatch(/reconciled: wsrestart/);
    expect(await send("StartWorkspace")).toMatchObject({ ok: true });
    const before = inspect();
    expect(before?.status).toBe("running");
    host!.kill("SIGTERM");
    await exited(host!);
    expect(host!.exitCode).toBe(0);
    expect(output).not.toContain(`stopping workspace ${ws}`);
    expect(inspect()).toEqual(before);
    await startHost();
    expect(output).toContain(`adopted running workspace ${ws}`);
    expect(inspect()).toEqual(before);
    expect(await lastEvent()).toBe("WorkspaceRunning");
  });
});
