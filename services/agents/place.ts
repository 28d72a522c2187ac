/**
 * Where a thread's agent and the commands it runs execute, and how its file reads and writes
 * reach the disk: on this machine (plus), or inside a container workspace of a launchpad host,
 * as the workspace user, with files through the workspace's fs service (which already maps
 * container paths and acts with that user's credentials).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { CocalcError } from "../../shared/errors.js";
import { fsRequest } from "../runtime/fs-requests.js";
import type { AgentSpawn } from "./agent-process.js";

/** Runs `argv` inside a container workspace as its user, in `cwd` (a path inside), passing the named environment variables. */
export type ContainerExec = (argv: string[], o: { cwd: string; env: string[] }) => string[];

/**
 * Where a sign-in's "browser" (the program an agent runs to open an address, `BROWSER`) writes
 * what it was asked to open, and how the agent's localhost callback is reached: a folder of
 * ours and this machine's loopback, or a folder in a container workspace's home and the
 * container's own network.
 */
export interface SignInBrowser {
  /** Added to the agent's environment. */
  readonly env: Record<string, string>;
  /** The agent's command line as it is started for the sign-in. */
  argv(agent: readonly string[]): string[];
  /** What the agent asked to open so far, one address a line. */
  opened(): Promise<string>;
  /** Opens `url` (the sign-in's localhost callback) where the agent listens. */
  get(url: URL): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/** A GET of a localhost address inside a container workspace's network. */
export type ContainerGet = (url: URL) => Promise<{ status: number; text: string }>;

const openUrlScript = (dir: string) => `#!/bin/sh\nprintf '%s\\n' "$1" >> '${dir}/url'\n`;

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
  /** A new folder for one sign-in's browser. */
  signInBrowser(): Promise<SignInBrowser>;
}

export function hostPlace(): AgentPlace {
  return {
    kind: "host",
    spawnOf: (argv, cwd, env) => ({ argv, cwd, env: { ...process.env, ...env } }),
    async signInBrowser() {
      // A folder of ours (0700): the address goes there, nowhere else.
      const dir = await mkdtemp(join(tmpdir(), "cocalc-sign-in-"));
      const browser = join(dir, "open-url");
      await writeFile(browser, openUrlScript(dir), { mode: 0o700 });
      await chmod(browser, 0o700);
      return {
        env: { BROWSER: browser },
        argv: (agent) => [...agent],
        opened: () => readFile(join(dir, "url"), "utf8").catch(() => ""),
        async get(url) {
          const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(30_000) });
          return { status: res.status, text: await res.text().catch(() => "") };
        },
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  };
}

/**
 * Makes the sign-in's folder and its browser program inside the container (as the workspace
 * user, who runs the agent), then runs the agent: `sh -c SETUP sh DIR agent…`.
 */
const SETUP = [
  "umask 077",
  'mkdir -p "$1"',
  `printf '%s' "$COCALC_OPEN_URL" > "$1/open-url"`,
  'chmod 700 "$1/open-url"',
  "unset COCALC_OPEN_URL",
  "shift",
  'exec "$@"',
].join(" && ");

export function containerPlace(
  exec: ContainerExec,
  files: WorkspaceFiles,
  o: { home: string; get?: ContainerGet },
): AgentPlace {
  return {
    kind: "container",
    files,
    // podman takes each value from its own environment (`--env NAME`): no secret in argv.
    spawnOf: (argv, cwd, env) => ({
      argv: exec(argv, { cwd, env: Object.keys(env) }),
      cwd: "/",
      env: { ...process.env, ...env },
    }),
    async signInBrowser() {
      const dir = `${o.home}/.cache/cocalc-sign-in-${randomBytes(12).toString("hex")}`;
      return {
        env: { BROWSER: `${dir}/open-url`, COCALC_OPEN_URL: openUrlScript(dir) },
        argv: (agent) => ["/bin/sh", "-c", SETUP, "sh", dir, ...agent],
        opened: async () => (await files.readIfExists(`${dir}/url`).catch(() => null)) ?? "",
        async get(url) {
          if (!o.get) {
            throw new CocalcError(
              "ERR_AGENT_SIGN_IN",
              "this host cannot reach the workspace's network to pass the callback on",
            );
          }
          return await o.get(url);
        },
        close: () => files.remove(dir).catch(() => undefined),
      };
    },
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
