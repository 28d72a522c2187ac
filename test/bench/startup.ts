/**
 * Cold start to first HTTP 200 and idle memory of cocalc-plus (node + its nats-server child)
 * next to Debian's Jupyter notebook started the same way: fresh temp dirs, a free port,
 * polled until 200, measured after an idle period, stopped with SIGTERM.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../../services/runtime/ports.js";
import { spawnServer, stopServer, treeRssMb, waitForHttp200 } from "./proc.js";
import { median, num, sleep, yesNo } from "./stats.js";

const execFileP = promisify(execFile);

/** Cold starts of each (BENCH_RUNS, default 3): more on a noisy machine. */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || 3);
const START_TARGET = 0.5;
const RSS_TARGET_MB = 150;
const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));

export const JUPYTER_INSTALL_HELP = `Jupyter is not installed, so there is nothing to compare against.
Install Debian's notebook server (package jupyter-notebook, which pulls in python3-notebook):
  apt-get install -y jupyter-notebook
or any other Jupyter that provides \`jupyter-notebook\`, \`jupyter notebook\` or \`jupyter server\` on PATH.`;

interface Measured {
  startMs: number;
  rssMb: number;
}

/** How to start the Jupyter we found; `app` is the traitlets class its flags are set on. */
interface Jupyter {
  label: string;
  cmd: string;
  args: string[];
  app: "NotebookApp" | "ServerApp";
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

async function version(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP(cmd, [...args, "--version"], { timeout: 30_000 });
    return stdout.trim().split("\n").pop();
  } catch {
    return undefined;
  }
}

/** Notebook 7 runs on jupyter_server and takes ServerApp flags; 6.x takes NotebookApp flags. */
function notebookApp(v: string): Jupyter["app"] {
  return Number(/^(\d+)/.exec(v)?.[1] ?? "6") >= 7 ? "ServerApp" : "NotebookApp";
}

export async function findJupyter(): Promise<Jupyter | undefined> {
  const nb = onPath("jupyter-notebook");
  if (nb) {
    const v = await version(nb, []);
    if (v) return { label: `jupyter-notebook ${v}`, cmd: nb, args: [], app: notebookApp(v) };
  }
  const jupyter = onPath("jupyter");
  if (jupyter) {
    const v = await version(jupyter, ["notebook"]);
    if (v)
      return {
        label: `jupyter notebook ${v}`,
        cmd: jupyter,
        args: ["notebook"],
        app: notebookApp(v),
      };
    const s = await version(jupyter, ["server"]);
    if (s)
      return { label: `jupyter server ${s}`, cmd: jupyter, args: ["server"], app: "ServerApp" };
  }
  return undefined;
}

async function measure(
  name: string,
  run: number,
  idleMs: number,
  launch: (dir: string, port: number) => { server: ReturnType<typeof spawnServer>; url: string },
): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), `bench-startup-${name}-`));
  const port = await freePort();
  const t0 = performance.now();
  const { server, url } = launch(dir, port);
  try {
    await waitForHttp200(url, server);
    const startMs = performance.now() - t0;
    await sleep(idleMs);
    const rss = treeRssMb(server.child.pid!);
    console.log(
      `  ${name} run ${run}: first 200 after ${num(startMs)} ms; idle RSS ${num(rss.total, 1)} MB (${rss.parts.join(", ")})`,
    );
    return { startMs, rssMb: rss.total };
  } finally {
    await stopServer(server);
    await rm(dir, { recursive: true, force: true });
  }
}

function launchPlus(dir: string, port: number) {
  const server = spawnServer(
    process.execPath,
    [
      PLUS_CLI,
      "--no-open",
      "--port",
      String(port),
      "--data-dir",
      join(dir, "data"),
      "--write-connection-info",
      join(dir, "connection.json"),
    ],
    // plus writes a `nats` CLI context under XDG_CONFIG_HOME; keep it out of the real one.
    { ...process.env, XDG_CONFIG_HOME: join(dir, "config") },
  );
  return { server, url: `http://127.0.0.1:${port}/healthz` };
}

function launchJupyter(j: Jupyter) {
  return (dir: string, port: number) => {
    const root = j.app === "ServerApp" ? "--ServerApp.root_dir" : "--notebook-dir";
    const args = [
      ...j.args,
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `${root}=${dir}`,
      // No token, so the poll needs no credentials; /api answers without one anyway.
      `--${j.app}.token=`,
      `--${j.app}.password=`,
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ];
    const server = spawnServer(j.cmd, args, {
      ...process.env,
      JUPYTER_CONFIG_DIR: join(dir, "config"),
      JUPYTER_DATA_DIR: join(dir, "data"),
      JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
      IPYTHONDIR: join(dir, "ipython"),
    });
    return { server, url: `http://127.0.0.1:${port}/api` };
  };
}

export async function startupBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const idleMs = quick ? 5_000 : 30_000;
  const jupyter = await findJupyter();
  console.log(
    `startup: ${RUNS} cold starts each (new data dir per run), idle ${idleMs / 1000} s before measuring RSS`,
  );
  console.log(`  anchor: ${jupyter ? jupyter.label : "none found"}`);

  const plus: Measured[] = [];
  const anchor: Measured[] = [];
  // Interleaved, so a warming page cache or a busy neighbour affects both sides alike.
  for (let run = 1; run <= RUNS; run++) {
    plus.push(await measure("cocalc-plus", run, idleMs, launchPlus));
    if (jupyter) anchor.push(await measure("jupyter", run, idleMs, launchJupyter(jupyter)));
  }

  const plusStart = median(plus.map((m) => m.startMs));
  const plusRss = median(plus.map((m) => m.rssMb));
  const rssMet = yesNo(plusRss <= RSS_TARGET_MB);
  console.log(
    `  cocalc-plus: median start ${num(plusStart)} ms, median idle RSS ${num(plusRss, 1)} MB (target <= ${RSS_TARGET_MB} MB: ${rssMet})`,
  );
  if (!jupyter) {
    console.log(JUPYTER_INSTALL_HELP);
    return `startup: ratio=n/a plus_start_ms=${num(plusStart)} jupyter_start_ms=n/a plus_rss_mb=${num(plusRss, 1)} jupyter_rss_mb=n/a start_target_met=n/a rss_target_met=${rssMet} runs=${RUNS} idle_s=${idleMs / 1000}`;
  }
  const jStart = median(anchor.map((m) => m.startMs));
  const jRss = median(anchor.map((m) => m.rssMb));
  const ratio = plusStart / jStart;
  const startMet = yesNo(ratio <= START_TARGET);
  console.log(
    `  ${jupyter.label}: median start ${num(jStart)} ms, median idle RSS ${num(jRss, 1)} MB`,
  );
  console.log(
    `  start ratio plus/jupyter ${num(ratio, 2)} (target <= ${START_TARGET}: ${startMet})`,
  );
  return `startup: ratio=${num(ratio, 2)} plus_start_ms=${num(plusStart)} jupyter_start_ms=${num(jStart)} plus_rss_mb=${num(plusRss, 1)} jupyter_rss_mb=${num(jRss, 1)} start_target_met=${startMet} rss_target_met=${rssMet} runs=${RUNS} idle_s=${idleMs / 1000}`;
}
