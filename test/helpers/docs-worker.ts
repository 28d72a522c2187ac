/**
 * The docs service in a process of its own, for tests that kill it with -9. Reads the seed
 * from stdin; NATS_URL, DOCS_WSID and DOCS_HOME from the environment. Prints "running" once
 * the service runs; exits when its parent is gone.
 */
import pino from "pino";
import { docsService } from "../../services/docs/index.js";
import { connectServices } from "../../services/runtime/connect.js";
import { Supervisor } from "../../services/runtime/supervisor.js";

async function main() {
  let seed = "";
  for await (const chunk of process.stdin) seed += chunk;
  const nc = await connectServices(
    { url: process.env.NATS_URL!, seed: seed.trim() },
    "docs-worker",
  );
  const supervisor = new Supervisor({
    nc,
    wsid: process.env.DOCS_WSID!,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
    heartbeatMs: 500,
  });
  await supervisor.start([docsService({ home: process.env.DOCS_HOME!, saveDelayMs: 2000 })]);
  process.stdout.write("running\n");
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) void main();
