/**
 * Launchpad host: start of an existing stopped workspace until "running" (health checked)
 * next to `podman run --rm` of the same rootfs doing `true` (the anchor), on a loop btrfs.
 * Also: snapshot time of a home with 100k files, and memory per idle running workspace.
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { hostService, UID_BASE } from "../../services/host/index.js";
import { detectPodman } from "../../services/host/system.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { containerName } from "../../shared/launchpad.js";
import { hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import { hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { setup, TEST_WSID, testLog } from "../helpers/nats.js";
import { processTree, treeRssMb } from "./proc.js";
import { median, num, sleep, yesNo } from "./stats.js";

const execFileP = promisify(execFile);
const TARGET = 1.5;
const HOST = "benchhost";

export async function wsStartBench(): Promise<string> {
  const why = await hostUnsupported();
  if (why) {
    console.log(`ws-start: skipped: ${why}`);
    return "ws-start: ratio=n/a skipped=yes";
  }
  const runs = process.env.BENCH_QUICK === "1" ? 5 : 15;
  const files = process.env.BENCH_QUICK === "1" ? 20_000 : 100_000;
  const t = await setup({ streams: true });
  const m = await setupHostMachine(HOST, 4096);
  const supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
  try {
    await supervisor.start([hostService({ hostId: HOST, root: m.root, snapshotEveryMs: 0 })]);
    const send = async (wsid: string, type: string, data: unknown = {}) => {
      const r = (
        await t.nc.request(
          workspaceSubjects(wsid).command("host"),
          JSON.stringify({ type, data }),
          {
            timeout: 120_000,
          },
        )
      ).json<{ ok: boolean; error?: { message: string } }>();
      if (!r.ok) throw new Error(`${type}: ${r.error?.message}`);
    };
    const rootfs = await m.rootfs("bench");
    const imported = await t.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bench", source: rootfs } }),
      { timeout: 120_000 },
    );
    if (!imported.json<{ ok: boolean }>().ok) throw new Error("image import failed");
    await send("wsbench", "CreateWorkspaceOnHost", { image: "bench", quota: { diskMb: 4000 } });

    const podman = await detectPodman();
    const anchorArgs = [
      ...(podman.runtime ? ["--runtime", podman.runtime] : []),
      "run",
      "--rm",
      "--network",
      "none",
      ...podman.ulimits.flatMap((u) => ["--ulimit", u]),
      "--uidmap",
      `0:${UID_BASE}:65536`,
      "--gidmap",
      `0:${UID_BASE}:65536`,
      "--rootfs",
      `${join(m.root, "images", "bench")}:O`,
      "/bin/true",
    ];
    const startMs: number[] = [];
    const anchorMs: number[] = [];
    console.log(
      `ws-start: ${runs} starts each, interleaved; anchor: podman run --rm <rootfs> true`,
    );
    for (let i = 0; i < runs; i++) {
      let t0 = performance.now();
      await send("wsbench", "StartWorkspace");
      startMs.push(performance.now() - t0);
      await send("wsbench", "StopWorkspace");
      t0 = performance.now();
      await execFileP(podman.podman, anchorArgs);
      anchorMs.push(performance.now() - t0);
    }
    const s = median(startMs);
    const a = median(anchorMs);
    const ratio = s / a;
    console.log(`  start to running: median ${num(s)} ms; anchor: median ${num(a)} ms`);
    console.log(`  ratio ${num(ratio, 2)} (target <= ${TARGET}: ${yesNo(ratio <= TARGET)})`);

    // Snapshot of a home with many files.
    const home = join(m.root, "workspaces", "wsbench", "home", "many");
    for (let d = 0; d < files / 1000; d++) {
      const dir = join(home, String(d));
      await mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: 1000 }, (_, f) => writeFile(join(dir, String(f)), "x")),
      );
    }
    await execFileP("sync", []);
    let t0 = performance.now();
    await send("wsbench", "CreateSnapshot", { name: "many" });
    const snapMs = performance.now() - t0;
    console.log(`  snapshot of a home with ${files} files: ${num(snapMs)} ms`);

    // Memory of idle running workspaces: conmon plus the container's processes.
    const idle = ["wsidle1", "wsidle2", "wsidle3"];
    for (const w of idle) {
      await send(w, "CreateWorkspaceOnHost", { image: "bench" });
      await send(w, "StartWorkspace");
    }
    await sleep(3000);
    const rss: number[] = [];
    for (const w of idle) {
      const { stdout } = await execFileP(podman.podman, [
        "inspect",
        "--format",
        "{{.State.ConmonPid}}",
        containerName(HOST, w),
      ]);
      const pid = Number(stdout.trim());
      rss.push(processTree(pid).length > 0 ? treeRssMb(pid).total : 0);
    }
    const perWs = median(rss);
    console.log(`  idle running workspace: ${num(perWs, 1)} MB (conmon + container processes)`);
    t0 = performance.now();
    for (const w of idle) await send(w, "StopWorkspace");
    return `ws-start: ratio=${num(ratio, 2)} start_ms=${num(s)} anchor_ms=${num(a)} target_met=${yesNo(ratio <= TARGET)} snapshot_ms=${num(snapMs)} snapshot_files=${files} idle_ws_rss_mb=${num(perWs, 1)} runs=${runs}`;
  } finally {
    await supervisor.stop();
    await m.cleanup();
    await t.cleanup();
  }
}
