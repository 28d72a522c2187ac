import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { kernelIdForPath } from "../../shared/kernels.js";
import { type KernelCommand, type KernelDecided, kernelDecider } from "./decider.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (c: Omit<KernelCommand, "actor" | "at">) => ({ ...c, ...meta }) as KernelCommand;
const decider = kernelDecider((name) => ({ displayName: `Kernel ${name}`, language: "python" }));
const path = "/home/me/analysis.ipynb";
const kid = kernelIdForPath(path);
const started: KernelDecided = {
  type: "KernelStarted",
  data: {
    generation: 1,
    path,
    kernelspec: "python3",
    displayName: "Kernel python3",
    language: "python",
  },
};
const queued = (executionId: string, cellId = "c1"): KernelDecided => ({
  type: "ExecutionQueued",
  data: { generation: 1, executionId, cellId, code: "1 + 1" },
});
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("kernel decider", () => {
  it("starts once per kernelspec; its id comes from the notebook's path", () => {
    const start = cmd({ type: "StartKernel", data: { kid, path, kernelspec: "python3" } });
    expect(given(decider, []).when(start).events).toEqual([started]);
    expect(given(decider, [started]).when(start).events).toEqual([]);
    const other = cmd({
      type: "StartKernel",
      data: { kid: kernelIdForPath("/other.ipynb"), path, kernelspec: "python3" },
    });
    expect(code(given(decider, []).when(other))).toBe("ERR_KERNEL_INVALID");
  });

  it("queues executions in order; another kernelspec aborts them and starts generation 2", () => {
    const r = given(decider, [started, queued("exec-0001")]).when(
      cmd({
        type: "ExecuteCell",
        data: { kid, executionId: "exec-0002", cellId: "c2", code: "2" },
      }),
    );
    expect(r.events).toEqual([
      {
        type: "ExecutionQueued",
        data: { generation: 1, executionId: "exec-0002", cellId: "c2", code: "2" },
      },
    ]);
    const again = given(decider, [started, queued("exec-0001")]).when(
      cmd({
        type: "ExecuteCell",
        data: { kid, executionId: "exec-0001", cellId: "c1", code: "1" },
      }),
    );
    expect(code(again)).toBe("ERR_KERNEL_INVALID");
    const switched = given(decider, [started, queued("exec-0001")]).when(
      cmd({ type: "StartKernel", data: { kid, path, kernelspec: "julia" } }),
    );
    expect(switched.events?.map((e) => e.type)).toEqual(["ExecutionFinished", "KernelStarted"]);
    expect(switched.events?.[0]?.data).toMatchObject({
      executionId: "exec-0001",
      status: "aborted",
    });
    expect(switched.events?.[1]?.data).toMatchObject({ generation: 2, kernelspec: "julia" });
  });

  it("a dead kernel takes no cells; starting it again restarts it", () => {
    const died: KernelDecided = {
      type: "KernelDied",
      data: { generation: 1, code: null, signal: "SIGKILL", reason: "killed", stderr: "" },
    };
    const run = cmd({
      type: "ExecuteCell",
      data: { kid, executionId: "exec-0003", cellId: "c", code: "" },
    });
    expect(code(given(decider, [started, died]).when(run))).toBe("ERR_KERNEL_NOT_RUNNING");
    expect(code(given(decider, []).when(run))).toBe("ERR_KERNEL_NOT_FOUND");
    expect(
      given(decider, [started, died]).when(
        cmd({ type: "StartKernel", data: { kid, path, kernelspec: "python3" } }),
      ).events,
    ).toEqual([{ type: "KernelRestarted", data: { generation: 2 } }]);
  });

  it("input is answered only for the execution that asks; a password's value is not kept", () => {
    const asked = (password: boolean): KernelDecided => ({
      type: "InputRequested",
      data: { executionId: "exec-0001", cellId: "c1", prompt: "? ", password },
    });
    const reply = (executionId: string) =>
      cmd({ type: "ReplyInput", data: { kid, executionId, value: "s3cret" } });
    const history = [started, queued("exec-0001")];
    expect(given(decider, [...history, asked(false)]).when(reply("exec-0001")).events).toEqual([
      { type: "InputReplied", data: { executionId: "exec-0001", value: "s3cret" } },
    ]);
    expect(given(decider, [...history, asked(true)]).when(reply("exec-0001")).events).toEqual([
      { type: "InputReplied", data: { executionId: "exec-0001", hidden: true } },
    ]);
    expect(code(given(decider, [...history, asked(false)]).when(reply("exec-0009")))).toBe(
      "ERR_KERNEL_INVALID",
    );
    expect(code(given(decider, history).when(reply("exec-0001")))).toBe("ERR_KERNEL_INVALID");
  });

  it("restart and shutdown abort what is queued; shutting down twice decides nothing", () => {
    const history = [started, queued("exec-0001"), queued("exec-0002")];
    const restarted = given(decider, history).when(cmd({ type: "RestartKernel", data: { kid } }));
    expect(restarted.events?.map((e) => e.type)).toEqual([
      "ExecutionFinished",
      "ExecutionFinished",
      "KernelRestarted",
    ]);
    const down: KernelDecided = { type: "KernelShutDown", data: { generation: 1 } };
    expect(
      given(decider, [...history, down]).when(cmd({ type: "ShutdownKernel", data: { kid } }))
        .events,
    ).toEqual([]);
    expect(
      code(
        given(decider, [...history, down]).when(cmd({ type: "InterruptKernel", data: { kid } })),
      ),
    ).toBe("ERR_KERNEL_NOT_FOUND");
  });
});
