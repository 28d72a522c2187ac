/**
 * `ws-upload`: 1 GiB uploaded into a container workspace through the launchpad hub (HTTP to
 * the hub's gateway, then chunks over NATS through the host's leaf connection to the
 * workspace's fs service, written by its worker as the workspace's user) next to plus's own
 * upload on the same machine (HTTP straight to disk: the anchor). The client is the same for
 * both: one PUT whose body is a 1 MiB buffer sent 1024 times, over loopback, after one
 * warm-up upload of 32 MiB each.
 *
 * Plus's home is on the same loop btrfs as the workspaces, so both write to the same disk.
 * The hub is its own process (no host of its own) and the workspace is on a host joined to it
 * over its leaf listener (a second process with its own nats-server, loop btrfs, podman), as a
 * hosted workspace is. The memory measured is the hub's node process and, separately, its
 * tree (with its nats-server) and the joined host's tree (its nats-server, the fs worker).
 */
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { workspacePaths } from "../../services/host/index.js";
import { startHubProcess } from "../helpers/hub-process.js";
import { hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { startBenchPlus } from "./files-plus.js";
import { rssKib, treeRssMb } from "./proc.js";
import { median, num, yesNo } from "./stats.js";
import { put } from "./upload.js";

const MiB = 1024 * 1024;
const RATIO_TARGET = 0.5;
const RSS_TARGET_MB = 64;
const HOST = "benchupload";
const WARM_UP = 32 * MiB;

export async function wsUploadBench(): Promise<string> {
  const why = await hostUnsupported();
  if (why) {
    console.log(`ws-upload: skipped: ${why}`);
    return "ws-upload: ratio=n/a skipped=yes";
  }
  const quick = process.env.BENCH_QUICK === "1";
  const size = (quick ? 256 : 1024) * MiB;
  const runs = quick ? 2 : 3;
  const dir = await mkdtemp(join(tmpdir(), "bench-ws-upload-"));
  console.log(
    `ws-upload: ${size / MiB} MiB per upload over loopback, ${runs} alternating runs per side`,
  );
  const diskMb = size / MiB + 512;
  const m = await setupHostMachine(HOST, 2 * diskMb + 1536);
  // Plus's home is on the host's btrfs too: both write to the same disk.
  const home = join(m.root, "plus-home");
  await mkdir(home);
  const plus = await startBenchPlus(dir, home);
  try {
    const hub = await startHubProcess(m, HOST, { quota: { diskMb, memoryMb: 256 }, joined: true });
    try {
      const hubPort = Number(new URL(hub.base).port);
      const hubTarget = `${hubFilesPaths(hub.wsid).upload}?${new URLSearchParams({ dir: "~", name: "bench.bin", conflict: "replace" })}`;
      const plusTarget = `/api/files/upload?${new URLSearchParams({ dir: "~", name: "bench.bin", conflict: "replace" })}`;
      const plusHeaders = { ...(await plus.auth()), host: `127.0.0.1:${plus.port}` };
      const wsHome = workspacePaths(m.root, hub.wsid).home;
      const ours: number[] = [];
      const theirs: number[] = [];
      const growth: number[] = [];
      const treeGrowth: number[] = [];
      const hostGrowth: number[] = [];
      const hostPid = hub.host!.child.pid!;
      // One small upload each first: code loaded and buffers grown once, not in the runs.
      await put(plus.port, plusTarget, WARM_UP, plusHeaders);
      await put(hubPort, hubTarget, WARM_UP, hub.headers());
      for (let run = 1; run <= runs; run++) {
        const a = await put(plus.port, plusTarget, size, plusHeaders);
        await rm(join(home, "bench.bin"), { force: true });
        const pid = hub.child.pid!;
        const before = rssKib(pid) / 1024;
        const treeBefore = treeRssMb(pid).total;
        const hostBefore = treeRssMb(hostPid).total;
        let peak = before;
        let treePeak = treeBefore;
        let hostPeak = hostBefore;
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssKib(pid) / 1024);
          treePeak = Math.max(treePeak, treeRssMb(pid).total);
          hostPeak = Math.max(hostPeak, treeRssMb(hostPid).total);
        }, 50);
        let s: number;
        try {
          s = await put(hubPort, hubTarget, size, hub.headers());
        } finally {
          clearInterval(sampler);
        }
        const written = (await stat(join(wsHome, "bench.bin"))).size;
        if (written !== size) throw new Error(`the workspace got ${written} bytes, not ${size}`);
        await rm(join(wsHome, "bench.bin"), { force: true });
        theirs.push(size / MiB / a);
        ours.push(size / MiB / s);
        growth.push(peak - before);
        treeGrowth.push(treePeak - treeBefore);
        hostGrowth.push(hostPeak - hostBefore);
        console.log(
          `  run ${run}: plus ${num(size / MiB / a)} MiB/s; through the hub ${num(size / MiB / s)} MiB/s; hub RSS ${num(before, 1)} -> peak ${num(peak, 1)} MB (+${num(peak - before, 1)}), its tree +${num(treePeak - treeBefore, 1)} MB, the host's tree +${num(hostPeak - hostBefore, 1)} MB`,
        );
      }
      const o = median(ours);
      const t = median(theirs);
      const g = Math.max(...growth);
      const tg = Math.max(...treeGrowth);
      const hg = Math.max(...hostGrowth);
      const ratio = o / t;
      console.log(
        `  median: plus ${num(t)} MiB/s, through the hub ${num(o)} MiB/s, ratio ${num(ratio, 2)} (target >= ${RATIO_TARGET}: ${yesNo(ratio >= RATIO_TARGET)}); largest hub RSS growth ${num(g, 1)} MB (target < ${RSS_TARGET_MB}: ${yesNo(g < RSS_TARGET_MB)}), of its tree ${num(tg, 1)} MB, of the host's ${num(hg, 1)} MB`,
      );
      return `ws-upload: ratio=${num(ratio, 2)} hub_mib_s=${num(o)} plus_mib_s=${num(t)} target_met=${yesNo(ratio >= RATIO_TARGET)} hub_rss_growth_mb=${num(g, 1)} rss_target_met=${yesNo(g < RSS_TARGET_MB)} tree_rss_growth_mb=${num(tg, 1)} host_rss_growth_mb=${num(hg, 1)} size_mib=${size / MiB} runs=${runs}`;
    } finally {
      await hub.stop();
    }
  } finally {
    await plus.stop();
    await m.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
