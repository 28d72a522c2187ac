/**
 * A real btrfs on a loop device and a tiny rootfs (the host's static busybox) for host tests.
 * `setupHostMachine()` says why it cannot run (no root, no loop device, no podman…) instead of
 * pretending; `cleanup()` removes every container, overlay, loop mount and file it made.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import pino from "pino";
import type { HubOptions } from "../../cli/launchpad/args.js";
import { type RunningHub, startHub } from "../../cli/launchpad/hub.js";
import { askHub } from "../../services/gateway/hub-auth.js";
import { freePortRange } from "../../services/runtime/ports.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceReply,
  HubWorkspaceSubjects,
  type HubWorkspaceView,
} from "../../shared/hub-workspaces.js";
import type { WorkspaceView } from "../../shared/launchpad.js";
import { Buckets, hostSubjects } from "../../shared/subjects.js";
import { until } from "./nats.js";

const execFileP = promisify(execFile);

const sh = async (cmd: string, args: string[]) =>
  (await execFileP(cmd, args, { timeout: 120_000 })).stdout;

/** The path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

export interface HostMachine {
  dir: string;
  /** The mounted btrfs. */
  root: string;
  /** A minimal root file system directory (busybox) to import as an image. */
  rootfs: (marker: string) => Promise<string>;
  cleanup(): Promise<void>;
}

/** Why this machine cannot run host tests, or undefined when it can. */
export async function hostUnsupported(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "host tests need root (btrfs, loop devices, podman)";
  for (const tool of ["btrfs", "mkfs.btrfs", "podman", "losetup", "busybox"]) {
    if (!which(tool))
      return `${tool} is not installed (apt-get install btrfs-progs podman runc uidmap busybox-static)`;
  }
  const fs = await readFile("/proc/filesystems", "utf8");
  if (!/\bbtrfs\b/.test(fs)) return "the kernel has no btrfs";
  if (!/\boverlay\b/.test(fs)) return "the kernel has no overlayfs";
  try {
    accessSync("/dev/loop-control");
  } catch {
    return "no loop devices (/dev/loop-control)";
  }
  return undefined;
}

/**
 * Copies one of this machine's programs (with the shared libraries it needs, at their paths)
 * into a test rootfs, at `inside` (default: where it is here).
 */
export async function copyProgram(rootfs: string, file: string, inside = file): Promise<void> {
  const libs = (await sh("ldd", [file]))
    .split("\n")
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
  for (const [from, to] of [[file, inside] as const, ...libs.map((l) => [l, l] as const)]) {
    await mkdir(join(rootfs, to, ".."), { recursive: true });
    await sh("cp", ["-L", from, join(rootfs, to)]);
  }
}

/**
 * Puts this machine's node (with the shared libraries it needs) and the scripted ACP agent
 * (with its SDK) into a test rootfs: real agents are installed in curated images instead
 * (deploy/images/build-image.sh --agents). Returns the agent's command line inside.
 */
export async function addScriptedAgent(rootfs: string): Promise<string> {
  await copyProgram(rootfs, process.execPath, "/usr/local/bin/node");
  const agent = join(rootfs, "opt", "agent");
  const modules = new URL("../../node_modules", import.meta.url).pathname;
  await mkdir(join(agent, "node_modules", "@agentclientprotocol"), { recursive: true });
  await sh("cp", [
    "-rL",
    join(modules, "@agentclientprotocol", "sdk"),
    join(agent, "node_modules", "@agentclientprotocol"),
  ]);
  await sh("cp", ["-rL", join(modules, "zod"), join(agent, "node_modules")]);
  await sh("cp", [
    new URL("../fixtures/scripted-agent.mjs", import.meta.url).pathname,
    join(agent, "scripted-agent.mjs"),
  ]);
  // The agent runs its commands with bash; busybox has only sh.
  await writeFile(join(rootfs, "bin", "bash"), '#!/bin/sh\nexec /bin/sh "$@"\n', { mode: 0o755 });
  return "/usr/local/bin/node /opt/agent/scripted-agent.mjs";
}

/** The Python with ipykernel of this machine (Debian's python3-ipykernel), or undefined. */
const DEBIAN_PYTHON = ["/usr/bin/python3", "/usr/lib/python3/dist-packages/ipykernel_launcher.py"];

/** Why addPython cannot make a Python rootfs here, or undefined. */
export async function pythonUnsupported(): Promise<string | undefined> {
  if (!DEBIAN_PYTHON.every((f) => existsSync(f)))
    return "no /usr/bin/python3 with ipykernel (apt-get install python3-ipykernel)";
  if (!existsSync("/usr/share/jupyter/kernels/python3/kernel.json"))
    return "no python3 kernelspec in /usr/share/jupyter/kernels";
  return undefined;
}

/**
 * Puts this machine's python3 with its standard library, its packages (ipykernel, pyzmq…),
 * the shared libraries their modules load and the python3 kernelspec into a test rootfs:
 * a notebook's kernel in seconds, without building a Debian image.
 */
export async function addPython(rootfs: string): Promise<void> {
  const stdlib = (
    await sh("/usr/bin/python3", ["-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"])
  ).trim();
  await copyProgram(rootfs, "/usr/bin/python3");
  for (const dir of [
    stdlib,
    "/usr/lib/python3/dist-packages",
    "/usr/share/jupyter/kernels/python3",
  ]) {
    await mkdir(join(rootfs, dir, ".."), { recursive: true });
    await sh("cp", ["-rL", dir, join(rootfs, dir)]);
  }
  const modules = (
    await sh("find", [join(rootfs, stdlib), join(rootfs, "usr/lib/python3"), "-name", "*.so*"])
  )
    .split("\n")
    .filter(Boolean);
  const libs = new Set<string>();
  for (const m of modules)
    for (const l of (await sh("ldd", [m]).catch(() => "")).split("\n"))
      libs.add(/(\/\S+) \(0x/.exec(l)?.[1] ?? "");
  libs.delete("");
  for (const l of libs) {
    if (existsSync(join(rootfs, l))) continue;
    await mkdir(join(rootfs, l, ".."), { recursive: true });
    await sh("cp", ["-L", l, join(rootfs, l)]);
  }
}

/** Overlay mount targets under `root`, from /proc/self/mounts. */
export async function overlaysUnder(root: string): Promise<string[]> {
  const text = await readFile("/proc/self/mounts", "utf8");
  return text
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "overlay" && (f[1] ?? "").startsWith(`${root}/`))
    .map((f) => f[1]!);
}

/** A loop btrfs for host `hostId`; cleanup removes that host's containers only. */
export async function setupHostMachine(hostId: string, sizeMb = 3072): Promise<HostMachine> {
  const dir = await mkdtemp(join(tmpdir(), "cocalc-host-test-"));
  // Containers run as mapped uids, which must be able to reach their rootfs.
  await chmod(dir, 0o711);
  const image = join(dir, "btrfs.img");
  const root = join(dir, "btrfs");
  await mkdir(root);
  await sh("truncate", ["-s", `${sizeMb}M`, image]);
  await sh("mkfs.btrfs", ["-q", image]);
  await sh("mount", ["-o", "loop", image, root]);
  const busybox = which("busybox")!;
  let n = 0;
  return {
    dir,
    root,
    async rootfs(marker: string) {
      const r = join(dir, `rootfs-${n++}`);
      for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "home/user", "scratch", "root"])
        await mkdir(join(r, d), { recursive: true });
      await sh("cp", [busybox, join(r, "bin", "busybox")]);
      const applets = (await sh(busybox, ["--list"])).split("\n").filter(Boolean);
      for (const a of applets) if (a !== "busybox") await symlink("busybox", join(r, "bin", a));
      await writeFile(
        join(r, "etc", "passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
      );
      await writeFile(join(r, "etc", "group"), "root:x:0:\nuser:x:1000:\n");
      await writeFile(join(r, "etc", "image-name"), `${marker}\n`);
      await sh("chmod", ["1777", join(r, "tmp")]);
      return r;
    },
    async cleanup() {
      const containers = (
        await sh("podman", [
          "ps",
          "-a",
          "--filter",
          `label=cocalc.host=${hostId}`,
          "--format",
          "{{.Names}}",
        ])
      )
        .split("\n")
        .filter(Boolean);
      for (const c of containers) await sh("podman", ["rm", "-f", "-t", "0", c]).catch(() => "");
      for (const t of (await overlaysUnder(root)).reverse())
        await sh("umount", [t]).catch(() => "");
      await sh("umount", [root]).catch(() => sh("umount", ["-l", root]));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A hub in this process for host tests (no local host of its own: the test joins its
 * hosts), on a free base port; `extra` sets more of its options.
 */
export async function startTestHub(
  dataDir: string,
  extra: Partial<HubOptions> = {},
): Promise<RunningHub> {
  return startHub(
    {
      command: "hub",
      bind: "127.0.0.1",
      port: await freePortRange([1, 2, 3]),
      allowHosts: [],
      dataDir,
      logLevel: "warn",
      localHost: false,
      ...extra,
    },
    pino({ level: "warn" }),
    () => undefined,
  );
}

const PTY_HOST = new URL("../../dist/bundle/pty-host.js", import.meta.url).pathname;

/** Why a hub with a host of its own cannot run here (a host, and the built pty host), or undefined. */
export async function hubHostUnsupported(): Promise<string | undefined> {
  return (
    (await hostUnsupported()) ??
    (existsSync(PTY_HOST) ? undefined : `${PTY_HOST} is missing: run npm run build first`)
  );
}

/** A command to the hub's workspaces service, as its gateway sends it. */
export function askWorkspaces(nc: NatsConnection, type: string, data: object) {
  return askHub<HubWorkspaceReply>(
    nc,
    HubWorkspaceSubjects.command,
    type,
    data,
    "workspaces service",
    150_000,
  );
}

/** The entry `key` of view `bucket`, or undefined. */
export async function viewEntry<T>(
  nc: NatsConnection,
  bucket: string,
  key: string,
): Promise<T | undefined> {
  const e = await (await new Kvm(nc).open(bucket)).get(key);
  return e?.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
}

/** The password test accounts made by createHubAccount have. */
export const TEST_PASSWORD = "a long enough password";

/** An account made at the hub's console (as `cocalc-launchpad account create` does); its id. */
export async function createHubAccount(
  nc: NatsConnection,
  email: string,
  role: "admin" | "user" = "user",
): Promise<string> {
  const r = await askHub<HubReply>(
    nc,
    HubSubjects.command,
    "CreateAccount",
    { by: CONSOLE_ACTOR, email, password: TEST_PASSWORD, role },
    "accounts service",
  );
  return r.account!.id;
}

/** What `runningHubWorkspace()` makes: a workspace of `owner` from a rootfs made into an image. */
export interface HubWorkspaceSetup {
  /** The hub's host the image is imported onto. */
  hostId: string;
  /** The owner's account id. */
  owner: string;
  /** A root file system (`HostMachine.rootfs()`), imported as `image`. */
  rootfs: string;
  image: string;
  title: string;
  quota: { diskMb: number; memoryMb: number };
  /** Added by the owner once it runs, by email. */
  members?: readonly (readonly [email: string, role: "collaborator" | "viewer"])[];
}

/**
 * A running workspace on the hub's host, the way a user gets one: the image imported onto the
 * host and offered, the workspace created, placed and started, its members added. Its wsid.
 * A refusal on the way throws.
 */
export async function runningHubWorkspace(
  nc: NatsConnection,
  s: HubWorkspaceSetup,
): Promise<string> {
  const imported = await nc.request(
    hostSubjects(s.hostId).command,
    JSON.stringify({ type: "ImportImage", data: { name: s.image, source: s.rootfs } }),
    { timeout: 120_000 },
  );
  const answer = imported.json<{ ok: boolean; error?: unknown }>();
  if (!answer.ok) throw new Error(`image ${s.image} not imported: ${JSON.stringify(answer.error)}`);
  await until("the image offered", async () =>
    (await askWorkspaces(nc, "HubCreateOptions", { by: s.owner })).images?.some(
      (i) => i.name === s.image,
    )
      ? true
      : undefined,
  );
  const { wsid } = await askWorkspaces(nc, "CreateHubWorkspace", {
    by: s.owner,
    title: s.title,
    image: s.image,
    quota: s.quota,
  });
  if (!wsid) throw new Error("the workspaces service made no workspace");
  await until("placed", async () =>
    (await viewEntry<HubWorkspaceView>(nc, HubWorkspaceBuckets.workspaces, wsid))?.placement ===
    "placed"
      ? true
      : undefined,
  );
  await askWorkspaces(nc, "StartHubWorkspace", { by: s.owner, wsid });
  await until("running", async () =>
    (await viewEntry<WorkspaceView>(nc, Buckets.workspaces, wsid))?.status === "running"
      ? true
      : undefined,
  );
  for (const [email, role] of s.members ?? [])
    await askWorkspaces(nc, "AddHubMember", { by: s.owner, wsid, email, role });
  return wsid;
}
