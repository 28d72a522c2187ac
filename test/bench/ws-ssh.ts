/**
 * `ws-ssh`: SSH into a container workspace through the launchpad hub (OpenSSH's client to the
 * hub's SSH server, then a byte pipe over NATS to the host, which runs the command in the
 * container) next to the same client against a real sshd on this machine (the anchor: what
 * plain SSH costs here). Two measures, runs alternating between the sides: the time of
 * `ssh … true` (a new connection each time: key exchange, authentication, one exec), and the
 * throughput of rsync of a 200 MB file of random bytes (no compression) into a fresh target.
 *
 * The hub is its own process with the host it runs joined to itself (loop btrfs, podman);
 * its image has this machine's rsync. The anchor's target is the sshd user's home (the
 * machine's disk), the hub's the workspace's home (on the loop btrfs).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workspacePaths } from "../../services/host/index.js";
import { runLaunchpad, startHubProcess } from "../helpers/hub-process.js";
import { copyProgram, hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { sshdSkipReason, startSshd } from "../helpers/sshd.js";
import { median, num, yesNo } from "./stats.js";

const MB = 1_000_000;
const HOST = "benchssh";
const TRUE_TARGET = 1.5;
const RSYNC_TARGET = 0.7;

function run(file: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.once("close", (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(new Error(`${file} ${args.join(" ")} exited with ${code}: ${err}`)),
    );
  });
}

export async function wsSshBench(): Promise<string> {
  const why = (await hostUnsupported()) ?? sshdSkipReason();
  if (why) {
    console.log(`ws-ssh: skipped: ${why}`);
    return "ws-ssh: ratio=n/a skipped=yes";
  }
  const quick = process.env.BENCH_QUICK === "1";
  const trues = quick ? 5 : 15;
  const rsyncs = quick ? 2 : 3;
  const size = 200 * MB;
  const dir = await mkdtemp(join(tmpdir(), "bench-ws-ssh-"));
  const m = await setupHostMachine(HOST, 3072);
  const sshd = await startSshd("cocalcbench");
  try {
    const hub = await startHubProcess(m, HOST, {
      quota: { diskMb: 1024, memoryMb: 256 },
      prepareImage: (rootfs) => copyProgram(rootfs, "/usr/bin/rsync"),
    });
    try {
      const key = join(dir, "key");
      spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
      runLaunchpad([
        "hub",
        "account",
        "ssh-key",
        "add",
        "admin@example.com",
        "bench",
        "--file",
        `${key}.pub`,
        "--data-dir",
        hub.dataDir,
      ]);
      const sshPort = Number(new URL(hub.base).port) + 1;
      const common = [
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
      ];
      const sides = {
        hub: { opts: [...common, "-i", key, "-p", String(sshPort)], dest: `${hub.wsid}@127.0.0.1` },
        sshd: {
          opts: [...common, "-i", sshd.key, "-p", String(sshd.port)],
          dest: sshd.destination,
        },
      };
      const file = join(dir, "payload.bin");
      await writeFile(file, randomBytes(size));
      console.log(
        `ws-ssh: ${trues} × ssh … true and ${rsyncs} × rsync of ${size / MB} MB per side, alternating`,
      );
      // Warm: code loaded and the workspace's first exec done on both.
      for (const s of Object.values(sides)) await run("ssh", [...s.opts, s.dest, "true"]);
      const trueMs = { hub: [] as number[], sshd: [] as number[] };
      for (let i = 0; i < trues; i++)
        for (const side of ["sshd", "hub"] as const) {
          const s = sides[side];
          trueMs[side].push(await run("ssh", [...s.opts, s.dest, "true"]));
        }
      const rate = { hub: [] as number[], sshd: [] as number[] };
      const targets = {
        hub: join(workspacePaths(m.root, hub.wsid).home, "payload.bin"),
        sshd: join(sshd.home, "payload.bin"),
      };
      for (let i = 0; i < rsyncs; i++)
        for (const side of ["sshd", "hub"] as const) {
          const s = sides[side];
          await rm(targets[side], { force: true });
          const ms = await run("rsync", [
            "-a",
            "--whole-file",
            "-e",
            ["ssh", ...s.opts].join(" "),
            file,
            `${s.dest}:payload.bin`,
          ]);
          const got = (await stat(targets[side])).size;
          if (got !== size) throw new Error(`${side}: ${got} bytes arrived, not ${size}`);
          rate[side].push(size / MB / (ms / 1000));
          console.log(`  rsync run ${i + 1} ${side}: ${num(size / MB / (ms / 1000), 1)} MB/s`);
        }
      const tHub = median(trueMs.hub);
      const tSshd = median(trueMs.sshd);
      const rHub = median(rate.hub);
      const rSshd = median(rate.sshd);
      const trueRatio = tHub / tSshd;
      const rsyncRatio = rHub / rSshd;
      console.log(
        `  ssh … true: median ${num(tHub)} ms through the hub, ${num(tSshd)} ms to sshd: ${num(trueRatio, 2)}× (target <= ${TRUE_TARGET}: ${yesNo(trueRatio <= TRUE_TARGET)})`,
      );
      console.log(
        `  rsync ${size / MB} MB: median ${num(rHub, 1)} MB/s through the hub, ${num(rSshd, 1)} MB/s to sshd: ${num(rsyncRatio, 2)}× (target >= ${RSYNC_TARGET}: ${yesNo(rsyncRatio >= RSYNC_TARGET)})`,
      );
      return `ws-ssh: ratio=${num(trueRatio, 2)} true_hub_ms=${num(tHub)} true_sshd_ms=${num(tSshd)} true_target_met=${yesNo(trueRatio <= TRUE_TARGET)} rsync_ratio=${num(rsyncRatio, 2)} rsync_hub_mb_s=${num(rHub, 1)} rsync_sshd_mb_s=${num(rSshd, 1)} rsync_target_met=${yesNo(rsyncRatio >= RSYNC_TARGET)} runs=${trues}/${rsyncs}`;
    } finally {
      await hub.stop();
    }
  } finally {
    await sshd.stop();
    await m.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
