/**
 * The data dir's lock under a race: starters at the same moment on a data dir whose holder
 * was killed with -9. Exactly one runs, the others say "already running".
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { until } from "../../test/helpers/nats.js";
import { PLUS_BIN, plusEnv, removeHome, startPlus, tempHome } from "../../test/helpers/plus.js";
import { runningPid } from "./lock.js";

const STARTER = new URL("../../dist/test/helpers/lock-starter.js", import.meta.url).pathname;
const why = !existsSync(STARTER) || !existsSync(PLUS_BIN) ? "not built (npm run build)" : "";
if (why) console.warn(`lock race tests skipped: ${why}`);

interface Started {
  child: ChildProcess;
  /** "running", or the exit code and what it printed. */
  outcome: Promise<{ running: boolean; code: number | null; output: string }>;
}

/** Spawns a process; its outcome settles when it prints `ready` or exits. */
function launch(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Started {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const outcome = new Promise<{ running: boolean; code: number | null; output: string }>(
    (resolve) => {
      const onData = (d: Buffer) => {
        output += d;
        if (ready.test(output)) resolve({ running: true, code: null, output });
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("close", (code) => resolve({ running: false, code, output }));
    },
  );
  return { child, outcome };
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

/** Pids of processes whose command line names `dir` (plus's nats-server runs with its config there). */
function processesUsing(dir: string, what: RegExp): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(dir) && what.test(cmdline)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe.skipIf(why !== "")("the data dir's lock", () => {
  const children: ChildProcess[] = [];
  const homes: string[] = [];
  afterAll(async () => {
    for (const c of children) await kill(c, "SIGKILL");
    for (const h of homes) await removeHome(h);
  });

  it("lock - 30 rounds of three simultaneous starters on a stale lock: exactly one runs", async () => {
    const home = await tempHome();
    homes.push(home);
    const dataDir = join(home, "data");
    const start = () => {
      const s = launch([STARTER, dataDir], /^running$/m);
      children.push(s.child);
      return s;
    };
    // A holder killed with -9 leaves a stale lock (and plus.pid) behind, as every round does.
    let holder = start();
    expect((await holder.outcome).running).toBe(true);
    await kill(holder.child, "SIGKILL");
    for (let round = 1; round <= 30; round++) {
      expect(existsSync(join(dataDir, "plus.pid"))).toBe(true);
      const starters = [start(), start(), start()];
      const outcomes = await Promise.all(starters.map((s) => s.outcome));
      const winners = outcomes.filter((o) => o.running);
      expect(winners, `round ${round}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
      for (const o of outcomes.filter((o) => !o.running)) {
        expect(o.code, `round ${round}`).toBe(1);
        expect(o.output, `round ${round}`).toContain("already running");
      }
      holder = starters[outcomes.indexOf(winners[0]!)]!;
      expect(await runningPid(dataDir)).toBe(holder.child.pid);
      expect(readFileSync(join(dataDir, "plus.pid"), "utf8").trim()).toBe(String(holder.child.pid));
      await kill(holder.child, "SIGKILL");
    }
    // Only the newest generation is left of all those take-overs.
    expect(readdirSync(join(dataDir, "lock")).length).toBeLessThanOrEqual(2);
  });

  it("lock - three real cocalc-plus on a data dir whose plus was killed with -9: one runs, no orphan nats-server", async () => {
    const home = await tempHome();
    homes.push(home);
    const dataDir = join(home, "data");
    const killed = await startPlus({ home, dataDir });
    children.push(killed.child);
    const orphan = Number(readFileSync(join(dataDir, "nats/nats-server.pid"), "utf8"));
    await killed.stop("SIGKILL");

    const env = plusEnv(home);
    const starters = [0, 1, 2].map(() => {
      const s = launch(
        [PLUS_BIN, "--no-open", "--port", "0", "--data-dir", dataDir],
        /cocalc-plus ready: /,
        env,
      );
      children.push(s.child);
      return s;
    });
    const outcomes = await Promise.all(starters.map((s) => s.outcome));
    const winners = outcomes.filter((o) => o.running);
    expect(winners, JSON.stringify(outcomes)).toHaveLength(1);
    // The others say so and print the winner's sign-in URL.
    for (const o of outcomes.filter((o) => !o.running)) {
      expect(o.code, o.output).toBe(0);
      expect(o.output).toContain("already running");
      expect(o.output).toMatch(/cocalc-plus: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    }
    const winner = starters[outcomes.indexOf(winners[0]!)]!;
    // The killed plus's nats-server was stopped; the winner's is the only one.
    await until("the orphan nats-server gone", async () => {
      try {
        process.kill(orphan, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect(processesUsing(dataDir, /nats-server/)).toHaveLength(1);
    await kill(winner.child, "SIGTERM");
    expect(processesUsing(dataDir, /nats-server/)).toEqual([]);
  });
});
