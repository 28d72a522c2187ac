/**
 * The machine underneath a host: btrfs subvolumes, quotas and snapshots, overlay mounts,
 * and podman. Thin wrappers over the real tools; every failure is a CocalcError with the
 * tool's own message.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { access, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { CocalcError, type ErrorCode } from "../../shared/errors.js";

const execFileP = promisify(execFile);

/** Runs a tool; a failure becomes `code` with the tool's stderr. */
export async function run(
  code: ErrorCode,
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, [...args], {
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr || e.message).trim().split("\n").slice(-3).join(" ");
    const what = args
      .filter((a) => !a.startsWith("-"))
      .slice(0, 2)
      .join(" ");
    throw new CocalcError(code, `${cmd.split("/").pop()} ${what}: ${why}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws unless every folder above `path` may be traversed by others: containers run as
 * mapped uids, which must reach their rootfs.
 */
export async function requireTraversable(path: string): Promise<void> {
  let dir = path;
  for (;;) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0)
      throw new CocalcError(
        "ERR_HOST_UNSUPPORTED",
        `${dir} is not searchable by other users (mode ${(mode & 0o777).toString(8)}); containers run as mapped uids and must reach ${path}: chmod o+x ${dir}`,
      );
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

export const btrfs = {
  async isBtrfs(path: string): Promise<boolean> {
    try {
      return (await run("ERR_HOST_BTRFS", "stat", ["-f", "-c", "%T", path])).trim() === "btrfs";
    } catch {
      return false;
    }
  },
  async enableQuota(root: string): Promise<void> {
    await run("ERR_HOST_BTRFS", "btrfs", ["quota", "enable", root]);
  },
  async create(path: string): Promise<void> {
    if (await exists(path)) return;
    await run("ERR_HOST_BTRFS", "btrfs", ["subvolume", "create", path]);
  },
  async remove(path: string): Promise<void> {
    if (!(await exists(path))) return;
    // A read-only subvolume cannot be deleted while ro is set on some kernels' tools.
    await run("ERR_HOST_BTRFS", "btrfs", ["property", "set", "-ts", path, "ro", "false"]).catch(
      () => undefined,
    );
    await run("ERR_HOST_BTRFS", "btrfs", ["subvolume", "delete", "--commit-after", path]);
  },
  /**
   * A snapshot, in qgroup `group` when given: a snapshot of a subvolume that has a parent
   * qgroup must join that parent, or the kernel marks every qgroup inconsistent (limits and
   * sizes are wrong until a rescan of the whole file system).
   */
  async snapshot(from: string, to: string, readOnly: boolean, group?: string): Promise<void> {
    await run("ERR_HOST_BTRFS", "btrfs", [
      "subvolume",
      "snapshot",
      ...(readOnly ? ["-r"] : []),
      ...(group !== undefined ? ["-i", group] : []),
      from,
      to,
    ]);
  },
  async setReadOnly(path: string): Promise<void> {
    await run("ERR_HOST_BTRFS", "btrfs", ["property", "set", "-ts", path, "ro", "true"]);
  },
  /** Limits what the subvolume may reference (its own data plus shared extents). */
  async limit(path: string, mb: number): Promise<void> {
    await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "limit", `${mb}M`, path]);
  },
  /** Referenced bytes of a subvolume, from its qgroup. */
  async usedBytes(path: string): Promise<number> {
    const id = (await run("ERR_HOST_BTRFS", "btrfs", ["inspect-internal", "rootid", path])).trim();
    const out = await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "show", "--raw", "-f", path]);
    for (const line of out.split("\n")) {
      const [qg, rfer] = line.trim().split(/\s+/);
      if (qg === `0/${id}`) return Number(rfer);
    }
    return 0;
  },
  /** Every qgroup of the file system: bytes referenced and exclusive, parents and children. */
  async qgroups(root: string): Promise<Map<string, QgroupInfo>> {
    await run("ERR_HOST_BTRFS", "btrfs", ["filesystem", "sync", root]);
    const out = await run("ERR_HOST_BTRFS", "btrfs", [
      "qgroup",
      "show",
      "--raw",
      "-p",
      "-c",
      "-r",
      root,
    ]);
    const groups = new Map<string, QgroupInfo>();
    for (const line of out.split("\n")) {
      const [id, rfer, excl, max, parent, child] = line.trim().split(/\s+/);
      if (!id || !/^\d+\/\d+$/.test(id)) continue;
      const list = (s: string | undefined) => (s && s !== "-" ? s.split(",") : []);
      groups.set(id, {
        referenced: Number(rfer),
        exclusive: Number(excl),
        limit: max === undefined || max === "none" ? null : Number(max),
        parents: list(parent),
        children: list(child),
      });
    }
    return groups;
  },
  /**
   * Makes qgroup `group` (`1/<n>`) the parent of the subvolumes `paths` and limits what they
   * reference together to `mb`; the subvolumes' own limits are removed. Idempotent: the
   * migration of a workspace made with a limit per subvolume, too. Waits for the rescan
   * btrfs needs when a subvolume with data joins.
   */
  async limitTogether(root: string, group: string, paths: readonly string[], mb: number) {
    let groups = await btrfs.qgroups(root);
    if (!groups.has(group)) await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "create", group, root]);
    let rescan = false;
    for (const path of paths) {
      const child = `0/${await btrfs.id(path)}`;
      if (!groups.get(child)?.parents.includes(group)) {
        const out = await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "assign", child, group, root]);
        rescan ||= /rescan/i.test(out);
      }
      if (groups.get(child)?.limit !== null)
        await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "limit", "none", path]);
    }
    if (rescan) await run("ERR_HOST_BTRFS", "btrfs", ["quota", "rescan", "-W", root]);
    await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "limit", `${mb}M`, group, root]);
    groups = await btrfs.qgroups(root);
    return groups.get(group);
  },
  /** Removes qgroup `group` (its members first: btrfs refuses a parent that has some). */
  async removeGroup(root: string, group: string): Promise<void> {
    const g = (await btrfs.qgroups(root)).get(group);
    if (!g) return;
    for (const child of g.children)
      await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "remove", child, group, root]).catch(
        () => undefined,
      );
    await run("ERR_HOST_BTRFS", "btrfs", ["qgroup", "destroy", group, root]);
  },
  /** The subvolume id of `path`. */
  async id(path: string): Promise<number> {
    return Number(
      (await run("ERR_HOST_BTRFS", "btrfs", ["inspect-internal", "rootid", path])).trim(),
    );
  },
  /** The snapshots right below `dir`: id, name and creation time. */
  async snapshotsIn(dir: string): Promise<{ id: number; name: string; createdAt: Date }[]> {
    const out = await run("ERR_HOST_BTRFS", "btrfs", ["subvolume", "list", "-s", "-o", dir]);
    const rows: { id: number; name: string; createdAt: Date }[] = [];
    for (const line of out.split("\n")) {
      const m = /^ID (\d+) .* otime (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) path (.+)$/.exec(
        line.trim(),
      );
      if (!m) continue;
      // btrfs prints the machine's local time.
      rows.push({
        id: Number(m[1]),
        name: m[4]!.split("/").pop()!,
        createdAt: new Date(`${m[2]}T${m[3]}`),
      });
    }
    return rows;
  },
  async fsUsage(root: string): Promise<{ totalMb: number; usedMb: number }> {
    const out = await run("ERR_HOST_BTRFS", "df", ["-B1", "--output=size,used", root]);
    const [size, used] = out.trim().split("\n").pop()!.trim().split(/\s+/).map(Number);
    return {
      totalMb: Math.round((size ?? 0) / 2 ** 20),
      usedMb: Math.round((used ?? 0) / 2 ** 20),
    };
  },
};

/** A btrfs qgroup (`0/<subvolume id>`, or a parent `1/<n>`). */
export interface QgroupInfo {
  referenced: number;
  exclusive: number;
  /** The limit on referenced bytes, null for none. */
  limit: number | null;
  parents: string[];
  children: string[];
}

/** One line of /proc/self/mounts. */
export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile("/proc/self/mounts", "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [source = "", target = "", fstype = "", options = ""] = line.split(" ");
      return { source, target: unescapeMount(target), fstype, options };
    });
}

export async function isMounted(target: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.target === target);
}

export const overlay = {
  async mount(o: { lower: string; upper: string; work: string; target: string }): Promise<void> {
    for (const p of [o.lower, o.upper, o.work, o.target]) {
      if (/[,:\s]/.test(p))
        throw new CocalcError(
          "ERR_HOST_MOUNT",
          `${p}: overlay paths may not contain , : or spaces`,
        );
    }
    await run("ERR_HOST_MOUNT", "mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work}`,
      o.target,
    ]);
  },
  /**
   * Unmounts every layer mounted on `target`. Never lazy: a busy mount is an error to see,
   * not a leak to hide.
   */
  async unmount(target: string): Promise<void> {
    while (await isMounted(target)) await run("ERR_HOST_MOUNT", "umount", [target]);
  },
};

/** How podman must be run on this machine: detected, not hard-wired. */
export interface PodmanConfig {
  podman: string;
  /** The OCI runtime, e.g. runc; empty = podman's default. */
  runtime: string;
  cgroup: "v1" | "v2";
  /** Needed where we lack CAP_SYS_RESOURCE: runc cannot raise rlimits to podman's defaults. */
  ulimits: string[];
  /** podman's --network of workspaces: `bridge` (podman's default network), `none`, or a name. */
  network: string;
}

/**
 * podman's --network for a host's `--network` value: `default` is podman's default network of
 * rootful containers (the bridge `podman`, through CNI or netavark).
 */
export function podmanNetwork(network: string): string {
  return network === "default" ? "bridge" : network;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of `name` on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && executable(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

const CAP_SYS_RESOURCE = 24n;

/** Detects podman, the OCI runtime, the cgroup version and whether rlimits must be lowered. */
export async function detectPodman(network = "default"): Promise<PodmanConfig> {
  const podman = onPath("podman");
  if (!podman)
    throw new CocalcError(
      "ERR_HOST_UNSUPPORTED",
      "podman is not installed (apt-get install podman runc uidmap)",
    );
  const runtime = onPath("runc") ? "runc" : "";
  const fsType = (
    await run("ERR_HOST_UNSUPPORTED", "stat", ["-f", "-c", "%T", "/sys/fs/cgroup"])
  ).trim();
  const cgroup = fsType === "cgroup2fs" ? "v2" : "v1";
  const status = await readFile("/proc/self/status", "utf8");
  const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
  const hasSysResource = ((capEff >> CAP_SYS_RESOURCE) & 1n) === 1n;
  return {
    podman,
    runtime,
    cgroup,
    ulimits: hasSysResource ? [] : ["nofile=1024:1024", "nproc=1000:1000"],
    network: podmanNetwork(network),
  };
}

/** Global podman flags (before the subcommand). */
export function podmanGlobal(c: PodmanConfig): string[] {
  return c.runtime ? ["--runtime", c.runtime] : [];
}

export async function podman(c: PodmanConfig, args: readonly string[], timeoutMs = 60_000) {
  return run("ERR_HOST_CONTAINER", c.podman, [...podmanGlobal(c), ...args], { timeoutMs });
}

/** A container as podman reports it, in fields that mean the same across podman versions. */
export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** podman's own word: created, running, paused, exited, stopped, … */
  state: string;
  running: boolean;
  /** The container's init as the host sees it (0 when it does not run). */
  pid: number;
}

/**
 * The containers with `label` (running or not). From `ps --format json`: its `State` is the
 * word ("running", "exited"), where the template `{{.State}}` of podman 4.3 prints the
 * status line ("Up 2 seconds ago").
 */
export async function listContainers(c: PodmanConfig, label: string): Promise<ContainerInfo[]> {
  const out = await podman(c, ["ps", "-a", "--filter", `label=${label}`, "--format", "json"]);
  const rows = JSON.parse(out.trim() || "[]") as {
    Id: string;
    Names: string[] | string;
    Labels: Record<string, string> | null;
    State: string;
    Pid: number;
  }[];
  return rows.map((r) => {
    const state = String(r.State).toLowerCase();
    return {
      id: r.Id,
      name: Array.isArray(r.Names) ? (r.Names[0] ?? "") : r.Names,
      labels: r.Labels ?? {},
      state,
      running: state === "running",
      pid: r.Pid ?? 0,
    };
  });
}

/** What `podman inspect` says about how a container is, or undefined when there is none. */
export interface ContainerState {
  id: string;
  running: boolean;
  status: string;
  pid: number;
  /** The container's monitor process (0 when podman does not know it). */
  conmonPid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt: string;
}

export async function inspectContainer(
  c: PodmanConfig,
  name: string,
): Promise<ContainerState | undefined> {
  let out: string;
  try {
    out = await podman(c, ["container", "inspect", name]);
  } catch (err) {
    if (/no such container|no container with/i.test((err as Error).message)) return undefined;
    throw err;
  }
  const [r] = JSON.parse(out) as {
    Id: string;
    State: {
      Status: string;
      Running: boolean;
      Pid: number;
      ConmonPid?: number;
      ExitCode: number;
      OOMKilled: boolean;
      Error?: string;
      StartedAt: string;
    };
  }[];
  if (!r) return undefined;
  return {
    id: r.Id,
    running: r.State.Running,
    status: r.State.Status,
    pid: r.State.Pid,
    conmonPid: r.State.ConmonPid ?? 0,
    exitCode: r.State.ExitCode,
    oomKilled: r.State.OOMKilled,
    error: r.State.Error ?? "",
    startedAt: r.State.StartedAt,
  };
}

/**
 * Whether the kernel's log says its OOM killer killed process `pid` since `since`. podman
 * 4.3 with cgroup v1 does not always set `OOMKilled` (conmon misses the event), the kernel's
 * log always says it.
 */
export async function killedForMemory(pid: number, since: Date): Promise<boolean> {
  if (!(pid > 0)) return false;
  let out: string;
  try {
    out = await run("ERR_HOST_CONTAINER", "dmesg", ["--time-format", "iso"]);
  } catch {
    return false;
  }
  const killed = new RegExp(`out of memory: Killed process ${pid} \\(`, "i");
  return out.split("\n").some((line) => {
    if (!killed.test(line)) return false;
    const at = Date.parse(line.slice(0, line.indexOf(" ")).replace(",", "."));
    return Number.isNaN(at) || at >= since.getTime() - 1000;
  });
}

export async function pathExists(p: string): Promise<boolean> {
  return exists(p);
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** podman's default seccomp profile (containers-common). */
export const DEFAULT_SECCOMP = "/usr/share/containers/seccomp.json";
const CLONE_NEWUSER = 0x10000000;

/**
 * podman's default seccomp profile, except that no process may make a user namespace:
 * `unshare` and `clone` with CLONE_NEWUSER fail with EPERM and `clone3` (whose flags seccomp
 * cannot see) with ENOSYS, so libc falls back to `clone`. Inside a user namespace a process
 * has every capability; a nested one would give the workspace user mounts (tmpfs, fuse),
 * network namespaces and the kernel code behind them.
 */
export async function noUserNamespacesProfile(source = DEFAULT_SECCOMP): Promise<string> {
  let profile: { syscalls: { names: string[]; action: string; args?: unknown[] }[] };
  try {
    profile = JSON.parse(await readFile(source, "utf8"));
  } catch (err) {
    throw new CocalcError(
      "ERR_HOST_UNSUPPORTED",
      `podman's seccomp profile ${source} is missing or unreadable (apt-get install golang-github-containers-common): ${(err as Error).message}`,
    );
  }
  const guarded = new Set(["clone", "clone3", "unshare"]);
  for (const rule of profile.syscalls) {
    if (rule.action === "SCMP_ACT_ALLOW" && (rule.args ?? []).length === 0)
      rule.names = rule.names.filter((n) => !guarded.has(n));
  }
  const withoutUserNs = (index: number) => [
    { index, value: CLONE_NEWUSER, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" },
  ];
  const withUserNs = (index: number) => [
    { index, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: "SCMP_CMP_MASKED_EQ" },
  ];
  profile.syscalls.push(
    { names: ["unshare", "clone"], action: "SCMP_ACT_ALLOW", args: withoutUserNs(0) },
    {
      names: ["unshare", "clone"],
      action: "SCMP_ACT_ERRNO",
      args: withUserNs(0),
      errnoRet: 1,
    } as never,
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 } as never,
  );
  return `${JSON.stringify(profile, null, 1)}\n`;
}

/**
 * Sets the pids limit of a running container through its cgroup (podman 4 cannot update
 * pids on a live container): `pids.max` of the pids hierarchy (v1) or the unified one (v2).
 */
export async function setContainerPidsLimit(initPid: number, pids: number): Promise<void> {
  const lines = (await readFile(`/proc/${initPid}/cgroup`, "utf8")).split("\n");
  const v1 = lines.find((l) => /^\d+:pids:/.test(l));
  const v2 = lines.find((l) => l.startsWith("0::"));
  const file = v1
    ? join("/sys/fs/cgroup/pids", v1.slice(v1.indexOf(":pids:") + 6), "pids.max")
    : v2
      ? join("/sys/fs/cgroup", v2.slice(3), "pids.max")
      : undefined;
  if (!file) throw new CocalcError("ERR_HOST_CONTAINER", "the container has no pids cgroup");
  await writeFile(file, String(pids));
}
