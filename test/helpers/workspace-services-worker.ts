/**
 * A launchpad host's per-workspace services (files, terminals, agents) in a process of their
 * own, for tests that kill it with -9. Reads the seed from stdin; NATS_URL, HOST_ID,
 * HOST_ROOT, DATA_DIR, PTY_HOST and FS_WORKER from the environment. Prints "running" once the
 * services of WAIT_FOR (a workspace id) run.
 */
import pino from "pino";
import { startWorkspaceServices } from "../../cli/launchpad/workspaces.js";
import { detectPodman } from "../../services/host/index.js";
import { connectServices } from "../../services/runtime/connect.js";

async function main() {
  let seed = "";
  for await (const chunk of process.stdin) seed += chunk;
  const nc = await connectServices(
    { url: process.env.NATS_URL!, seed: seed.trim() },
    "workspace-services-worker",
  );
  const services = await startWorkspaceServices({
    nc,
    hostId: process.env.HOST_ID!,
    root: process.env.HOST_ROOT!,
    dataDir: process.env.DATA_DIR!,
    podman: await detectPodman(),
    ptyHostScript: process.env.PTY_HOST!,
    fsWorkerScript: process.env.FS_WORKER!,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
    orphanExitMs: 5000,
  });
  const wanted = process.env.WAIT_FOR!;
  while (!services.running().includes(wanted)) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write("running\n");
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) void main();
