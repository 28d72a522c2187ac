/**
 * Where a thread's agent and the commands it runs execute, and how its file reads and writes
 * reach the disk: on this machine (plus), or inside a container workspace of a launchpad host,
 * as the workspace user, with files through the workspace's fs service (which already maps
 * container paths and acts with that user's credentials).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { CocalcError } from "../../shared/errors.js";
import { fsRequest } from "../runtime/fs-requests.js";
import type { AgentSpawn } from "./agent-process.js";

/** Runs `argv` inside a container workspace as its user, in `cwd` (a path inside), passing the named environment variables. */
export type ContainerExec = (argv: string[], o: { cwd: string; env: string[] }) => string[];

export interface AgentPlace {
  /**
   * "host": this machine, confined by bubblewrap outside full access; "container": inside a
   * container workspace, where the container (the workspace user's rights) is the boundary.
   */
  readonly kind: "host" | "container";
  /** How to start `argv` there in `cwd`, with `env` added (values never in argv). */
  spawnOf(argv: string[], cwd: string, env: Record<string, string>): AgentSpawn;
  /** Files, for a container workspace (on the host the path resolver is used directly). */
  readonly files?: WorkspaceFiles;
}

export function hostPlace(): AgentPlace {
  return {
    kind: "host",
    spawnOf: (argv, cwd, env) => ({ argv, cwd, env: { ...process.env, ...env } }),
  };
}

export function containerPlace(exec: ContainerExec, files: WorkspaceFiles): AgentPlace {
  return {
    kind: "container",
    files,
    // podman takes each value from its own environment (`--env NAME`): no secret in argv.
    spawnOf: (argv, cwd, env) => ({
      argv: exec(argv, { cwd, env: Object.keys(env) }),
      cwd: "/",
      env: { ...process.env, ...env },
    }),
  };
}

/** A container workspace's files through its fs service, with the paths seen inside. */
export class WorkspaceFiles {
  constructor(
    private readonly nc: NatsConnection,
    private readonly wsid: string,
  ) {}

  /** A whole text file (at most the fs service's read limit). */
  async read(path: string): Promise<string> {
    const r = await fsRequest(this.nc, this.wsid, { op: "read", path });
    if (r.truncated)
      throw new CocalcError("ERR_FS_TOO_LARGE", `${path} is larger than ${r.content.length} bytes`);
    if (r.binary) throw new CocalcError("ERR_FS_NOT_FILE", `${path} is not a text file`);
    return r.content;
  }

  async readBytes(path: string): Promise<Buffer> {
    const r = await fsRequest(this.nc, this.wsid, { op: "read", path });
    if (r.truncated) throw new CocalcError("ERR_FS_TOO_LARGE", `${path} is too large to read`);
    return Buffer.from(r.content, r.encoding);
  }

  async readIfExists(path: string): Promise<string | null> {
    try {
      return await this.read(path);
    } catch (err) {
      if (err instanceof CocalcError && err.code === "ERR_FS_NOT_FOUND") return null;
      throw err;
    }
  }

  /** The canonical path (every symlink followed, also for a file that does not exist yet). */
  async real(path: string): Promise<string> {
    return (await fsRequest(this.nc, this.wsid, { op: "stat", path })).real;
  }

  /**
   * The canonical path of a directory. (A listing, not a stat: a stat opens the parent, and
   * the parent of a container's home or root is a host directory its user cannot open.)
   */
  async realDir(path: string): Promise<string> {
    const r = await fsRequest(this.nc, this.wsid, {
      op: "list",
      path,
      offset: 0,
      limit: 0,
      sort: "name",
      desc: false,
      hidden: true,
      filter: "",
    });
    return r.path;
  }

  /** One page of a folder's entries (hidden ones too), by name. */
  list(path: string, offset: number, limit: number) {
    return fsRequest(this.nc, this.wsid, {
      op: "list",
      path,
      offset,
      limit,
      sort: "name",
      desc: false,
      hidden: true,
      filter: "",
    });
  }

  async isDirectory(path: string): Promise<boolean> {
    try {
      await this.realDir(path);
      return true;
    } catch (err) {
      if (
        err instanceof CocalcError &&
        (err.code === "ERR_FS_NOT_FOUND" || err.code === "ERR_FS_NOT_DIR")
      )
        return false;
      throw err;
    }
  }

  async write(path: string, content: string): Promise<string> {
    return (
      await fsRequest(this.nc, this.wsid, {
        op: "write",
        path,
        content,
        encoding: "utf8",
        exclusive: false,
      })
    ).path;
  }

  async remove(path: string): Promise<void> {
    await fsRequest(this.nc, this.wsid, { op: "delete", paths: [path] });
  }
}
