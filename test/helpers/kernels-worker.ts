/**
 * The kernels service in a process of its own, for tests that kill it with -9. Reads the
 * seed from stdin; NATS_URL, KERNEL_WSID, KERNEL_DIR (and KERNELSPEC_DIRS, colon-separated)
 * from the environment. Prints "running" once the service runs; exits when its parent is gone.
 */
import pino from "pino";
import { kernelsService } from "../../services/kernels/index.js";
import { connectServices } from "../../services/runtime/connect.js";
import { Supervisor } from "../../services/runtime/supervisor.js";

async function main() {
  let seed = "";
  for await (const chunk of process.stdin) seed += chunk;
  const nc = await connectServices(
    { url: process.env.NATS_URL!, seed: seed.trim() },
    "kernels-worker",
  );
  const supervisor = new Supervisor({
    nc,
    wsid: process.env.KERNEL_WSID!,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
    heartbeatMs: 500,
  });
  const specDirs = process.env.KERNELSPEC_DIRS?.split(":").filter(Boolean);
  await supervisor.start([
    kernelsService({
      dir: process.env.KERNEL_DIR!,
      ...(specDirs && { kernelspecDirs: specDirs }),
    }),
  ]);
  process.stdout.write("running\n");
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) void main();
