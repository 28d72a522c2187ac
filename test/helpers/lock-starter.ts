/**
 * A starter for the lock race test: makes the data dir and takes its lock with plus's own
 * acquireLock (what plus does first), prints "running" and holds it until killed, or prints why not and
 * exits 1. Usage: node lock-starter.js DATA_DIR
 */
import { mkdir } from "node:fs/promises";
import { acquireLock } from "../../cli/common/lock.js";

const dataDir = process.argv[2]!;
try {
  // As cli/plus/server.ts does before it takes the lock.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await acquireLock(dataDir);
  process.stdout.write("running\n");
  // Hold the lock; never outlive the test that started us.
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(0);
    }
  }, 500);
} catch (err) {
  process.stdout.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
