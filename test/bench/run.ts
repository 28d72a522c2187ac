/**
 * Benchmarks: `npm run bench -- [name…]`, all of them without a name. Each prints a few lines
 * and last `<name>: ratio=<x> key=value…`. They only measure and print; nothing here fails on
 * a slow number.
 */
import { agentLogBench } from "./agent-log.js";
import { eventsBench } from "./events.js";
import { fleetRouteBench } from "./fleet-route.js";
import { forwardBench } from "./forward.js";
import { hubLoginBench } from "./hub-login.js";
import { kernelBench } from "./kernel.js";
import { keystrokeBench } from "./keystroke.js";
import { listBench } from "./list.js";
import { proxyBench } from "./proxy.js";
import { searchBench } from "./search.js";
import { sshConnectBench } from "./ssh-connect.js";
import { startupBench } from "./startup.js";
import { syncBench } from "./sync.js";
import { termBench } from "./term.js";
import { traceBench } from "./trace.js";
import { uploadBench } from "./upload.js";
import { wsSshBench } from "./ws-ssh.js";
import { wsStartBench } from "./ws-start.js";
import { wsUploadBench } from "./ws-upload.js";

const BENCHMARKS: Readonly<Record<string, () => Promise<string>>> = {
  startup: startupBench,
  events: eventsBench,
  term: termBench,
  "ws-start": wsStartBench,
  list: listBench,
  search: searchBench,
  upload: uploadBench,
  sync: syncBench,
  keystroke: keystrokeBench,
  trace: traceBench,
  "agent-log": agentLogBench,
  "ssh-connect": sshConnectBench,
  forward: forwardBench,
  "fleet-route": fleetRouteBench,
  "hub-login": hubLoginBench,
  "ws-upload": wsUploadBench,
  proxy: proxyBench,
  "ws-ssh": wsSshBench,
  kernel: kernelBench,
};

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark ${unknown.join(", ")}; choose from: ${Object.keys(BENCHMARKS).join(", ")}`,
    );
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHMARKS)) {
    const last = await BENCHMARKS[name]!();
    console.log(last);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
