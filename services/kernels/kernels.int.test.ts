import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errors, wsconnect } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { KERNEL_MAX_STREAM_CHUNK, kernelIdForPath } from "../../shared/kernels.js";
import { kernelSubjects, Streams, workspaceSubjects } from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { lastSubjectSeq } from "../runtime/stream-read.js";
import { KernelChannels } from "./channels.js";
import { findKernelspec, listKernelspecs } from "./kernelspecs.js";
import { kernelFiles, launchKernel } from "./launcher.js";
import {
  KERNELS_WORKER,
  KernelEventLog,
  kernelCommand,
  kernelRequest,
  kernelTestsSkipReason,
  kernelView,
  newExecutionId,
  startKernelsWorker,
} from "./test-kit.js";

const WORKER = KERNELS_WORKER;
const why = kernelTestsSkipReason();
if (why) console.warn(`kernels service tests skipped: ${why}`);

describe.skipIf(why !== undefined)("kernels service (real ipykernel)", () => {
  let t: TestNats;
  let home: string;
  let dir: string;
  const workers: ChildProcess[] = [];
  const logs: KernelEventLog[] = [];

  let specs: string;
  let worker: ChildProcess;

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["kernels"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-kernel-home-"));
    dir = join(home, ".kernels");
    // Kernelspecs of our own beside Debian's: one that cannot start, one that is not one.
    specs = join(home, "kernelspecs");
    await mkdir(join(specs, "broken"), { recursive: true });
    await writeFile(
      join(specs, "broken", "kernel.json"),
      JSON.stringify({
        argv: [
          "/bin/sh",
          "-c",
          "echo 'broken kernel: no module named nothing' >&2; exit 3",
          "sh",
          "{connection_file}",
        ],
        display_name: "Broken",
        language: "none",
      }),
    );
    await mkdir(join(specs, "garbage"), { recursive: true });
    await writeFile(join(specs, "garbage", "kernel.json"), "{ not json");
    worker = await startWorker();
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
      kernelspecDirs: [specs, "/usr/share/jupyter/kernels"],
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

  const idle = (kid: string) =>
    until("kernel idle", async () => {
      const v = await kernelView(t.nc, TEST_WSID, kid);
      return v?.state === "idle" ? v : undefined;
    });

  it("a flood of output: every character once, in order, in events of at most 64 Ki characters", async () => {
    const { kid } = await start("flood.ipynb");
    const events = log(kid);
    const flood = await run(
      kid,
      "import sys\nfor i in range(4000): sys.stdout.write(f'{i:05d} ü😀 ' + 'z' * 90 + '\\n')",
    );
    await events.finished(flood);
    const want = Array.from(
      { length: 4000 },
      (_, i) => `${String(i).padStart(5, "0")} ü😀 ${"z".repeat(90)}\n`,
    ).join("");
    const chunks = events.outputs(flood).map((o) => (o.output_type === "stream" ? o.text : ""));
    expect(chunks.join("")).toBe(want);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(KERNEL_MAX_STREAM_CHUNK);
    expect(chunks.length).toBeLessThan(100);
  });

  it("interrupts `while True: pass`: KeyboardInterrupt, the queued cell aborted, the kernel goes on", async () => {
    const { kid, view } = await start("interrupt.ipynb");
    const events = log(kid);
    const spin = await run(kid, "print('spinning', flush=True)\nwhile True: pass", "spin");
    const queued = await run(kid, "print('never')", "after");
    await events.waitFor("spinning", () => events.stdout(spin).includes("spinning"));
    await until(
      "busy in the view",
      async () => (await kernelView(t.nc, TEST_WSID, kid))?.state === "busy",
    );
    expect(await kernelCommand(t.nc, TEST_WSID, "InterruptKernel", { kid })).toMatchObject({
      ok: true,
    });
    expect((await events.finished(spin)).data.status).toBe("error");
    expect(events.outputs(spin).at(-1)).toMatchObject({
      output_type: "error",
      ename: "KeyboardInterrupt",
    });
    expect((await events.finished(queued)).data.status).toBe("aborted");
    expect(events.stdout(queued)).toBe("");
    const again = await run(kid, "print('still here')");
    await events.finished(again);
    expect(events.stdout(again)).toBe("still here\n");
    expect((await idle(kid)).pid).toBe(view.pid);
  });

  it("restarts: a new process (generation 2), its variables gone, the outputs stream kept", async () => {
    const { kid, view } = await start("restart.ipynb");
    const events = log(kid);
    const set = await run(kid, "secret = 7\nprint(secret)");
    await events.finished(set);
    expect(await kernelCommand(t.nc, TEST_WSID, "RestartKernel", { kid })).toMatchObject({
      ok: true,
    });
    const after = await until("the new process idle", async () => {
      const v = await kernelView(t.nc, TEST_WSID, kid);
      return v?.state === "idle" && v.generation === 2 ? v : undefined;
    });
    expect(after.generation).toBe(2);
    expect(after.pid).not.toBe(view.pid);
    const read = await run(kid, "secret");
    expect((await events.finished(read)).data.status).toBe("error");
    expect(events.outputs(read)[0]).toMatchObject({ output_type: "error", ename: "NameError" });
    expect(events.stdout(set)).toBe("7\n");
    const types = events.events.map((e) => e.event.type);
    expect(types.indexOf("KernelRestarted")).toBeGreaterThan(types.indexOf("ExecutionFinished"));
  });

  it("an image (display_data image/png), a progress bar updated in place, clear_output(wait=True)", async () => {
    const { kid } = await start("rich.ipynb");
    const events = log(kid);
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    const image = await run(
      kid,
      `import base64\nfrom IPython.display import Image, display\ndisplay(Image(data=base64.b64decode('${png}')))`,
      "img",
    );
    await events.finished(image);
    const [shown, ...more] = events.outputs(image);
    expect(more).toEqual([]);
    expect(shown).toMatchObject({ output_type: "display_data", metadata: {} });
    // base64 as the kernel sent it (IPython ends it with a newline).
    expect(shown?.output_type === "display_data" && String(shown.data["image/png"]).trim()).toBe(
      png,
    );
    const bar = await run(
      kid,
      "from IPython.display import display\nh = display('0%', display_id=True)\nfor i in range(1, 6): h.update(f'{i * 20}%')",
      "bar",
    );
    await events.finished(bar);
    const added = events.of(bar).find((e) => e.type === "OutputAdded");
    const updates = events.of(bar).filter((e) => e.type === "DisplayUpdated");
    expect(added?.type === "OutputAdded" && added.data.displayId).toBeTruthy();
    const displayId = added?.type === "OutputAdded" ? added.data.displayId : undefined;
    expect(
      updates.map(
        (u) => u.type === "DisplayUpdated" && [u.data.displayId, u.data.data["text/plain"]],
      ),
    ).toEqual([20, 40, 60, 80, 100].map((p) => [displayId, `'${p}%'`]));
    const cleared = await run(
      kid,
      "from IPython.display import clear_output\nfor i in range(3):\n    clear_output(wait=True)\n    print(f'step {i}', flush=True)",
      "clear",
    );
    await events.finished(cleared);
    const seen = events
      .of(cleared)
      .filter((e) => e.type === "OutputCleared" || e.type === "OutputAdded")
      .map((e) =>
        e.type === "OutputCleared"
          ? `clear wait=${e.data.wait}`
          : e.data.output.output_type === "stream"
            ? e.data.output.text
            : "?",
      );
    expect(seen).toEqual([
      "clear wait=true",
      "step 0\n",
      "clear wait=true",
      "step 1\n",
      "clear wait=true",
      "step 2\n",
    ]);
  });

  it("input() and getpass(): the request in the view, the reply reaches the code, a password is not stored", async () => {
    const { kid } = await start("input.ipynb");
    const events = log(kid);
    const ask = await run(kid, "name = input('Your name? ')\nprint('hi', name)", "ask");
    const view = await until(
      "input asked",
      async () => (await kernelView(t.nc, TEST_WSID, kid))?.input,
    );
    expect(view).toMatchObject({
      executionId: ask,
      cellId: "ask",
      prompt: "Your name? ",
      password: false,
    });
    // Only the execution that asks may be answered.
    expect(
      await kernelCommand(t.nc, TEST_WSID, "ReplyInput", {
        kid,
        executionId: newExecutionId(),
        value: "x",
      }),
    ).toMatchObject({ ok: false, error: { code: "ERR_KERNEL_INVALID" } });
    expect(
      await kernelCommand(t.nc, TEST_WSID, "ReplyInput", { kid, executionId: ask, value: "Ada" }),
    ).toMatchObject({ ok: true });
    await events.finished(ask);
    expect(events.stdout(ask)).toBe("hi Ada\n");
    // The view is a projection of the events: it drops the request soon after.
    await until(
      "input request cleared",
      async () => !(await kernelView(t.nc, TEST_WSID, kid))?.input,
    );

    const secret = await run(
      kid,
      "import getpass\npw = getpass.getpass('Password: ')\nprint(len(pw), pw[::-1][:1])",
      "pw",
    );
    await until(
      "password asked",
      async () => (await kernelView(t.nc, TEST_WSID, kid))?.input?.password,
    );
    expect(
      await kernelCommand(t.nc, TEST_WSID, "ReplyInput", {
        kid,
        executionId: secret,
        value: "hunter2-zq",
      }),
    ).toMatchObject({ ok: true });
    await events.finished(secret);
    expect(events.stdout(secret)).toMatch(/^10 q\n/);
    const replied = events.of(secret).find((e) => e.type === "InputReplied");
    expect(replied?.data).toEqual({ executionId: secret, hidden: true });
    expect(JSON.stringify(events.events)).not.toContain("hunter2");
  });

  it("outputs made while no one is subscribed are all in the stream, and it goes on", async () => {
    const { kid } = await start("unwatched.ipynb");
    const loop = await run(
      kid,
      "import time\nfor i in range(20):\n    print(f'line {i}', flush=True)\n    time.sleep(0.25)",
      "loop",
    );
    // No reader yet: wait until the stream holds some of its lines, then open the notebook.
    const out = kernelSubjects(TEST_WSID, kid).out;
    const first = await lastSubjectSeq(t.jsm, Streams.WS_KERNEL, out);
    await until(
      "lines stored",
      async () => (await lastSubjectSeq(t.jsm, Streams.WS_KERNEL, out)) > first + 4,
    );
    const events = log(kid);
    await events.waitFor("some lines", () => events.stdout(loop).includes("line 3"));
    expect(events.of(loop).some((e) => e.type === "ExecutionFinished")).toBe(false);
    await events.finished(loop);
    expect(events.stdout(loop)).toBe(Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(""));
    // A second tab replays exactly the same.
    const other = log(kid);
    await other.finished(loop);
    expect(other.stdout(loop)).toBe(events.stdout(loop));
  });

  it("survives kill -9 of the service mid-execution: same kernel, reconnected, later outputs arrive", async () => {
    const { kid, view } = await start("survive.ipynb");
    const events = log(kid);
    const loop = await run(
      kid,
      "import time\nfor i in range(30):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.2)\nvalue = 41",
      "loop",
    );
    await events.waitFor("ticking", () => events.stdout(loop).includes("tick 2"));
    worker.kill("SIGKILL");
    await new Promise((r) => worker.once("exit", r));
    worker = await startWorker();
    expect((await events.finished(loop)).data.status).toBe("ok");
    expect(events.stdout(loop)).toMatch(/tick 29\n$/);
    const next = await run(kid, "value + 1");
    await events.finished(next);
    expect(events.outputs(next)[0]).toMatchObject({ data: { "text/plain": "42" } });
    expect((await idle(kid)).pid).toBe(view.pid);
    // The connection file and log are the user's alone; the key is in neither argv nor logs.
    const files = kernelFiles(dir, kid);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(files.connection).mode & 0o777).toBe(0o600);
    expect(statSync(files.log).mode & 0o777).toBe(0o600);
    const { key, ip } = JSON.parse(readFileSync(files.connection, "utf8"));
    expect(ip).toBe("127.0.0.1");
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(`/proc/${view.pid}/cmdline`, "utf8")).not.toContain(key);
    expect(readFileSync(files.log, "utf8")).not.toContain(key);
    expect(JSON.stringify(events.events)).not.toContain(key);
  });

  it("a kernel killed from outside is dead, with its stderr; its running cell aborted; it can be started again", async () => {
    const { kid, view } = await start("killed.ipynb");
    const events = log(kid);
    const said = await run(
      kid,
      "import sys\nprint('last words on stderr', file=sys.__stderr__, flush=True)",
    );
    await events.finished(said);
    const spin = await run(kid, "while True: pass");
    await events.waitFor("running", () =>
      events.of(spin).some((e) => e.type === "ExecutionStarted"),
    );
    process.kill(view.pid!, "SIGKILL");
    const dead = await until("dead", async () => {
      const v = await kernelView(t.nc, TEST_WSID, kid);
      return v?.state === "dead" ? v : undefined;
    });
    expect(dead.died).toMatchObject({
      signal: "SIGKILL",
      reason: "the kernel was killed by SIGKILL",
    });
    expect(dead.died?.stderr).toContain("last words on stderr");
    // The dead kernel's connection file (its key) is removed; its log stays.
    await until(
      "connection file removed",
      async () => !existsSync(kernelFiles(dir, kid).connection),
    );
    expect(existsSync(kernelFiles(dir, kid).log)).toBe(true);
    expect(dead.queue).toEqual([]);
    expect((await events.finished(spin)).data.status).toBe("aborted");
    expect(
      await kernelCommand(t.nc, TEST_WSID, "ExecuteCell", {
        kid,
        executionId: newExecutionId(),
        cellId: "c",
        code: "1",
      }),
    ).toMatchObject({
      ok: false,
      error: { code: "ERR_KERNEL_NOT_RUNNING" },
    });
    const again = await kernelCommand(t.nc, TEST_WSID, "StartKernel", {
      kid,
      path: join(home, "killed.ipynb"),
      kernelspec: "python3",
    });
    expect(again).toMatchObject({ ok: true });
    const back = await until("started again", async () => {
      const v = await kernelView(t.nc, TEST_WSID, kid);
      return v?.state === "idle" && v.generation === 2 ? v : undefined;
    });
    expect(back.generation).toBe(2);
    expect(back.died).toBeUndefined();
  });

  it("a kernel that cannot start is dead with what it wrote to stderr", async () => {
    const path = join(home, "broken.ipynb");
    const kid = kernelIdForPath(path);
    expect(
      await kernelCommand(t.nc, TEST_WSID, "StartKernel", { kid, path, kernelspec: "broken" }),
    ).toMatchObject({ ok: true });
    const dead = await until("dead", async () => {
      const v = await kernelView(t.nc, TEST_WSID, kid);
      return v?.state === "dead" ? v : undefined;
    });
    expect(dead).toMatchObject({ kernelspec: "broken", displayName: "Broken" });
    expect(dead.died).toMatchObject({
      code: 3,
      signal: null,
      reason: "the kernel exited with code 3",
    });
    expect(dead.died?.stderr).toBe("broken kernel: no module named nothing\n");
  });

  it("kernelspecs, tab completion and inspection come from the kernel", async () => {
    const listed = await kernelRequest<{ kernelspecs: { name: string; displayName: string }[] }>(
      t.nc,
      TEST_WSID,
      { op: "kernelspecs" },
    );
    expect(listed.ok && listed.result.kernelspecs.map((k) => [k.name, k.displayName])).toEqual([
      ["broken", "Broken"],
      ["python3", "Python 3 (ipykernel)"],
    ]);
    const { kid } = await start("complete.ipynb");
    const events = log(kid);
    await events.finished(await run(kid, "import os\nvariable_ü = 1"));
    // Positions count UTF-16 units as the editor does; the kernel counts code points.
    const code = "x = 'ü😀'; os.pa";
    const done = await kernelRequest<{ matches: string[]; cursorStart: number; cursorEnd: number }>(
      t.nc,
      TEST_WSID,
      { op: "complete", kid, code, cursorPos: code.length },
    );
    expect(done.ok && done.result.matches).toContain("path");
    expect(done.ok && code.slice(done.result.cursorStart, done.result.cursorEnd)).toBe("pa");
    const vars = await kernelRequest<{ matches: string[] }>(t.nc, TEST_WSID, {
      op: "complete",
      kid,
      code: "variable_",
      cursorPos: 9,
    });
    expect(vars.ok && vars.result.matches).toContain("variable_ü");
    const inspected = await kernelRequest<{ found: boolean; data: Record<string, string> }>(
      t.nc,
      TEST_WSID,
      { op: "inspect", kid, code: "len(", cursorPos: 3 },
    );
    expect(inspected.ok && inspected.result.found).toBe(true);
    expect(inspected.ok && inspected.result.data["text/plain"]).toMatch(
      /Return the number of items/,
    );
    expect(
      await kernelRequest(t.nc, TEST_WSID, {
        op: "complete",
        kid: kernelIdForPath("/nope.ipynb"),
        code: "",
        cursorPos: 0,
      }),
    ).toMatchObject({
      ok: false,
      error: { code: "ERR_KERNEL_NOT_FOUND" },
    });
  });

  it("bad input gets a clear error and changes nothing", async () => {
    const path = join(home, "bad.ipynb");
    const kid = kernelIdForPath(path);
    const refused = async (type: string, data: unknown, code: string) =>
      expect(await kernelCommand(t.nc, TEST_WSID, type, data)).toMatchObject({
        ok: false,
        error: { code },
      });
    await refused(
      "StartKernel",
      { kid, path, kernelspec: "../../../bin/sh" },
      "ERR_COMMAND_INVALID",
    );
    await refused("StartKernel", { kid, path, kernelspec: "garbage" }, "ERR_KERNEL_SPEC");
    await refused("StartKernel", { kid, path, kernelspec: "nothing-here" }, "ERR_KERNEL_SPEC");
    await refused(
      "StartKernel",
      { kid: kernelIdForPath("/elsewhere.ipynb"), path, kernelspec: "python3" },
      "ERR_KERNEL_INVALID",
    );
    await refused(
      "StartKernel",
      { kid, path: "relative.ipynb", kernelspec: "python3" },
      "ERR_COMMAND_INVALID",
    );
    await refused(
      "ExecuteCell",
      { kid, executionId: newExecutionId(), cellId: "c", code: "1" },
      "ERR_KERNEL_NOT_FOUND",
    );
    await refused(
      "ExecuteCell",
      { kid, executionId: newExecutionId(), cellId: "a.b>", code: "1" },
      "ERR_COMMAND_INVALID",
    );
    await refused(
      "ExecuteCell",
      { kid: "k../x", executionId: newExecutionId(), cellId: "c", code: "1" },
      "ERR_COMMAND_INVALID",
    );
    await refused(
      "ExecuteCell",
      { kid, executionId: newExecutionId(), cellId: "c", code: "x".repeat(200_001) },
      "ERR_COMMAND_INVALID",
    );
    await refused("RestartKernel", { kid }, "ERR_KERNEL_NOT_FOUND");
    expect(await kernelRequest(t.nc, TEST_WSID, { op: "run", code: "rm -rf ~" })).toMatchObject({
      ok: false,
      error: { code: "ERR_KERNEL_INVALID" },
    });
    expect(await kernelView(t.nc, TEST_WSID, kid)).toBeUndefined();
    expect(
      await lastSubjectSeq(t.jsm, Streams.WS_KERNEL, kernelSubjects(TEST_WSID, kid).life),
    ).toBe(0);
  });

  it("security - the browser runs cells in its own workspace only, and replays only its own kernels", async () => {
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    const { kid } = await start("browser.ipynb");
    const browser = await wsconnect({
      servers: `ws://127.0.0.1:${t.server.config.wsPort}`,
      user: t.browser.user,
      pass: t.browser.password,
      reconnect: false,
      inboxPrefix: BrowserInbox,
    });
    try {
      const executionId = newExecutionId();
      expect(
        await kernelCommand(browser, TEST_WSID, "ExecuteCell", {
          kid,
          executionId,
          cellId: "b",
          code: "6 * 7",
        }),
      ).toMatchObject({ ok: true });
      // It replays its kernel's events as the notebook page does.
      const events = log(kid);
      await events.finished(executionId);
      const own = new KernelEventLog(browser, TEST_WSID, kid);
      await own.finished(executionId);
      await own.stop();
      const violation = (err: unknown) => {
        for (let e = err; e instanceof Error; e = e.cause)
          if (e instanceof errors.PermissionViolationError) return true;
        return false;
      };
      const other = "otherws";
      for (const subject of [
        workspaceSubjects(other).command("kernels"),
        workspaceSubjects(other).request("kernels"),
        `$JS.API.CONSUMER.CREATE.${Streams.WS_KERNEL}.web1.${kernelSubjects(other, kid).all}`,
        `$JS.API.CONSUMER.CREATE.${Streams.WS_KERNEL}.kernels.${kernelSubjects(TEST_WSID, kid).all}`,
        `$JS.API.CONSUMER.DELETE.${Streams.WS_KERNEL}.kernels`,
      ]) {
        const err = await browser
          .request(subject, JSON.stringify({ type: "ExecuteCell", data: {} }), { timeout: 5000 })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(violation(err), `${subject}: ${String(err)}`).toBe(true);
      }
    } finally {
      await browser.close();
    }
  });

  it("heartbeat - a running kernel echoes it, a stopped (SIGSTOP) one does not, and does again after SIGCONT", async () => {
    const spec = await findKernelspec("python3", listKernelspecs(["/usr/share/jupyter/kernels"]));
    const kid = kernelIdForPath(join(home, "heartbeat.ipynb"));
    const k = await launchKernel({ dir: join(home, "hb"), kid, generation: 1, spec, cwd: home });
    const channels = new KernelChannels(
      k.connection,
      "hb-test",
      { iopub() {}, stdin() {}, shell() {} },
      testLog,
    );
    try {
      expect(await until("a first echo", () => channels.beat())).toBe(true);
      process.kill(k.process.pid, "SIGSTOP");
      const stat = () => readFileSync(`/proc/${k.process.pid}/stat`, "utf8");
      await until("stopped", async () => stat().charAt(stat().lastIndexOf(")") + 2) === "T");
      expect(await channels.beat()).toBe(false);
      process.kill(k.process.pid, "SIGCONT");
      expect(await until("an echo again", () => channels.beat())).toBe(true);
    } finally {
      channels.close();
      process.kill(-k.process.pid, "SIGKILL");
    }
  });
});
