/**
 * A control plane and one joined host (leaf node, real btrfs and podman): a workspace command
 * sent the way clients send it (`ws.<wsid>.cmd.host`, answered by the control plane, which
 * looks up the placement and the host's readiness and forwards it) next to the same command
 * sent straight to the host's own subject (`hostcmd.<hostId>.ws.<wsid>`, the anchor). The
 * command is `StartWorkspace` of a running workspace: the host decides it changes nothing, so
 * what is measured is the routing.
 */
import { join } from "node:path";
import pino from "pino";
import type { HostOptions } from "../../cli/launchpad/args.js";
import { startLaunchpadHost } from "../../cli/launchpad/host.js";
import { issueHostToken } from "../../cli/launchpad/hub.js";
import { hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import { hostUnsupported, setupHostMachine, startTestHub } from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";
import { median, num } from "./stats.js";

const HOST = "benchfleet";

export async function fleetRouteBench(): Promise<string> {
  const why = await hostUnsupported();
  if (why) {
    console.log(`fleet-route: skipped: ${why}`);
    return "fleet-route: ratio=n/a skipped=yes";
  }
  const runs = process.env.BENCH_QUICK === "1" ? 100 : 500;
  const log = pino({ level: "warn" });
  const quiet = () => undefined;
  const m = await setupHostMachine(HOST, 1024);
  const cpDir = join(m.dir, "hub");
  const cp = await startTestHub(cpDir);
  let host: Awaited<ReturnType<typeof startLaunchpadHost>> | undefined;
  try {
    const token = join(m.dir, "host.token");
    await issueHostToken(
      { command: "hub-token", hostId: HOST, out: token, ttlSeconds: 600, dataDir: cpDir },
      log,
    );
    const opts: HostOptions = {
      command: "host",
      btrfs: m.root,
      sizeBytes: 0,
      hostId: HOST,
      network: "none",
      snapshotEveryMs: 0,
      dataDir: join(m.dir, "data"),
      logLevel: "warn",
      join: token,
      heartbeatMs: 1000,
    };
    host = await startLaunchpadHost(opts, log, quiet);
    const request = async (subject: string, type: string, data: unknown = {}) => {
      const r = (
        await cp.nc.request(subject, JSON.stringify({ type, data }), { timeout: 120_000 })
      ).json<{ ok: boolean; error?: { message: string } }>();
      if (!r.ok) throw new Error(`${type}: ${r.error?.message}`);
    };
    const routed = workspaceSubjects("wsroute").command("host");
    const direct = hostSubjects(HOST).workspaceCommand("wsroute");
    await request(hostSubjects(HOST).command, "ImportImage", {
      name: "bench",
      source: await m.rootfs("bench"),
    });
    // The first create waits for the host's first heartbeat on the control plane.
    await until(
      "the host ready on the control plane",
      () =>
        request(routed, "CreateWorkspaceOnHost", { image: "bench", hostId: HOST }).then(
          () => true,
          () => false,
        ),
      30_000,
    );
    await request(routed, "StartWorkspace");
    const routedMs: number[] = [];
    const directMs: number[] = [];
    console.log(`fleet-route: ${runs} commands each, interleaved; anchor: the host's own subject`);
    for (let i = 0; i < runs; i++) {
      let t0 = performance.now();
      await request(routed, "StartWorkspace");
      routedMs.push(performance.now() - t0);
      t0 = performance.now();
      await request(direct, "StartWorkspace");
      directMs.push(performance.now() - t0);
    }
    await request(routed, "StopWorkspace");
    await request(routed, "DeleteWorkspace");
    const r = median(routedMs);
    const a = median(directMs);
    console.log(`fleet-route: routed ${num(r, 2)} ms, direct ${num(a, 2)} ms (medians)`);
    return `fleet-route: ratio=${num(r / a, 2)} routed_ms=${num(r, 2)} direct_ms=${num(a, 2)}`;
  } finally {
    await host?.stop();
    await cp.stop();
    await m.cleanup();
  }
}
