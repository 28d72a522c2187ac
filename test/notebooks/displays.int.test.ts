/**
 * A kernel's display updated in its notebook after the docs service restarted: the docs
 * service (in this process, restarted), the kernels service (its worker) and a real ipykernel.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docsService } from "../../services/docs/index.js";
import { NodeNotebook } from "../../services/docs/notebook-test-kit.js";
import {
  KERNELS_WORKER,
  kernelCommand,
  kernelTestsSkipReason,
  kernelView,
  newExecutionId,
  startKernelsWorker,
} from "../../services/kernels/test-kit.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { kernelIdForPath } from "../../shared/kernels.js";
import {
  cellOutputs,
  emptyNotebook,
  newCell,
  parseNotebook,
  serializeNotebook,
} from "../../shared/notebook.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../helpers/nats.js";

const WORKER = KERNELS_WORKER;
const why = kernelTestsSkipReason();
if (why) console.warn(`notebook display tests skipped: ${why}`);

describe.skipIf(why !== undefined)("notebook displays (docs + kernels, real ipykernel)", () => {
  let t: TestNats;
  let home: string;
  let worker: ChildProcess | undefined;
  let supervisor: Supervisor | undefined;
  const open: NodeNotebook[] = [];

  const startDocs = async () => {
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([docsService({ home, sandbox: home, saveDelayMs: 100 })]);
  };

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["kernels"] });
    home = join(await realpath(await mkdtemp(join(tmpdir(), "cocalc-nbd-"))), "home");
    await mkdir(home);
    worker = await startKernelsWorker(WORKER, {
      url: t.url,
      seed: t.seed,
      wsid: TEST_WSID,
      dir: join(home, "..", "kernels"),
      kernelspecDirs: ["/usr/share/jupyter/kernels"],
    });
    await startDocs();
  });
  afterAll(async () => {
    for (const n of open) await n.stop();
    await supervisor?.stop();
    if (worker) {
      const exited = new Promise((r) => worker!.once("exit", r));
      worker.kill("SIGTERM");
      await exited;
    }
    const { stopKernels } = await import("../../services/kernels/launcher.js");
    await stopKernels(join(home, "..", "kernels"));
    await t?.cleanup();
    if (home) await rm(join(home, ".."), { recursive: true, force: true });
  });

  const shows = (n: NodeNotebook, id: string) =>
    cellOutputs(n.sync.cell(id) ?? {})
      .map((o) => (o.output_type === "display_data" ? String(o.data["text/plain"]) : ""))
      .join("|");

  it("displays - a display made before the docs service restarted is updated in the notebook and its file", async () => {
    const path = join(home, "bar.ipynb");
    const nb = emptyNotebook();
    nb.cells = [
      newCell(
        "code",
        "from IPython.display import display\nh = display('before', display_id='bar')",
        "c-show",
        true,
      ),
      newCell("code", "print('other')", "c-other", true),
    ];
    await writeFile(path, serializeNotebook(nb));
    const a = await NodeNotebook.open(t.nc, TEST_WSID, path);
    open.push(a);
    const kid = kernelIdForPath(path);
    expect(
      await kernelCommand(t.nc, TEST_WSID, "StartKernel", { kid, path, kernelspec: "python3" }),
    ).toMatchObject({ ok: true });
    await until(
      "kernel idle",
      async () => (await kernelView(t.nc, TEST_WSID, kid))?.state === "idle",
      60_000,
    );
    const run = (cellId: string, code: string) =>
      kernelCommand(t.nc, TEST_WSID, "ExecuteCell", {
        kid,
        executionId: newExecutionId(),
        cellId,
        code,
      });
    expect(await run("c-show", a.text("c-show"))).toMatchObject({ ok: true });
    await until(
      "the display is in the notebook",
      async () => shows(a, "c-show") === "'before'",
      60_000,
    );
    // The notebook knows which output shows it; the file does not.
    expect(a.sync.cell("c-show")!.displays).toEqual([[0, `${kid}/bar`]]);
    await until("the file has it", async () =>
      (await readFile(path, "utf8")).includes(`"'before'"`),
    );

    await supervisor!.stop();
    await startDocs();
    // Another cell prints first, then the display made before the restart is updated.
    expect(await run("c-other", "print('other')\nh.update('after')")).toMatchObject({ ok: true });
    await until(
      "the update is in the notebook",
      async () => shows(a, "c-show") === "'after'",
      60_000,
    );
    expect(cellOutputs(a.sync.cell("c-other")!)).toEqual([
      { output_type: "stream", name: "stdout", text: "other\n" },
    ]);
    const disk = await until("the file has the update", async () => {
      const s = await readFile(path, "utf8");
      return s.includes("\"'after'\"") && s;
    });
    const shown = parseNotebook(disk).cells.find((c) => c.id === "c-show")!;
    expect(cellOutputs(shown)).toEqual([
      { output_type: "display_data", data: { "text/plain": "'after'" }, metadata: {} },
    ]);
    expect(disk).not.toContain(`${kid}/bar`);
  });
});
