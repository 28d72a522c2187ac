import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kernelIdForPath } from "../../shared/kernels.js";
import { setup, TEST_WSID, type TestNats, until } from "../../test/helpers/nats.js";
import {
  KernelEventLog,
  kernelCommand,
  kernelRequest,
  kernelView,
  newExecutionId,
  startKernelsWorker,
} from "./test-kit.js";

const WORKER = new URL("../../dist/test/helpers/kernels-worker.js", import.meta.url).pathname;
const IPYKERNEL = "/usr/share/jupyter/kernels/python3/kernel.json";
const why = !existsSync(WORKER)
  ? `no ${WORKER} (npm run build)`
  : !existsSync(IPYKERNEL)
    ? `no ${IPYKERNEL} (apt install python3-ipykernel)`
    : undefined;
if (why) console.warn(`kernels service tests skipped: ${why}`);

describe.skipIf(why !== undefined)("kernels service (real ipykernel)", () => {
  let t: TestNats;
  let home: string;
  let dir: string;
  const workers: ChildProcess[] = [];
  const logs: KernelEventLog[] = [];

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["kernels"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-kernel-home-"));
    dir = join(home, ".kernels");
    await startWorker();
  });
  afterAll(async () => {
    for (const l of logs) await l.stop();
    for (const w of workers) w.kill("SIGKILL");
    const { stopKernels } = await import("./launcher.js");
    await stopKernels(dir);
    await t?.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  async function startWorker(): Promise<ChildProcess> {
    const child = await startKernelsWorker(WORKER, {
      url: t.url,
      seed: t.seed,
      wsid: TEST_WSID,
      dir,
      kernelspecDirs: ["/usr/share/jupyter/kernels"],
    });
    workers.push(child);
    return child;
  }

  function log(kid: string): KernelEventLog {
    const l = new KernelEventLog(t.nc, TEST_WSID, kid);
    logs.push(l);
    return l;
  }

  /** Starts the kernel of a notebook and waits until it is idle. */
  async function start(name: string) {
    const path = join(home, name);
    const kid = kernelIdForPath(path);
    const reply = await kernelCommand(t.nc, TEST_WSID, "StartKernel", {
      kid,
      path,
      kernelspec: "python3",
    });
    expect(reply).toMatchObject({ ok: true });
    const view = await until(
      "kernel idle",
      async () => {
        const v = await kernelView(t.nc, TEST_WSID, kid);
        return v?.state === "idle" ? v : undefined;
      },
      60_000,
    );
    return { kid, path, view };
  }

  async function run(kid: string, code: string, cellId = "cell1") {
    const executionId = newExecutionId();
    const reply = await kernelCommand(t.nc, TEST_WSID, "ExecuteCell", {
      kid,
      executionId,
      cellId,
      code,
    });
    expect(reply).toMatchObject({ ok: true });
    return executionId;
  }

  it("runs cells in order: stream, execute_result, an exception's traceback", async () => {
    const { kid, view } = await start("a.ipynb");
    expect(view).toMatchObject({ kernelspec: "python3", language: "python", queue: [] });
    expect(view.pid).toBeGreaterThan(0);
    const events = log(kid);
    const a = await run(kid, "x = 20\nprint('hello', x)", "c1");
    const b = await run(kid, "x * 2 + 2", "c2");
    const c = await run(kid, "1/0", "c3");
    expect(await events.finished(a)).toMatchObject({ data: { status: "ok", cellId: "c1" } });
    expect(events.stdout(a)).toBe("hello 20\n");
    const fb = await events.finished(b);
    expect(fb.data).toMatchObject({ status: "ok", cellId: "c2" });
    expect(events.outputs(b)).toEqual([
      {
        output_type: "execute_result",
        execution_count: fb.data.executionCount,
        data: { "text/plain": "42" },
        metadata: {},
      },
    ]);
    expect((await events.finished(c)).data.status).toBe("error");
    const err = events.outputs(c)[0];
    expect(err).toMatchObject({ output_type: "error", ename: "ZeroDivisionError" });
    const traceback = err?.output_type === "error" ? err.traceback.join("\n") : "";
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the kernel colours its traceback
    expect(traceback.replace(/\u001b\[[0-9;]*m/g, "")).toMatch(/----> 1 1\/0\n.*division by zero/s);
    await until(
      "idle again",
      async () => (await kernelView(t.nc, TEST_WSID, kid))?.state === "idle",
    );
  });
});
