/**
 * `cocalc-plus ssh` from the command to the first 200 through the tunnel: a first connect
 * (installs plus on the remote), a reconnect with the local plus stopped (it starts again,
 * the remote daemon is reused), and the same command while everything runs. Anchor: the
 * floor of the work, `ssh host true` plus starting plus locally to its first 200. Uses a
 * real sshd on loopback and a second local user (needs root).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../services/runtime/ports.js";
import { sshdSkipReason, startSshd } from "../helpers/sshd.js";
import { spawnServer, stopServer, waitForHttp200 } from "./proc.js";
import { median, num } from "./stats.js";

const RUNS = 3;
const TARGET = 1.5;
const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLUS_CLI, ...args], { env, stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.once("close", (code) => {
      if (code !== 0) reject(new Error(`cocalc-plus ${args[0]} failed:\n${out}`));
      else resolve({ ms: performance.now() - t0, out });
    });
  });
}

function killRemote(user: string): void {
  try {
    execFileSync("pkill", ["-u", user, "-f", "plus.js|nats-server|pty-host"]);
  } catch {
    // none ran
  }
}

export async function sshConnectBench(): Promise<string> {
  const skip = sshdSkipReason();
  if (skip) {
    console.log(`ssh-connect: skipped (${skip})`);
    return "ssh-connect: skipped";
  }
  const sshd = await startSshd("cocalcbench");
  const home = await mkdtemp(join(tmpdir(), "cocalc-bench-ssh-"));
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: join(home, ".local/share") };
  const first: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  const anchor: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      // Anchor: ssh host true, then a local plus to its first 200.
      const t0 = performance.now();
      execFileSync("ssh", [
        "-F",
        sshd.config,
        "-p",
        String(sshd.port),
        `${sshd.user}@127.0.0.1`,
        "true",
      ]);
      const port = await freePort();
      const dir = await mkdtemp(join(tmpdir(), "cocalc-bench-anchor-"));
      const server = spawnServer(
        process.execPath,
        [PLUS_CLI, "--no-open", "--port", String(port), "--data-dir", dir],
        { ...env, HOME: dir },
      );
      await waitForHttp200(`http://127.0.0.1:${port}/healthz`, server);
      anchor.push(performance.now() - t0);
      await stopServer(server);
      await rm(dir, { recursive: true, force: true });

      // First connect: nothing on the remote, no local plus.
      killRemote(sshd.user);
      sshd.asUser('rm -rf "$HOME/.cache/cocalc" "$HOME/.local/share/cocalc-plus"');
      const dataDir = join(home, `data-${i}`);
      const args = ["ssh", sshd.target, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs];
      first.push((await run(args, env)).ms);
      // Reconnect after the local plus stopped: the remote daemon is reused.
      await run(["stop", "--data-dir", dataDir], env);
      const c = await run(args, env);
      if (!/reusing the running/.test(c.out))
        throw new Error(`the daemon was not reused:\n${c.out}`);
      cold.push(c.ms);
      // The same command while everything runs.
      warm.push((await run(args, env)).ms);
      await run(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
      await run(["stop", "--terminals", "--data-dir", dataDir], env);
    }
  } finally {
    killRemote(sshd.user);
    await sshd.stop();
    await rm(home, { recursive: true, force: true });
  }
  const a = median(anchor);
  const ratio = median(cold) / a;
  console.log(`  anchor (ssh true + local plus to 200): ${num(a)} ms`);
  console.log(`  first connect (install + start):       ${num(median(first))} ms`);
  console.log(`  reconnect (local plus restarted):      ${num(median(cold))} ms`);
  console.log(`  same command again (all running):      ${num(median(warm))} ms`);
  return `ssh-connect: ratio=${ratio.toFixed(2)} target<=${TARGET} met=${ratio <= TARGET ? "yes" : "no"} first_ms=${num(median(first))} reconnect_ms=${num(median(cold))} warm_ms=${num(median(warm))} anchor_ms=${num(a)}`;
}
