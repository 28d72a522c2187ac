/**
 * Kernel round trip and output flood: `1+1` from the ExecuteCell command to its
 * ExecutionFinished event (NATS command → kernels service → ipykernel over ZeroMQ → events →
 * the reader, connected as the browser user to a real cocalc-plus) against the anchor:
 * Debian's jupyter_client (KernelManager + blocking client, python3) talking to the same
 * kind of kernel, from execute_request to the iopub idle of its parent. Then a cell that
 * prints 20 MB, in MB/s of stream text received, both ways. Runs alternate in blocks. Last,
 * the first render of a 1000-cell notebook with outputs in Chromium (notebook-render.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, usernamePasswordAuthenticator } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { kernelCommand, kernelView, newExecutionId } from "../../services/kernels/test-kit.js";
import { freePort } from "../../services/runtime/ports.js";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { EventRegistry } from "../../shared/envelope.js";
import { type KernelEvent, KernelEvents, kernelIdForPath } from "../../shared/kernels.js";
import { kernelSubjects, Streams } from "../../shared/subjects.js";
import { notebookFirstRender, RENDER_TARGET_MS } from "./notebook-render.js";
import { spawnServer, stopServer, waitForHttp200 } from "./proc.js";
import { median, num, percentile, sleep, yesNo } from "./stats.js";

const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));
const RATIO_TARGET = 1.5;
const FLOOD_CODE = "import sys\nfor i in range(200000): sys.stdout.write('y' * 99 + '\\n')";

/** jupyter_client's side: one kernel, commands on stdin, one JSON line per answer. */
const DIRECT = `
import json, sys, time
from jupyter_client import KernelManager
km = KernelManager(kernel_name="python3")
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
def run(code):
    t0 = time.perf_counter()
    mid = kc.execute(code)
    n = 0
    while True:
        m = kc.get_iopub_msg(timeout=120)
        if m["parent_header"].get("msg_id") != mid:
            continue
        if m["msg_type"] == "stream":
            n += len(m["content"]["text"])
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return time.perf_counter() - t0, n
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd, count = line.split()
    code = "1+1" if cmd == "rt" else ${JSON.stringify(FLOOD_CODE)}
    out = [run(code) for _ in range(int(count))]
    print(json.dumps({"ms": [s * 1000 for s, _ in out], "chars": [c for _, c in out]}), flush=True)
kc.stop_channels()
km.shutdown_kernel(now=True)
`;

class Direct {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  constructor() {
    this.child = spawn("/usr/bin/python3", ["-c", DIRECT], { stdio: ["pipe", "pipe", "inherit"] });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  private async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error("jupyter_client's side ended");
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  async ready(): Promise<void> {
    await this.next();
  }

  async run(cmd: "rt" | "flood", count: number): Promise<{ ms: number[]; chars: number[] }> {
    this.child.stdin!.write(`${cmd} ${count}\n`);
    return (await this.next()) as { ms: number[]; chars: number[] };
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

/** Our side: a live reader of the kernel's events; resolves each execution's finish. */
class Ours {
  private readonly waiting = new Map<string, { resolve: () => void; chars: number }>();
  private messages: { stop(): void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly wsid: string,
    private readonly kid: string,
  ) {}

  async follow(): Promise<void> {
    const registry = new EventRegistry<KernelEvent>(KernelEvents);
    const consumer = await jetstream(this.nc).consumers.get(Streams.WS_KERNEL, {
      filter_subjects: kernelSubjects(this.wsid, this.kid).all,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    this.messages = messages;
    void (async () => {
      for await (const m of messages) {
        const e = registry.parse(m.data);
        const id = (e.data as { executionId?: string }).executionId;
        const w = id === undefined ? undefined : this.waiting.get(id);
        if (!w) continue;
        if (e.type === "OutputAdded" && e.data.output.output_type === "stream")
          w.chars += e.data.output.text.length;
        if (e.type === "ExecutionFinished") w.resolve();
      }
    })();
  }

  async run(code: string): Promise<{ ms: number; chars: number }> {
    const executionId = newExecutionId();
    const t0 = performance.now();
    const entry: { resolve: () => void; chars: number } = { resolve: () => undefined, chars: 0 };
    const done = new Promise<void>((r) => {
      entry.resolve = () => r();
    });
    this.waiting.set(executionId, entry);
    const reply = await kernelCommand(this.nc, this.wsid, "ExecuteCell", {
      kid: this.kid,
      executionId,
      cellId: "bench",
      code,
    });
    if (!reply.ok) throw new Error(`ExecuteCell: ${reply.error.message}`);
    await done;
    this.waiting.delete(executionId);
    return { ms: performance.now() - t0, chars: entry.chars };
  }

  stop(): void {
    this.messages?.stop();
  }
}

/** The notebook whose one cell ("bench") the runs execute. */
const BENCH_NOTEBOOK = {
  cells: [
    {
      cell_type: "code",
      execution_count: null,
      id: "bench",
      metadata: {},
      outputs: [],
      source: [],
    },
  ],
  metadata: {
    kernelspec: { display_name: "Python 3", language: "python", name: "python3" },
  },
  nbformat: 4,
  nbformat_minor: 5,
};

export async function kernelBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const blocks = quick ? 2 : 4;
  const perBlock = quick ? 30 : 100;
  const floods = quick ? 1 : 3;
  const dir = await mkdtemp(join(tmpdir(), "cocalc-bench-kernel-"));
  const home = join(dir, "home");
  await mkdir(home, { recursive: true });
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
  };
  const dataDir = join(dir, "data");
  const port = await freePort();
  const plus = spawnServer(
    process.execPath,
    [
      PLUS_CLI,
      "--no-open",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--write-connection-info",
      join(dir, "connection.json"),
    ],
    env,
  );
  let nc: NatsConnection | undefined;
  const direct = new Direct();
  let ours: Ours | undefined;
  try {
    await waitForHttp200(`http://127.0.0.1:${port}/healthz`, plus);
    const run = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const secrets = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as {
      browserPassword: string;
    };
    nc = await connect({
      servers: run.natsUrl,
      authenticator: usernamePasswordAuthenticator("browser", secrets.browserPassword),
      inboxPrefix: BrowserInbox,
    });
    const wsid = run.wsid;
    const path = join(home, "bench.ipynb");
    // The cell the runs execute exists, so the docs service writes their outputs into the
    // notebook as it does for a page's runs.
    await writeFile(path, `${JSON.stringify(BENCH_NOTEBOOK, null, 1)}\n`);
    const kid = kernelIdForPath(path);
    const started = await kernelCommand(nc, wsid, "StartKernel", {
      kid,
      path,
      kernelspec: "python3",
    });
    if (!started.ok) throw new Error(`StartKernel: ${started.error.message}`);
    for (let i = 0; i < 2400 && (await kernelView(nc, wsid, kid))?.state !== "idle"; i++) {
      await sleep(25);
    }
    await direct.ready();
    ours = new Ours(nc, wsid, kid);
    await ours.follow();

    console.log(
      `kernel: 1+1 round trips, ${blocks} alternating blocks of ${perBlock} per side; flood of 20 MB x ${floods}`,
    );
    // Warm-up for both sides.
    await direct.run("rt", 10);
    for (let i = 0; i < 10; i++) await ours.run("1+1");
    const oursMs: number[] = [];
    const directMs: number[] = [];
    for (let b = 0; b < blocks; b++) {
      directMs.push(...(await direct.run("rt", perBlock)).ms);
      for (let i = 0; i < perBlock; i++) oursMs.push((await ours.run("1+1")).ms);
      console.log(
        `  block ${b + 1}: ours p50 ${num(median(oursMs.slice(-perBlock)), 2)} ms, jupyter_client p50 ${num(median(directMs.slice(-perBlock)), 2)} ms`,
      );
    }
    const ratio = median(oursMs) / median(directMs);
    const oursMbps: number[] = [];
    const directMbps: number[] = [];
    for (let i = 0; i < floods; i++) {
      const d = await direct.run("flood", 1);
      directMbps.push(d.chars[0]! / 1e6 / (d.ms[0]! / 1000));
      const o = await ours.run(FLOOD_CODE);
      oursMbps.push(o.chars / 1e6 / (o.ms / 1000));
      console.log(
        `  flood ${i + 1}: ours ${num(oursMbps.at(-1)!, 1)} MB/s (${num(o.chars / 1e6, 1)} MB in ${num(o.ms)} ms), jupyter_client ${num(directMbps.at(-1)!, 1)} MB/s (${num(d.chars[0]! / 1e6, 1)} MB in ${num(d.ms[0]!)} ms)`,
      );
    }
    const floodRatio = median(oursMbps) / median(directMbps);
    console.log(
      `  median: ours ${num(median(oursMs), 2)} ms (p99 ${num(percentile(oursMs, 99), 2)}), jupyter_client ${num(median(directMs), 2)} ms, ratio ${num(ratio, 2)} (target <= ${RATIO_TARGET}: ${yesNo(ratio <= RATIO_TARGET)}); flood ratio ${num(floodRatio, 2)}`,
    );
    await kernelCommand(nc, wsid, "ShutdownKernel", { kid });
    const render = await notebookFirstRender({
      url: `http://127.0.0.1:${port}/`,
      tokenFile: join(dir, "connection.token"),
      home,
      runs: quick ? 3 : 5,
    });
    console.log(render.line);
    const renderMs = median(render.ms);
    return `kernel: ratio=${num(ratio, 2)} p50_ms=${num(median(oursMs), 2)} p99_ms=${num(percentile(oursMs, 99), 2)} direct_p50_ms=${num(median(directMs), 2)} target_met=${yesNo(ratio <= RATIO_TARGET)} flood_mbps=${num(median(oursMbps), 1)} direct_flood_mbps=${num(median(directMbps), 1)} flood_ratio=${num(floodRatio, 2)} render_1000_ms=${num(renderMs)} render_target_met=${yesNo(renderMs <= RENDER_TARGET_MS)} runs=${oursMs.length}`;
  } finally {
    ours?.stop();
    direct.stop();
    await nc?.close();
    await stopServer(plus);
    await rm(dir, { recursive: true, force: true });
  }
}
