/**
 * One cocalc-plus (or launchpad) per data directory.
 *
 * The lock is the directory `DATA_DIR/lock/`, whose entries are generations: files named
 * 1, 2, 3, … each holding the pid (and, where there is /proc, the start time) of the process
 * that made it. The newest generation is the lock; its holder holds it while it lives. A
 * starter looks at the newest generation `n`: a live holder means "already running"; a gone
 * one (killed with -9, or exited) means a take-over, by creating generation `n + 1`. Creating
 * is `link(2)` of a file already written, which fails when the name exists, so a generation
 * appears whole and is made once. A starter that made generation `g` holds the lock only if a
 * look after that finds no newer one; otherwise it removes `g` and looks again. The winner
 * removes the older generations. `plus.pid` is written by the holder for people and older
 * tools; it is not the lock.
 *
 * Why two starters never both hold it: first, the newest generation never goes down. Files are
 * only removed by a winner (the ones older than its own, which stays) and by a starter that
 * backs off (its own, when a newer one exists). Now say A made `a`, then looked and saw no
 * newer one, and B made `b > a`. B made `b` after A's look (A saw none newer, and names are
 * made once, except by the case below). B chose `b` because its look found `b - 1 >= a` as
 * the newest and its holder gone. If `b - 1 == a`, B read `a` and found A, alive: it would
 * not have taken over. If `b - 1 > a`, someone made `b - 1` after A's look, by the same choice:
 * go down to the first generation made above `a` after A's look; its maker saw `a` as the
 * newest (nothing newer existed, and the newest never goes down) and read A, alive. So no one
 * takes over from a live holder. The one exception to "made once": a starter that looked long
 * ago may make again an old number the winner has since removed; its look afterwards finds the
 * winner's newer generation, and it backs off. The old scheme (one pid file: remove the stale
 * one, then create) let two starters that both saw the same stale file each remove and create,
 * the second one removing the first one's fresh lock.
 */
import { readFileSync } from "node:fs";
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";

/** The pid file people and `cocalc-plus stop` read (written by the lock's holder). */
export function pidFile(dataDir: string): string {
  return join(dataDir, "plus.pid");
}

function lockDir(dataDir: string): string {
  return join(dataDir, "lock");
}

interface Holder {
  pid: number;
  /** The process's start time in /proc (clock ticks since boot), to tell a reused pid. */
  start?: string;
}

/** The start time of process `pid` from /proc, or undefined where there is none. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Has `pid` exited but not yet been reaped by its parent (a zombie: it holds nothing but its
 * pid)? False where there is no /proc.
 */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] === "Z";
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // An exited plus whose parent has not reaped it yet holds no lock: it is gone.
  return !isZombie(pid);
}

/** A pid file of an older version holds only the pid: is that process a cocalc-plus? */
function looksLikePlus(pid: number): boolean {
  try {
    return /cocalc-plus|plus\.js/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    // No /proc (macOS): trust that a live pid is ours.
    return true;
  }
}

/** Whether the process a lock file names still runs (and is not us). */
function holds(h: Holder): boolean {
  if (h.pid === process.pid || !isAlive(h.pid)) return false;
  const start = processStart(h.pid);
  // Without /proc, a live pid is taken as the holder.
  if (start === undefined) return true;
  return h.start === undefined ? looksLikePlus(h.pid) : h.start === start;
}

function parseHolder(text: string): Holder | undefined {
  const [pid, start] = text.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return start && start !== "-" ? { pid: n, start } : { pid: n };
}

/** The file's holder; undefined when the file is gone, null when it holds no pid. */
async function readHolder(file: string): Promise<Holder | null | undefined> {
  try {
    return parseHolder(await readFile(file, "utf8")) ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function generations(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names
    .filter((n) => /^[1-9][0-9]*$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/** The live process holding the lock of `dataDir`, or undefined. */
async function lockHolder(dataDir: string): Promise<number | undefined> {
  const dir = lockDir(dataDir);
  const newest = (await generations(dir)).at(-1);
  if (newest !== undefined) {
    const h = await readHolder(join(dir, String(newest)));
    if (h && holds(h)) return h.pid;
  }
  return undefined;
}

/** A cocalc-plus of a version before the lock directory, running on `dataDir`. */
async function olderPlus(dataDir: string): Promise<number | undefined> {
  const h = await readHolder(pidFile(dataDir)).catch(() => undefined);
  return h && h.pid !== process.pid && isAlive(h.pid) && looksLikePlus(h.pid) ? h.pid : undefined;
}

/** The pid of the cocalc-plus running on `dataDir`, if any. */
export async function runningPid(dataDir: string): Promise<number | undefined> {
  return (await lockHolder(dataDir)) ?? (await olderPlus(dataDir));
}

/** Who holds a data dir, for the refusal: plus (which has a stop command) or a launchpad part. */
export type LockOwner = "cocalc-plus" | "cocalc-launchpad hub" | "cocalc-launchpad host";

function locked(dataDir: string, pid: number, owner: LockOwner): CocalcError {
  const stop =
    owner === "cocalc-plus"
      ? `stop it with \`cocalc-plus stop --data-dir ${dataDir}\``
      : `stop it (kill -TERM ${pid})`;
  return new CocalcError(
    "ERR_DATA_DIR_LOCKED",
    `another ${owner} (pid ${pid}) is already running on ${dataDir}.\nOpen it, ${stop}, or use another --data-dir.`,
    { pid },
  );
}

/** Removes what gone starters left: generations older than ours, their temp files. */
async function sweep(dir: string, mine: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const tmp = /^\.tmp-(\d+)-/.exec(name);
    const old = /^[1-9][0-9]*$/.test(name) && Number(name) < mine;
    if (old || (tmp && Number(tmp[1]) !== process.pid && !isAlive(Number(tmp[1]))))
      await rm(join(dir, name), { force: true });
  }
}

/** Takes the lock or throws ERR_DATA_DIR_LOCKED. Returns the release function. */
export async function acquireLock(
  dataDir: string,
  owner: LockOwner = "cocalc-plus",
): Promise<() => Promise<void>> {
  const dir = lockDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const content = `${process.pid} ${processStart(process.pid) ?? "-"}\n`;
  const tmp = join(dir, `.tmp-${process.pid}-${randomId()}`);
  await writeFile(tmp, content, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      const newest = (await generations(dir)).at(-1) ?? 0;
      if (newest > 0) {
        const h = await readHolder(join(dir, String(newest)));
        // Gone since the listing: a newer one was made; look again.
        if (h === undefined) continue;
        if (h && holds(h)) throw locked(dataDir, h.pid, owner);
      }
      const mine = newest + 1;
      const file = join(dir, String(mine));
      try {
        await link(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      if ((await generations(dir)).at(-1) !== mine) {
        await rm(file, { force: true });
        continue;
      }
      await sweep(dir, mine);
      const older = await olderPlus(dataDir);
      if (older !== undefined) {
        await rm(file, { force: true });
        throw locked(dataDir, older, owner);
      }
      const pidTmp = `${pidFile(dataDir)}.${randomId()}.tmp`;
      await writeFile(pidTmp, `${process.pid}\n`, { mode: 0o644 });
      await rename(pidTmp, pidFile(dataDir));
      return async () => {
        // The generation stays: a gone holder's is a stale lock, taken over by the next start.
        try {
          if ((await readFile(pidFile(dataDir), "utf8")).trim() === String(process.pid))
            await rm(pidFile(dataDir), { force: true });
        } catch {
          // already gone
        }
      };
    }
    throw new CocalcError("ERR_DATA_DIR_LOCKED", `could not take the lock ${dir}`);
  } finally {
    await rm(tmp, { force: true });
  }
}
