/**
 * Where an app's processes run and its port is looked at: this machine (plus), or a launchpad
 * workspace's container (cli/launchpad/app-runner.ts: `podman exec` as the workspace's user,
 * the port in the container's network). The apps service and its processes ask only this.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, listenProblem } from "../runtime/ports.js";
import { userEnv } from "../runtime/user-env.js";

/** Why an app cannot listen on a port. */
export type PortProblem = { kind: "in-use"; code: string; host: string } | { kind: "denied" };

/** A started app's process tree. */
export interface AppChild {
  /** The process whose output is the app's and whose exit is the app's end. */
  readonly child: ChildProcess;
  /** What the view shows as its pid (undefined: it did not start). */
  readonly pid: number | undefined;
  /** Ends everything the app started (TERM, then KILL after `graceMs`); resolves once gone. */
  end(graceMs?: number): Promise<void>;
  /** Kills it at once, synchronously where it can (the service's process is exiting). */
  killNow(): void;
}

export interface AppRunner {
  /** The directory an app starts in when none is given. */
  readonly home: string;
  /** Apps open at an origin of their own, served from `/` (a launchpad workspace's). */
  readonly origin: boolean;
  /** The full path of each program where apps run (absent: not installed). */
  programs(names: readonly string[]): Promise<Record<string, string | undefined>>;
  /** Is `path` an existing directory where apps run (as the user that runs them)? */
  isDirectory(path: string): Promise<boolean>;
  /** A port nothing listens on where apps run. */
  freePort(): Promise<number>;
  portProblem(port: number): Promise<PortProblem | undefined>;
  /** Does something answer HTTP on 127.0.0.1:port at `path` where apps run (any status)? */
  answersHttp(port: number, path: string): Promise<boolean>;
  /** The standard output of a short command (a program's `--version`); "" when it fails. */
  output(file: string, args: readonly string[]): Promise<string>;
  /** Apps run as root there (Jupyter then needs --allow-root). */
  readonly asRoot: boolean;
  /** Starts app `mark`'s `file args` in `cwd` with `env` added, as a tree of its own. */
  spawn(
    mark: string,
    file: string,
    args: readonly string[],
    o: { cwd: string; env: Record<string, string> },
  ): Promise<AppChild>;
  /** Ends what app `mark` left running when its service was killed (`pid`: its view's). */
  endLeftover(mark: string, pid: number | undefined): Promise<void>;
}

/** The environment variable that marks a process as app `<wsid>.<app>` (found again after a crash). */
export const APP_MARK = "COCALC_PLUS_APP";

/** The full path of `program` on PATH, or undefined. */
export function findProgram(program: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, program);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Does something answer HTTP on 127.0.0.1:port at `path` (any status counts)? */
export function answersHttp(port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ends the process group led by `pid` (TERM, then KILL after `graceMs`); resolves when it is gone. */
export async function endGroup(pid: number, graceMs = 5000): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(50);
  if (alive()) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone in between
    }
    while (alive()) await sleep(20);
  }
}

/** Is `pid` a process of app `mark` (its environment says so)? */
function isAppProcess(pid: number, mark: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`${APP_MARK}=${mark}`);
  } catch {
    return false;
  }
}

/** plus's: apps are process groups of this machine, as plus's user, opened under its paths. */
export function localRunner(home = homedir()): AppRunner {
  return {
    home,
    origin: false,
    asRoot: process.getuid?.() === 0,
    programs: async (names) => Object.fromEntries(names.map((n) => [n, findProgram(n)])),
    isDirectory: async (path) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    },
    freePort: () => freePort(),
    portProblem: (port) => listenProblem(port),
    answersHttp,
    output: async (file, args) =>
      spawnSync(file, [...args], { encoding: "utf8", timeout: 20_000 }).stdout ?? "",
    spawn: async (mark, file, args, o) => {
      const child = spawn(file, [...args], {
        cwd: o.cwd,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...userEnv(), ...o.env, [APP_MARK]: mark },
      });
      const pid = child.pid;
      return {
        child,
        pid,
        end: async (graceMs) => {
          if (pid !== undefined) await endGroup(pid, graceMs);
        },
        killNow: () => {
          if (pid === undefined) return;
          try {
            process.kill(-pid, "SIGKILL");
          } catch {
            // already gone
          }
        },
      };
    },
    endLeftover: async (mark, pid) => {
      if (pid !== undefined && isAppProcess(pid, mark)) await endGroup(pid);
    },
  };
}
