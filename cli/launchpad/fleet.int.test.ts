/**
 * A control plane with two joined hosts (three real nats-servers: the control plane and two
 * leaf nodes), each host with its own loop btrfs and real podman containers: commands reach
 * only the host a workspace is on, an offline host's workspaces get ERR_HOST_OFFLINE, and one
 * account ledger on the control plane holds the cores quota across both hosts.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectServices } from "../../services/runtime/connect.js";
import type { AccountView, ExecResult, HostView, WorkspaceView } from "../../shared/launchpad.js";
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
  startTestHub,
} from "../../test/helpers/launchpad.js";
import { until } from "../../test/helpers/nats.js";
import type { HostOptions } from "./args.js";
import { runClient } from "./client.js";
import { streamExec } from "./exec.js";
import { type LaunchpadHost, startLaunchpadHost } from "./host.js";
import { issueHostToken, type RunningHub } from "./hub.js";

const PTY_HOST = new URL("../../dist/bundle/pty-host.js", import.meta.url).pathname;
const A = "fleeta";
const B = "fleetb";
const unsupported =
  (await hostUnsupported()) ??
  (existsSync(PTY_HOST) ? undefined : `${PTY_HOST} is missing: run npm run build first`);
if (unsupported) console.warn(`control plane with two hosts skipped: ${unsupported}`);

type Reply = {
  ok: boolean;
  seqs?: number[];
  error?: { code: string; message: string };
  result?: ExecResult;
};

const log = pino({ level: process.env.DEBUG_FLEET ? "debug" : "warn" });
const quiet = () => undefined;

describe.skipIf(unsupported !== undefined)("a control plane with two hosts", () => {
  let mA: HostMachine;
  let mB: HostMachine;
  let cp: RunningHub;
  let cpDir: string;
  let hostA: LaunchpadHost | undefined;
  let hostB: LaunchpadHost | undefined;
  let onB: NatsConnection;
  const heardOnB: string[] = [];

  const hostOpts = (m: HostMachine, dataDir: string, join: string): HostOptions => ({
    command: "host",
    btrfs: m.root,
    sizeBytes: 0,
    hostId: "unused",
    network: "none",
    snapshotEveryMs: 0,
    dataDir,
    logLevel: "warn",
    join,
    heartbeatMs: 500,
    cpus: 2,
  });
  const joinHost = async (m: HostMachine, hostId: string) => {
    const file = join(m.dir, `${hostId}.token`);
    await issueHostToken(
      { command: "hub-token", hostId, out: file, ttlSeconds: 600, dataDir: cpDir },
      log,
    );
    return startLaunchpadHost(hostOpts(m, join(m.dir, "data"), file), log, quiet);
  };
  /** A workspace command as any client of the control plane sends it. */
  const send = async (wsid: string, type: string, data: unknown = {}) =>
    (
      await cp.nc.request(workspaceSubjects(wsid).command("host"), JSON.stringify({ type, data }), {
        timeout: 120_000,
      })
    ).json<Reply>();
  /** The sign that what the control plane sent B before now has arrived: a probe after it. */
  let probes = 0;
  const heardOnBSoFar = async () => {
    const probe = hostSubjects(B).workspaceCommand(`probe${++probes}`);
    cp.nc.publish(probe);
    await until("a probe from the control plane at host B", async () => heardOnB.includes(probe));
    return heardOnB.filter((s) => s !== probe);
  };
  /** `cocalc-launchpad <command> <action> --data-dir <control plane>`: its output. */
  const cli = async (command: "hosts" | "workspace", action: string) => {
    const r = await cliRun(command, action);
    expect(r.code).toBe(0);
    return r.text;
  };
  /** The same with arguments and flags: its exit code, output and progress (stderr). */
  const cliRun = async (
    command: "hosts" | "workspace",
    action: string,
    args: string[] = [],
    flags: Record<string, string> = {},
  ) => {
    let text = "";
    const out = {
      write(chunk: string) {
        text += chunk;
      },
    };
    let progress = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      progress += String(chunk);
      return true;
    });
    const said = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => {
      progress += `${a.join(" ")}\n`;
    });
    try {
      const code = await runClient({ command, action, args, flags, dataDir: cpDir }, out);
      return { code, text, progress };
    } finally {
      spy.mockRestore();
      said.mockRestore();
    }
  };
  const hubView = async <T>(bucket: string, key: string): Promise<T | undefined> => {
    const e = await (await new Kvm(cp.nc).open(bucket)).get(key);
    return e?.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
  };
  const hostView = async <T>(nc: NatsConnection, bucket: string, key: string) => {
    const e = await (await new Kvm(nc).open(bucket)).get(key);
    return e?.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
  };

  beforeAll(async () => {
    mA = await setupHostMachine(A, 1024);
    mB = await setupHostMachine(B, 1024);
    cpDir = join(mA.dir, "hub");
    // The control plane's images: a directory both hosts (on this machine) can read.
    const imagesDir = join(mA.dir, "images");
    await mkdir(imagesDir);
    await rename(await mA.rootfs("base"), join(imagesDir, "base"));
    cp = await startTestHub(cpDir, { offlineAfterMs: 3000, imagesDir });
    hostA = await joinHost(mA, A);
    hostB = await joinHost(mB, B);
    // What host B's service listens to (its own workspaces' commands), and every workspace's
    // commands as a client sends them (the control plane routes those; a host never hears them).
    const run = JSON.parse(await readFile(join(mB.dir, "data", "run.json"), "utf8")) as {
      natsUrl: string;
      seedFile: string;
    };
    onB = await connectServices(
      { url: run.natsUrl, seed: (await readFile(run.seedFile, "utf8")).trim() },
      "test listener on host B",
    );
    // Listening for host A's commands from host B is refused by the control plane.
    for (const s of [
      hostSubjects(B).workspaceCommands,
      "ws.*.cmd.host",
      hostSubjects(A).workspaceCommands,
    ])
      onB.subscribe(s, {
        callback: (_e, msg) => {
          heardOnB.push(msg.subject);
        },
      });
    await onB.flush();
    for (const [h, m] of [
      [A, mA],
      [B, mB],
    ] as const) {
      const r = await cp.nc.request(
        hostSubjects(h).command,
        JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs(h) } }),
        { timeout: 120_000 },
      );
      expect(r.json<Reply>().ok).toBe(true);
    }
  }, 300_000);

  afterAll(async () => {
    await onB?.close();
    await hostA?.stop();
    await hostB?.stop();
    await cp?.stop();
    await mA?.cleanup();
    await mB?.cleanup();
  }, 300_000);

  it("the control plane's hosts view lists both hosts as ready", async () => {
    await until("both hosts ready on the control plane", async () => {
      const [a, b] = await Promise.all([
        hubView<HostView>(Buckets.hosts, Keys.host(A)),
        hubView<HostView>(Buckets.hosts, Keys.host(B)),
      ]);
      return a?.status === "ready" && b?.status === "ready";
    });
    const a = (await hubView<HostView>(Buckets.hosts, Keys.host(A)))!;
    expect(a.seenAt).toBeDefined();
    expect(a.root).toBe(mA.root);
    const listed = await cli("hosts", "list");
    expect(listed).toMatch(/^fleeta\s+ready\s/m);
    expect(listed).toMatch(/^fleetb\s+ready\s/m);
    // The control plane's view is its own: a host's bucket has only itself.
    const onA = hostA!.nc;
    expect(await hostView<HostView>(onA, Buckets.hosts, Keys.host(B))).toBeUndefined();
    expect((await hostView<HostView>(onA, Buckets.hosts, Keys.host(A)))?.seenAt).toBeUndefined();
  });

  it("placement: a host without the image gets it imported first (progress printed); when no host fits, each says why", async () => {
    const sized = { "disk-mb": "200", "memory-mb": "256", cpus: "1" };
    const made = await cliRun("workspace", "create", ["wsbase"], { image: "base", ...sized });
    expect(made.code, made.progress).toBe(0);
    // Neither host had it; the least busy one (by id on a tie) got it imported, then the workspace.
    expect(made.progress).toContain("wsbase importing image base on host fleeta");
    expect(made.progress).toContain("wsbase image base imported on host fleeta");
    // The host's own steps of the import, relayed.
    expect(made.progress).toContain("wsbase making the image read-only");
    const w = await hostView<WorkspaceView>(hostA!.nc, Buckets.workspaces, "wsbase");
    expect(w?.image).toBe("base");
    await until("host A reports image base", async () =>
      (await hubView<HostView>(Buckets.hosts, Keys.host(A)))?.images?.includes("base"),
    );
    // The next one of image base goes where base is, even though that host is busier now.
    const next = await cliRun("workspace", "create", ["wsbase2"], { image: "base", ...sized });
    expect(next.code, next.progress).toBe(0);
    expect(next.progress).not.toContain("importing");
    expect((await hostView<WorkspaceView>(hostA!.nc, Buckets.workspaces, "wsbase2"))?.image).toBe(
      "base",
    );

    // An image the control plane cannot give, and more cores than any host has.
    const none = await send("wsnone", "CreateWorkspaceOnHost", {
      image: "nosuch",
      quota: { cpus: 1, memoryMb: 256, diskMb: 200 },
    });
    expect(none.error?.code).toBe("ERR_HOST_NO_FIT");
    expect(none.error?.message).toMatch(
      /fleeta: no image nosuch and import failed: .*nosuch is not a root file system.*; fleetb: no image nosuch and import failed: /,
    );
    const big = await send("wsbig", "CreateWorkspaceOnHost", {
      image: "bb",
      quota: { cpus: 3, memoryMb: 256, diskMb: 200 },
    });
    expect(big.error?.code).toBe("ERR_HOST_NO_FIT");
    expect(big.error?.message).toMatch(/fleeta: 2 of 2 cores free; fleetb: 2 of 2 cores free/);
    for (const wsid of ["wsnone", "wsbig"])
      expect((await send(wsid, "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
    for (const wsid of ["wsbase", "wsbase2"])
      expect((await send(wsid, "DeleteWorkspace")).ok).toBe(true);
  });

  it("the console drains a host: new workspaces go elsewhere and hosts list says so; undrained, it is taken again", async () => {
    const quota = { cpus: 1, memoryMb: 256, diskMb: 200 };
    const drained = await cliRun("hosts", "drain", [A]);
    expect(drained.code, drained.progress).toBe(0);
    expect(drained.text).toMatch(
      new RegExp(`^host ${A} drained since \\S+: it takes no new workspaces`),
    );
    expect(await cli("hosts", "list")).toMatch(new RegExp(`^${A}\\s+ready, draining\\s`, "m"));
    expect((await send("wsdr1", "CreateWorkspaceOnHost", { image: "bb", quota })).ok).toBe(true);
    expect((await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsdr1"))?.hostId).toBe(B);
    const named = await send("wsdr2", "CreateWorkspaceOnHost", { image: "bb", quota, hostId: A });
    expect(named.error?.message).toMatch(new RegExp(`${A}: draining since `));
    const undrained = await cliRun("hosts", "undrain", [A]);
    expect(undrained.code, undrained.progress).toBe(0);
    expect(undrained.text).toMatch(new RegExp(`^host ${A} takes new workspaces`));
    // The least busy again, now that it may: once the hub's view of both hosts has caught up
    // (B has wsdr1; A no longer has the workspaces the tests before deleted).
    await until("the hosts' workspace counts on the hub", async () =>
      (await hubView<HostView>(Buckets.hosts, Keys.host(A)))?.workspaces === 0 &&
      ((await hubView<HostView>(Buckets.hosts, Keys.host(B)))?.workspaces ?? 0) >= 1
        ? true
        : undefined,
    );
    expect((await send("wsdr2", "CreateWorkspaceOnHost", { image: "bb", quota })).ok).toBe(true);
    expect((await hostView<WorkspaceView>(hostA!.nc, Buckets.workspaces, "wsdr2"))?.hostId).toBe(A);
    for (const wsid of ["wsdr1", "wsdr2"])
      expect((await send(wsid, "DeleteWorkspace")).ok).toBe(true);
  });

  it("a workspace's commands run on its host only; the other host hears nothing", async () => {
    const quota = { cpus: 1, memoryMb: 256, diskMb: 200 };
    expect(
      (await send("wsa1", "CreateWorkspaceOnHost", { image: "bb", quota, hostId: A })).ok,
    ).toBe(true);
    // Through the control plane, the CLI prints each step the host records, as it did on a
    // host of its own: the host sends them on the request's inbox, the control plane relays.
    const started = await cliRun("workspace", "start", ["wsa1"]);
    expect(started.code, started.progress).toBe(0);
    const lines = started.progress.split("\n").filter((l) => l.startsWith("  wsa1 "));
    expect(lines[0]).toBe("  wsa1 WorkspaceStarting");
    expect(lines.some((l) => l.startsWith("  wsa1 WorkspaceStepDone: "))).toBe(true);
    expect(lines.at(-1)).toBe("  wsa1 WorkspaceRunning");
    const id = await send("wsa1", "ExecInWorkspace", {
      argv: ["/bin/sh", "-c", "hostname; cat /etc/image-name"],
    });
    expect(id.result?.stdout).toBe(`ws-wsa1\n${A}\n`);
    // A streamed exec through the control plane: the session's subjects reach host A too.
    let streamed = "";
    const sink = {
      write(c: string | Uint8Array) {
        streamed += String(c);
        return true;
      },
    };
    const code = await streamExec({
      nc: cp.nc,
      commandSubject: workspaceSubjects("wsa1").command("host"),
      wsid: "wsa1",
      argv: ["/bin/sh", "-c", "echo streamed from $(hostname); exit 5"],
      tty: false,
      stdin: false,
      root: false,
      timeoutMs: 60_000,
      io: { stdin: process.stdin, stdout: sink, stderr: sink } as never,
    });
    expect(code).toBe(5);
    expect(streamed).toContain("streamed from ws-wsa1");
    expect((await send("wsa1", "StopWorkspace")).ok).toBe(true);

    // A has it, B has nothing of it: not its events, not its view, not its commands.
    expect((await hostView<WorkspaceView>(hostA!.nc, Buckets.workspaces, "wsa1"))?.hostId).toBe(A);
    expect(await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsa1")).toBeUndefined();
    const jsmB = await jetstreamManager(hostB!.nc);
    const onBStream = await jsmB.streams.info(Streams.WORKSPACES, { subjects_filter: ">" });
    expect(Object.keys(onBStream.state.subjects ?? {})).not.toContain(
      workspaceSubjects("wsa1").hostLife,
    );
    expect((await heardOnBSoFar()).filter((s) => s.includes("wsa1"))).toEqual([]);

    // The id is taken: a create for another host is refused, and nothing changes.
    const again = await send("wsa1", "CreateWorkspaceOnHost", { image: "bb", hostId: B });
    expect(again.error?.code).toBe("ERR_WORKSPACE_EXISTS");
    expect(again.error?.message).toMatch(/on host fleeta/);
    // Made on host A before the control plane placed anything (e.g. before A joined): found
    // in A's view and placed there at its first command.
    const direct = await cp.nc.request(
      hostSubjects(A).workspaceCommand("wsold"),
      JSON.stringify({ type: "CreateWorkspaceOnHost", data: { image: "bb", quota } }),
      { timeout: 120_000 },
    );
    expect(direct.json<Reply>().ok).toBe(true);
    await until(
      "wsold in host A's view",
      async () =>
        (await hostView<WorkspaceView>(hostA!.nc, Buckets.workspaces, "wsold"))?.status ===
        "stopped",
    );
    // Its id is taken across the fleet: a create without a host, or for host B, is refused.
    for (const data of [
      { image: "bb", quota },
      { image: "bb", quota, hostId: B },
    ]) {
      const dup = await send("wsold", "CreateWorkspaceOnHost", data);
      expect(dup.error?.code).toBe("ERR_WORKSPACE_EXISTS");
      expect(dup.error?.message).toMatch(/wsold already exists on host fleeta/);
    }
    const adopted = await send("wsold", "DeleteWorkspace");
    expect(adopted.ok, JSON.stringify(adopted)).toBe(true);
    expect(await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsold")).toBeUndefined();
    // A workspace on no host.
    expect((await send("wsnowhere", "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
  });

  it("one account ledger for both hosts: quota 2, two 1-core starts pass, a third is refused until one stops", async () => {
    const quota = { cpus: 1, memoryMb: 256, diskMb: 200 };
    const setQuota = await cp.nc.request(
      accountSubjects("acme").command,
      JSON.stringify({ type: "SetAccountCoresQuota", data: { cores: 2 } }),
      { timeout: 30_000 },
    );
    expect(setQuota.json<Reply>().ok).toBe(true);
    for (const [wsid, hostId] of [
      ["wsa2", A],
      ["wsb1", B],
      ["wsb2", B],
    ] as const)
      expect(
        (await send(wsid, "CreateWorkspaceOnHost", { image: "bb", quota, account: "acme", hostId }))
          .ok,
      ).toBe(true);

    // One on each host, at once.
    const [a2, b1] = await Promise.all([
      send("wsa2", "StartWorkspace"),
      send("wsb1", "StartWorkspace"),
    ]);
    expect(a2.ok, JSON.stringify(a2)).toBe(true);
    expect(b1.ok, JSON.stringify(b1)).toBe(true);
    const third = await send("wsb2", "StartWorkspace");
    expect(third.error?.code).toBe("ERR_ACCOUNT_CORES_QUOTA");
    expect(third.error?.message).toMatch(/hold 2 of its 2/);
    expect((await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsb2"))?.status).toBe(
      "stopped",
    );
    await until("the control plane's accounts view", async () => {
      const v = await hubView<AccountView>(Buckets.accounts, Keys.account("acme"));
      return v?.coresRunning === 2;
    });
    const acme = (await hubView<AccountView>(Buckets.accounts, Keys.account("acme")))!;
    expect(acme.coresQuota).toBe(2);
    expect(acme.workspaces).toEqual({
      wsa2: { hostId: A, cores: 1 },
      wsb1: { hostId: B, cores: 1 },
    });

    // Stopping on host A frees a core for host B.
    expect((await send("wsa2", "StopWorkspace")).ok).toBe(true);
    const retried = await send("wsb2", "StartWorkspace");
    expect(retried.ok, JSON.stringify(retried)).toBe(true);
    const out = await send("wsb2", "ExecInWorkspace", { argv: ["/bin/cat", "/etc/image-name"] });
    expect(out.result?.stdout).toBe(`${B}\n`);
    await until("the ledger after the stop and the start", async () => {
      const v = await hubView<AccountView>(Buckets.accounts, Keys.account("acme"));
      return v?.coresRunning === 2 && v.workspaces.wsb2?.hostId === B && !v.workspaces.wsa2;
    });
    for (const wsid of ["wsb1", "wsb2"]) expect((await send(wsid, "StopWorkspace")).ok).toBe(true);
    // The control plane lists every host's workspaces (read from each host's own view).
    const listed = await cli("workspace", "list");
    expect(listed).toMatch(/^wsa1\s+fleeta\s+stopped\s/m);
    expect(listed).toMatch(/^wsb2\s+fleetb\s+stopped\s/m);
  });

  it("a command for a workspace on a host that went away gets ERR_HOST_OFFLINE; the other host goes on", async () => {
    await hostA!.stop();
    hostA = undefined;
    await until("host A not ready on the control plane", async () => {
      const v = await hubView<HostView>(Buckets.hosts, Keys.host(A));
      return v?.status === "stopped" || v?.status === "offline";
    });
    const r = await send("wsa1", "StartWorkspace");
    expect(r.error?.code).toBe("ERR_HOST_OFFLINE");
    expect(r.error?.message).toMatch(
      /workspace wsa1 is on host fleeta, which is (stopped|offline)/,
    );
    // Not taken by host B.
    expect((await heardOnBSoFar()).filter((s) => s.includes("wsa1"))).toEqual([]);
    expect(await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsa1")).toBeUndefined();
    // A new workspace without a host goes to the one that is ready.
    const small = { cpus: 1, memoryMb: 256, diskMb: 200 };
    expect((await send("wsany", "CreateWorkspaceOnHost", { image: "bb", quota: small })).ok).toBe(
      true,
    );
    expect((await hostView<WorkspaceView>(hostB!.nc, Buckets.workspaces, "wsany"))?.hostId).toBe(B);
    expect((await send("wsany", "DeleteWorkspace")).ok).toBe(true);
    // Deleted: the id is free again.
    expect((await send("wsany", "StartWorkspace")).error?.code).toBe("ERR_WORKSPACE_NOT_FOUND");
  });
});
