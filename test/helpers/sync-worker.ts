/**
 * A sync process for kill tests: runs full cycles of one pair until both sides agree, printing
 * each event as a JSON line. Reads its options as JSON from argv[2].
 */
import pino from "pino";
import { PairEngine } from "../../services/sync/engine.js";
import type { RemoteTarget } from "../../services/sync/sides.js";
import { SyncState } from "../../services/sync/state.js";
import type { PairConfig } from "../../shared/sync.js";

interface WorkerOptions {
  pair: string;
  config: PairConfig;
  target: RemoteTarget;
  stateFile: string;
  home: string;
  batchFiles?: number;
}

async function main() {
  const o = JSON.parse(process.argv[2]!) as WorkerOptions;
  const state = new SyncState(o.stateFile);
  const engine = new PairEngine({
    pair: o.pair,
    config: o.config,
    target: o.target,
    state,
    home: o.home,
    log: pino({ level: "silent" }),
    ...(o.batchFiles !== undefined && { batchFiles: o.batchFiles }),
    emit: async (e) => {
      process.stdout.write(`${JSON.stringify(e)}\n`);
    },
  });
  for (let i = 0; i < 5; i++) {
    const s = await engine.cycle("full");
    if (s.copied === 0 && s.deleted === 0 && s.conflicts === 0) break;
  }
  state.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
