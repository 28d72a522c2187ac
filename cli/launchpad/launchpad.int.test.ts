import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerName } from "../../shared/launchpad.js";
import { hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  overlaysUnder,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, type TestNats } from "../../test/helpers/nats.js";

const BIN = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const HOST = "hostcli1";
const unsupported = await hostUnsupported();
if (unsupported) console.warn(`launchpad CLI host tests skipped: ${unsupported}`);

describe("cocalc-launchpad flags", () => {
  it("bad flags exit with code 2 and say why", () => {
    for (const args of [
      ["host"],
      ["host", "--btrfs", "/x", "--btrfs-image", "/y"],
      ["host", "--btrfs-image", "/y", "--size", "1Q"],
      ["workspace", "create", "w1"],
      ["workspace", "explode", "w1"],
      ["workspace", "start", "bad.id"],
      ["workspace", "exec", "w1"],
      ["workspace", "create", "w1", "--image", "bb", "--account", "a.b"],
      ["workspace", "create", "w1", "--image", "bb", "--host", "a.b"],
      ["hosts", "list", "extra"],
      ["--trust-proxy", "proxy.example"],
      ["--trust-proxy", "10.0.0.0/33"],
      ["hosts"],
      ["hosts", "drain"],
      ["hosts", "undrain", "a.b"],
      ["hosts", "drain", "h1", "h2"],
      ["account", "cores", "acme", "many"],
      ["account", "cores", "a.b", "1"],
      ["account", "cores", "acme"],
      ["host", "--btrfs", "/x", "--join", "/t", "--nats", "nats://x", "--nats-seed-file", "/s"],
      ["hub", "token", "h1"],
      ["hub", "token", "h1", "--out", "/t", "--ttl", "forever"],
      ["hub", "token", "revoke"],
      ["hub", "--port", "70000"],
      ["hub", "--no-local-host", "--btrfs", "/x"],
      ["hub", "--btrfs", "/x", "--btrfs-image", "/y"],
      ["hub", "--offline-after", "soon"],
      ["control-plane"],
      ["frobnicate"],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/cocalc-launchpad: .+/);
    }
  });
});

describe.skipIf(unsupported !== undefined)("cocalc-launchpad host (real btrfs, podman)", () => {
  let t: TestNats;
  let m: HostMachine;
  let host: ChildProcess | undefined;
  let seedFile: string;

  const startHost = async () => {
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
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("ready")) resolve();
      });
      child.stderr!.on("data", (b: Buffer) => {
        out += b.toString();
      });
      child.once("exit", (code) => reject(new Error(`host exited with ${code}: ${out}`)));
    });
    host = child;
    return () => out;
  };
  const send = async (wsid: string, type: string, data: unknown = {}) =>
    (
      await t.nc.request(workspaceSubjects(wsid).command("host"), JSON.stringify({ type, data }), {
        timeout: 60_000,
      })
    ).json<{ ok: boolean; error?: { code: string; message: string } }>();
  const podmanNames = () =>
    spawnSync("podman", ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" }).stdout;

  beforeAll(async () => {
    t = await setup({ streams: true });
    m = await setupHostMachine(HOST, 1024);
    seedFile = join(m.dir, "seed.nk");
    await writeFile(seedFile, `${t.seed}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    if (host && host.exitCode === null) {
      host.kill("SIGTERM");
      await new Promise((r) => host!.once("exit", r));
    }
    await m?.cleanup();
    await t?.cleanup();
  });

  it("kill -9 of the host mid-start: the restarted host reconciles, nothing leaks", async () => {
    await startHost();
    const imported = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("bb") } }),
      { timeout: 120_000 },
    );
    expect(imported.json<{ ok: boolean }>().ok).toBe(true);
    const ws = "wskill";
    expect((await send(ws, "CreateWorkspaceOnHost", { image: "bb" })).ok).toBe(true);
    const before = await overlaysUnder(m.root);

    // Kill the host the moment the rootfs is mounted, in the middle of the start.
    const sub = t.nc.subscribe(workspaceSubjects(ws).hostLife);
    const killed = (async () => {
      for await (const msg of sub) {
        const ev = msg.json<{ type: string; data: { step?: string } }>();
        if (ev.type === "WorkspaceStepDone" && ev.data.step === "rootfs mounted") {
          host!.kill("SIGKILL");
          sub.unsubscribe();
        }
      }
    })();
    void t.nc
      .request(
        workspaceSubjects(ws).command("host"),
        JSON.stringify({ type: "StartWorkspace", data: {} }),
        {
          timeout: 60_000,
        },
      )
      .catch(() => undefined);
    await killed;
    await new Promise((r) => (host!.exitCode !== null ? r(undefined) : host!.once("exit", r)));
    expect((await overlaysUnder(m.root)).length).toBeGreaterThan(before.length); // it did leak, for now

    const output = await startHost();
    expect(output()).toMatch(/reconciled: wskill: start interrupted/);
    expect(await overlaysUnder(m.root)).toEqual(before);
    expect(podmanNames()).not.toContain(containerName(HOST, ws));

    // And the workspace works again.
    expect((await send(ws, "StartWorkspace")).ok).toBe(true);
    expect(podmanNames()).toContain(containerName(HOST, ws));
    // Its files, through the bundled fs worker, with the workspace user's rights.
    const fsReq = async (req: object) =>
      (
        await t.nc.request(workspaceSubjects(ws).request("fs"), JSON.stringify(req), {
          timeout: 30_000,
        })
      ).json<{ ok: boolean; error?: { code: string } }>();
    let wrote: { ok: boolean; error?: { code: string } } = { ok: false };
    for (let i = 0; i < 100 && !wrote.ok; i++) {
      wrote = await fsReq({
        op: "write",
        path: "~/cli.txt",
        content: "x",
        encoding: "utf8",
        exclusive: false,
      }).catch(() => ({ ok: false }));
      if (!wrote.ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(wrote.ok).toBe(true);
    expect(
      (
        await fsReq({
          op: "write",
          path: "/etc/x",
          content: "x",
          encoding: "utf8",
          exclusive: true,
        })
      ).error?.code,
    ).toBe("ERR_FS_PERMISSION");
    expect((await send(ws, "StopWorkspace")).ok).toBe(true);
    expect((await send(ws, "DeleteWorkspace")).ok).toBe(true);
    expect(await overlaysUnder(m.root)).toEqual(before);
  });
});

describe.skipIf(unsupported !== undefined)("cocalc-launchpad host --btrfs-image", () => {
  let dir: string | undefined;
  const children: ChildProcess[] = [];

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (!dir) return;
    const btrfs = join(dir, "data", "btrfs");
    const left = spawnSync("podman", ["ps", "-aq", "--filter", "label=cocalc.host=imghost"], {
      encoding: "utf8",
    }).stdout.split("\n");
    for (const id of left.filter(Boolean)) spawnSync("podman", ["rm", "-f", "-t", "0", id]);
    spawnSync("umount", [btrfs]);
    await rm(dir, { recursive: true, force: true });
  });

  it("a host that recovered from kill -9 unmounts and detaches its image on stop", async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-image-host-"));
    await chmod(dir, 0o711);
    const image = join(dir, "host.img");
    const btrfs = join(dir, "data", "btrfs");
    const start = async () => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          "host",
          "--btrfs-image",
          image,
          "--size",
          "1G",
          "--host-id",
          "imghost",
          "--data-dir",
          join(dir!, "data"),
          "--snapshot-every",
          "0",
          "--log-level",
          "warn",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(child);
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("ready")) resolve();
        });
        child.stderr!.on("data", (b: Buffer) => {
          out += b.toString();
        });
        child.once("exit", (code) => reject(new Error(`host exited with ${code}: ${out}`)));
      });
      return { child, out: () => out };
    };
    const exited = (c: ChildProcess) =>
      new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
    const mounted = async () =>
      (await readFile("/proc/self/mounts", "utf8"))
        .split("\n")
        .some((l) => l.split(" ")[1] === btrfs);
    const loops = () => spawnSync("losetup", ["-j", image], { encoding: "utf8" }).stdout.trim();

    const first = await start();
    const gone = exited(first.child);
    first.child.kill("SIGKILL");
    await gone;
    expect(await mounted()).toBe(true);

    const second = await start();
    expect(second.out()).toMatch(/is still mounted on .* using it/);
    const stopped = exited(second.child);
    second.child.kill("SIGTERM");
    expect(await stopped).toBe(0);
    expect(await mounted()).toBe(false);
    expect(loops()).toBe("");
  });
});
