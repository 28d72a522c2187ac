/**
 * Files of a container workspace, seen as its user sees them: `/home/user/x`, `/etc/hosts`,
 * `/scratch/data`. Requests name container paths; each is mapped to where that part of the
 * container's file system lives on the host (its home and /scratch subvolumes, the rootfs
 * overlay for everything else) before the usual resolver checks it, and every path in a reply,
 * event or change feed is mapped back. The rootfs exists only while the workspace runs:
 * reaching it otherwise is an error that says to start the workspace. The file operations
 * themselves run as the workspace user (the fs service's `runAs`), so they can do exactly
 * what that user can do inside, and what they create belongs to that user.
 */
import { CocalcError } from "../../shared/errors.js";
import { expandPath, isInside, joinPath } from "../../shared/paths.js";

/** One part of the container's file system and where it lives on the host. */
export interface ContainerMount {
  /** The path inside the container ("/" for the rootfs). */
  at: string;
  /** The host directory that holds it. */
  dir: string;
  /** It exists only while the workspace runs (the rootfs overlay). */
  whileRunning?: boolean;
}

export interface ContainerFiles {
  /** The workspace user's home inside the container. */
  home: string;
  mounts: readonly ContainerMount[];
  /** Whether the workspace's rootfs is there now (mounted). */
  running(): Promise<boolean>;
}

/** Replies carry file contents here; they are never rewritten. */
const OPAQUE = new Set(["content", "cursor", "text"]);

export class ContainerPaths {
  private readonly byAt: ContainerMount[];
  private readonly byDir: ContainerMount[];

  constructor(readonly c: ContainerFiles) {
    this.byAt = [...c.mounts].sort((a, b) => b.at.length - a.at.length);
    this.byDir = [...c.mounts].sort((a, b) => b.dir.length - a.dir.length);
  }

  /** The host home (the resolver's home). */
  get hostHome(): string {
    return this.mountOf(this.c.home).host;
  }

  private mountOf(abs: string): { mount: ContainerMount; host: string } {
    const mount = this.byAt.find((m) => isInside(abs, m.at));
    if (!mount) throw new Error(`no mount holds ${abs}: "/" must be one of them`);
    const rest = mount.at === "/" ? abs.slice(1) : abs.slice(mount.at.length + 1);
    return { mount, host: rest === "" ? mount.dir : joinPath(mount.dir, rest) };
  }

  /** The host path of what a person named inside the container (`~/x`, `/etc/hosts`, `x`). */
  async toHost(input: string): Promise<string> {
    const abs = expandPath(input, this.c.home);
    const { mount, host } = this.mountOf(abs);
    if (mount.whileRunning && !(await this.c.running()))
      throw new CocalcError(
        "ERR_WORKSPACE_STATE",
        `${abs} is in the workspace's root file system, which is there only while it runs: start the workspace`,
      );
    return host;
  }

  /** The container path of a host path; paths outside every mount are left as they are. */
  toContainer(host: string): string {
    const mount = this.byDir.find((m) => isInside(host, m.dir));
    if (!mount) return host;
    const rest = host === mount.dir ? "" : host.slice(mount.dir.length + 1);
    if (rest === "") return mount.at;
    return mount.at === "/" ? `/${rest}` : `${mount.at}/${rest}`;
  }

  /** The request (an fs or a transfer request) with every path mapped to the host. */
  async request<R extends object>(r: R): Promise<R> {
    const out = { ...r } as Record<string, unknown>;
    for (const key of ["path", "from", "to", "dir"] as const) {
      const v = out[key];
      if (typeof v === "string") out[key] = await this.toHost(v);
    }
    if (Array.isArray(out.paths))
      out.paths = await Promise.all((out.paths as string[]).map((p) => this.toHost(p)));
    return out as R;
  }

  /** Every host path inside `value` (a reply, an event's data, a change) mapped back. */
  reply<T>(value: T): T {
    const walk = (v: unknown, key: string | undefined): unknown => {
      if (key !== undefined && OPAQUE.has(key)) return v;
      if (typeof v === "string") return v.startsWith("/") ? this.toContainer(v) : v;
      if (Array.isArray(v)) return v.map((x) => walk(x, undefined));
      if (v !== null && typeof v === "object")
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
      return v;
    };
    return walk(value, undefined) as T;
  }
}
