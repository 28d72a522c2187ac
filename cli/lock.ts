/**
 * One cocalc-plus per data directory. The pid file is the lock: created exclusively, and
 * taken over only when the process it names is gone (a cocalc-plus killed with -9).
 */
import { readFileSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { CocalcError } from "../shared/errors.js";

export function pidFile(dataDir: string): string {
  return join(dataDir, "plus.pid");
}

function isPlus(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /cocalc-plus|plus\.js/.test(cmdline);
  } catch {
    // No /proc (macOS): trust that a live pid is ours.
    return true;
  }
}

/** The pid of the cocalc-plus running on `dataDir`, if any. */
export async function runningPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile(dataDir), "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isPlus(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock or throws ERR_DATA_DIR_LOCKED. Returns the release function. */
export async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const file = pidFile(dataDir);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(file, "wx", 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        try {
          if ((await readFile(file, "utf8")).trim() === String(process.pid))
            await rm(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = await runningPid(dataDir);
    if (pid !== undefined) {
      throw new CocalcError(
        "ERR_DATA_DIR_LOCKED",
        `another cocalc-plus (pid ${pid}) is already running on ${dataDir}.\nOpen it, stop it with \`cocalc-plus stop --data-dir ${dataDir}\`, or use another --data-dir.`,
        { pid },
      );
    }
    // Stale: the process that wrote it is gone.
    await rm(file, { force: true });
  }
  throw new CocalcError("ERR_DATA_DIR_LOCKED", `could not take the lock ${file}`);
}
