/**
 * The process tree of one exec inside a workspace's container, as a child cgroup of the
 * container's (the freezer hierarchy on cgroup v1, the unified one on v2): whatever the
 * command starts stays in it (a double fork, `setsid` or a fork bomb cannot leave it), so the
 * whole tree can be killed when its client goes away, while the container's pids limit still
 * counts it. The command's first process stops itself before it runs anything (see
 * EXEC_WRAPPER); the host moves it into the cgroup and lets it go on.
 */
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Runs `"$@"` after stopping itself, so the host can put it in its cgroup first. */
export const EXEC_WRAPPER = ["/bin/sh", "-c", 'kill -STOP $$; exec "$@"', "sh"] as const;
/** The variable that marks the stopped wrapper of session `id` for the host to find. */
export const EXEC_MARKER = "COCALC_EXEC";

const CGROUP_ROOT = "/sys/fs/cgroup";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ExecTree {
  /**
   * Finds the stopped wrapper of the session in the container's cgroup, moves it into the
   * tree's cgroup and continues it. False when it did not appear before `gone()` said so.
   */
  adopt(gone: () => boolean): Promise<boolean>;
  /** Sends `signal` to every process of the tree. */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** The host pids of the tree's processes (none: it has ended). */
  pids(): Promise<number[]>;
  /** Kills every process of the tree and removes its cgroup. */
  kill(): Promise<void>;
}

/**
 * Makes the cgroup of exec `execId` inside the container whose init is `initPid`, or
 * undefined when the container's cgroup is not one the host can write (or, unless `reuse`,
 * the cgroup is there already; `reuse` takes one left behind, to kill what is in it).
 */
export async function makeExecTree(
  initPid: number,
  execId: string,
  o: { reuse?: boolean } = {},
): Promise<ExecTree | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(`/proc/${initPid}/cgroup`, "utf8")).split("\n");
  } catch {
    return undefined;
  }
  const v1 = lines.find((l) => /^\d+:freezer:/.test(l));
  const v2 = lines.find((l) => l.startsWith("0::"));
  const parent = v1
    ? join(CGROUP_ROOT, "freezer", v1.slice(v1.indexOf(":freezer:") + ":freezer:".length))
    : v2
      ? join(CGROUP_ROOT, v2.slice(3))
      : undefined;
  if (!parent) return undefined;
  const freeze = v1
    ? { file: "freezer.state", on: "FROZEN", off: "THAWED" }
    : { file: "cgroup.freeze", on: "1", off: "0" };
  const dir = join(parent, `cocalc-exec-${execId}`);
  try {
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (!(o.reuse && err.code === "EEXIST")) throw err;
    });
    // v2 has a freezer file only where the kernel supports it.
    await readFile(join(dir, freeze.file), "utf8");
  } catch {
    await rmdir(dir).catch(() => undefined);
    return undefined;
  }
  const procs = async (d: string) =>
    (await readFile(join(d, "cgroup.procs"), "utf8").catch(() => ""))
      .split("\n")
      .filter(Boolean)
      .map(Number);
  const marker = `${EXEC_MARKER}=${execId}`;
  let removed = false;
  const isWrapper = async (pid: number) => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      if (stat[stat.lastIndexOf(")") + 2] !== "T") return false;
      return (await readFile(`/proc/${pid}/environ`, "utf8")).split("\0").includes(marker);
    } catch {
      return false;
    }
  };
  return {
    async adopt(gone) {
      while (!gone()) {
        for (const pid of await procs(parent)) {
          if (!(await isWrapper(pid))) continue;
          await writeFile(join(dir, "cgroup.procs"), String(pid));
          process.kill(pid, "SIGCONT");
          return true;
        }
        await sleep(10);
      }
      return false;
    },
    async signal(signal) {
      for (const pid of await procs(dir)) {
        try {
          process.kill(pid, signal);
        } catch {}
      }
    },
    pids: () => procs(dir),
    async kill() {
      if (removed) return;
      // Frozen, nothing in the tree can fork while it is being killed.
      for (let round = 0; round < 500; round++) {
        const pids = await procs(dir);
        if (pids.length === 0) {
          const gone = await rmdir(dir).then(
            () => true,
            (err: NodeJS.ErrnoException) => err.code === "ENOENT",
          );
          if (gone) {
            removed = true;
            return;
          }
        }
        await writeFile(join(dir, freeze.file), freeze.on).catch(() => undefined);
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
        }
        await writeFile(join(dir, freeze.file), freeze.off).catch(() => undefined);
        await sleep(round < 10 ? 5 : 20);
      }
      throw new Error(`the processes of exec ${execId} did not end`);
    },
  };
}
