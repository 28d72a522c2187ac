/**
 * `sync`: a tree of 100,000 small files and a few large ones synced to a remote over ssh (a
 * real sshd on loopback, a second local user as the remote, one ControlMaster for everyone):
 * the cold initial sync next to `rsync -a`, a cycle that finds no change next to `unison -batch`
 * finding no change (twice: as a running pair does it, asking each side's watcher journal,
 * and as a full rescan walking both trees, as the safety net does), and the latency from writing one file to its appearance on the other side
 * while watching. Needs root (for the remote user and sshd); says why and skips otherwise.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { PairEngine } from "../../services/sync/engine.js";
import { rsyncShell } from "../../services/sync/rsync.js";
import { SyncState } from "../../services/sync/state.js";
import { type PairConfig, pairIdFor } from "../../shared/sync.js";
import {
  installBundle,
  nodeMissingReason,
  type Sshd,
  SYNC_REMOTE_USER,
  sshdSkipReason,
  startSshd,
} from "../helpers/sshd.js";
import { median, num, sleep, yesNo } from "./stats.js";

const QUICK = process.env.BENCH_QUICK === "1";
const SMALL = QUICK ? 10_000 : 100_000;
const LARGE = 3;
const LARGE_BYTES = (QUICK ? 8 : 32) * 1024 * 1024;

function makeTree(dir: string): number {
  let bytes = 0;
  for (let i = 0; i < SMALL; i++) {
    const d = join(dir, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d, { recursive: true });
    const text = `small file ${i} ${"x".repeat(i % 200)}\n`;
    writeFileSync(join(d, `f${i}.txt`), text);
    bytes += text.length;
  }
  const big = Buffer.alloc(LARGE_BYTES);
  for (let i = 0; i < LARGE; i++) {
    big.fill(i + 1);
    writeFileSync(join(dir, `large${i}.bin`), big);
    bytes += big.length;
  }
  return bytes;
}

function timed(what: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    env: env ?? process.env,
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}: ${r.stderr.slice(-2000)}`);
  return ms;
}

export async function syncBench(): Promise<string> {
  const why =
    sshdSkipReason() ??
    (spawnSync("unison", ["-version"]).status === 0
      ? undefined
      : "no unison (apt-get install unison)");
  if (why) return `sync: skipped reason=${JSON.stringify(why)}`;
  let sshd: Sshd | undefined;
  const dir = await mkdtemp(join(tmpdir(), "cocalc-bench-sync-"));
  try {
    sshd = await startSshd(SYNC_REMOTE_USER);
    const missing = nodeMissingReason(sshd);
    if (missing) return `sync: skipped reason=${JSON.stringify(missing)}`;
    await sshd.master();
    const bundle = await installBundle(sshd, "bench");
    const src = join(dir, "home", "tree");
    mkdirSync(src, { recursive: true });
    const bytes = makeTree(src);
    console.log(
      `sync: tree of ${SMALL} small files and ${LARGE} × ${LARGE_BYTES / 1024 / 1024} MiB (${num(bytes / 1e6)} MB)`,
    );
    const remoteBase = "bench-sync";
    const remoteAbs = join(sshd.home, remoteBase);
    rmSync(remoteAbs, { recursive: true, force: true });
    mkdirSync(remoteAbs, { recursive: true });
    await sshd.chownRemote(remoteBase);
    // Warm the page cache for everyone alike.
    execFileSync("sh", ["-c", `find "${src}" -type f -exec cat {} + > /dev/null`]);
    const target = { ssh: sshd.ssh, destination: sshd.destination, bundle };
    const rsh = rsyncShell(target);

    // Anchor 1: rsync -a, cold.
    const rsyncMs = timed("rsync", "rsync", [
      "-a",
      "-e",
      rsh,
      `${src}/`,
      `${sshd.destination}:${remoteBase}/rsync/`,
    ]);
    console.log(`sync: rsync -a cold ${num(rsyncMs)} ms`);

    // Anchor 2: unison -batch, cold then no change (its archives in temp dirs).
    const unisonEnv = { ...process.env, UNISON: join(dir, "unison-local") };
    const sshargs = sshd.ssh.slice(1).join(" ");
    const unisonArgs = [
      src,
      `ssh://${sshd.destination}/${remoteBase}/unison`,
      "-batch",
      "-silent",
      "-times",
      "-perms",
      "0",
      "-sshargs",
      sshargs,
      "-servercmd",
      "unison",
    ];
    mkdirSync(join(remoteAbs, "unison"), { recursive: true });
    await sshd.chownRemote(remoteBase);
    const unisonColdMs = timed("unison cold", "unison", unisonArgs, unisonEnv);
    const unisonIdle: number[] = [];
    for (let i = 0; i < 3; i++)
      unisonIdle.push(timed("unison no-change", "unison", unisonArgs, unisonEnv));
    const unisonIdleMs = median(unisonIdle);
    console.log(
      `sync: unison -batch cold ${num(unisonColdMs)} ms, no change ${num(unisonIdleMs)} ms`,
    );

    // cocalc-plus sync.
    const state = new SyncState(join(dir, "state.sqlite"));
    const config: PairConfig = {
      session: sshd.destination,
      local: "tree",
      remote: `${remoteBase}/ours`,
      ignore: "",
      prefer: "local",
      outsideHome: false,
    };
    const engine = new PairEngine({
      pair: pairIdFor(config.session, config.local),
      config,
      target,
      state,
      home: join(dir, "home"),
      log: pino({ level: "silent" }),
      emit: async () => undefined,
    });
    const phases = (x: Record<string, number>) =>
      Object.entries(x)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
    let t0 = performance.now();
    const cold = await engine.cycle("full");
    const coldMs = performance.now() - t0;
    if (cold.copied < SMALL) throw new Error(`cold cycle copied ${cold.copied} of ${SMALL}`);
    // The anchor again right after, into a fresh folder: the load of a shared machine drifts
    // over the minutes unison takes, and the ratio uses the mean of both rsync runs.
    const rsyncAfterMs = timed("rsync", "rsync", [
      "-a",
      "-e",
      rsh,
      `${src}/`,
      `${sshd.destination}:${remoteBase}/rsync2/`,
    ]);
    console.log(`sync: rsync -a cold again ${num(rsyncAfterMs)} ms`);
    const rsyncMeanMs = (rsyncMs + rsyncAfterMs) / 2;
    console.log(`sync: cocalc cold ${num(coldMs)} ms (${phases(cold.phases)})`);
    // Both sides watching, as a running pair does; the first cycle walks (the watchers began
    // after the trees were last walked), later ones ask each side's watcher journal.
    await engine.start();
    await engine.idle();
    await sleep(500);
    const noChange = async (kind: "watch" | "full", via: string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        t0 = performance.now();
        const s = await engine.cycle(kind);
        times.push(performance.now() - t0);
        if (s.copied + s.deleted + s.conflicts > 0)
          throw new Error("a no-change cycle changed something");
        if (s.via.local !== via || s.via.remote !== via)
          throw new Error(`a ${kind} cycle was answered by ${s.via.local}/${s.via.remote}`);
        if (i === 4) console.log(`sync: ${kind} no-change phases ${phases(s.phases)}`);
      }
      return median(times);
    };
    await engine.cycle("watch");
    const idleMs = await noChange("watch", "journal");
    const rescanMs = await noChange("full", "walk");
    console.log(
      `sync: cocalc no change ${num(idleMs, 1)} ms (watchers' journals), ${num(rescanMs)} ms (full rescan of both trees)`,
    );

    const lat: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `latency-${i}.txt`;
      const dest = join(sshd.home, config.remote, name);
      t0 = performance.now();
      writeFileSync(join(src, name), `one file ${i}\n`);
      while (!existsSync(dest)) {
        if (performance.now() - t0 > 30_000) throw new Error("one file did not arrive in 30 s");
        await sleep(5);
      }
      lat.push(performance.now() - t0);
      await engine.idle();
      await sleep(300);
    }
    await engine.stop();
    state.close();
    const latMs = median(lat);
    console.log(
      `sync: one-file latency ${lat.map((x) => num(x)).join(", ")} ms (median ${num(latMs)})`,
    );

    const coldRatio = coldMs / rsyncMeanMs;
    const idleRatio = idleMs / unisonIdleMs;
    const rescanRatio = rescanMs / unisonIdleMs;
    return [
      `sync: ratio=${num(coldRatio, 2)}`,
      `cold_ms=${num(coldMs)} rsync_ms=${num(rsyncMeanMs)} rsync_before_ms=${num(rsyncMs)} rsync_after_ms=${num(rsyncAfterMs)} cold_target_met=${yesNo(coldRatio <= 1.2)}`,
      `nochange_ms=${num(idleMs, 1)} unison_nochange_ms=${num(unisonIdleMs)} nochange_ratio=${num(idleRatio, 3)} nochange_target_met=${yesNo(idleRatio <= 0.5)}`,
      `rescan_nochange_ms=${num(rescanMs)} rescan_nochange_ratio=${num(rescanRatio, 2)}`,
      `latency_ms=${num(latMs)} latency_target_met=${yesNo(latMs <= 1500)}`,
      `files=${SMALL + LARGE}`,
    ].join(" ");
  } finally {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (sshd) rmSync(join(sshd.home, "bench-sync"), { recursive: true, force: true });
  }
}
