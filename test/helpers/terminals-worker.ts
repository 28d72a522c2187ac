/**
 * The terminals service in a process of its own, for tests that kill it with -9. Reads the
 * seed from stdin; NATS_URL, TERM_WSID and TERM_DIR from the environment. Prints "running"
 * once the service runs; exits when its parent is gone.
 */
import pino from "pino";
import { connectServices } from "../../services/runtime/connect.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { terminalsService } from "../../services/terminals/index.js";

/** The pty host as tsc builds it (the bundle is dist/bundle/pty-host.js). */
export const PTY_HOST_SCRIPT = new URL("../../services/terminals/pty-host.js", import.meta.url)
  .pathname;

async function main() {
  let seed = "";
  for await (const chunk of process.stdin) seed += chunk;
  const nc = await connectServices(
    { url: process.env.NATS_URL!, seed: seed.trim() },
    "terminals-worker",
  );
  const supervisor = new Supervisor({
    nc,
    wsid: process.env.TERM_WSID!,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
    heartbeatMs: 500,
  });
  await supervisor.start([
    terminalsService({
      dir: process.env.TERM_DIR!,
      hostScript: PTY_HOST_SCRIPT,
      orphanExitMs: 60_000,
    }),
  ]);
  process.stdout.write("running\n");
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) void main();
