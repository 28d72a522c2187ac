import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { snapshotsToPrune } from "../../shared/launchpad.js";
import { type LifecycleCommand, type LifecycleDecided, lifecycleDecider } from "./decider.js";
import { mountDecider } from "./mounts.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (type: string, data: unknown = {}, extra: object = {}) =>
  ({ type, data, ...meta, ...extra }) as LifecycleCommand;
const provisioning: LifecycleDecided = {
  type: "WorkspaceProvisioning",
  data: { hostId: "h1", image: "base", quota: { diskMb: 50, memoryMb: 512, cpus: 1, pids: 100 } },
};
const stopped: LifecycleDecided[] = [provisioning, { type: "WorkspaceProvisioned", data: {} }];
const running: LifecycleDecided[] = [
  ...stopped,
  { type: "WorkspaceStarting", data: {} },
  { type: "WorkspaceRunning", data: { container: "c" } },
];
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("workspace lifecycle decider", () => {
  it("create → start → running → stop → delete, each a step", () => {
    const created = given(lifecycleDecider, []).when(
      cmd("CreateWorkspaceOnHost", { image: "base", quota: { diskMb: 50 } }, { hostId: "h1" }),
    );
    expect(created.events?.[0]?.type).toBe("WorkspaceProvisioning");
    expect(given(lifecycleDecider, stopped).when(cmd("StartWorkspace")).events).toEqual([
      { type: "WorkspaceStarting", data: {} },
    ]);
    expect(given(lifecycleDecider, running).when(cmd("StopWorkspace")).events).toEqual([
      { type: "WorkspaceStopping", data: {} },
    ]);
    expect(given(lifecycleDecider, stopped).when(cmd("DeleteWorkspace")).events).toEqual([
      { type: "WorkspaceDeleting", data: {} },
    ]);
  });

  it("a container that ended by itself: exit 0 is a stop, anything else a failure", () => {
    const ended = (data: object) =>
      given(lifecycleDecider, running).when(cmd("RecordContainerEnded", data));
    expect(ended({ reason: "its init exited with code 0", exitCode: 0 }).events).toEqual([
      { type: "WorkspaceStopped", data: { reason: "its init exited with code 0", exitCode: 0 } },
    ]);
    expect(ended({ reason: "killed", exitCode: 137, oom: true }).events).toEqual([
      {
        type: "WorkspaceFailed",
        data: {
          error: { code: "ERR_WORKSPACE_EXITED", message: "killed" },
          exitCode: 137,
          oom: true,
        },
      },
    ]);
    expect(ended({ reason: "conmon gone", monitorGone: true }).events?.[0]?.type).toBe(
      "WorkspaceFailed",
    );
    const failed = given(lifecycleDecider, [
      ...running,
      {
        type: "WorkspaceFailed",
        data: { error: { code: "ERR_WORKSPACE_EXITED", message: "x" }, exitCode: 1 },
      },
    ]);
    expect(failed.when(cmd("StartWorkspace")).events).toEqual([
      { type: "WorkspaceStarting", data: {} },
    ]);
    // Only a running workspace's container can end by itself.
    expect(
      code(given(lifecycleDecider, stopped).when(cmd("RecordContainerEnded", { reason: "x" }))),
    ).toBe("ERR_WORKSPACE_STATE");
  });

  it("rejects illegal transitions with a reason, and repeats are no-ops", () => {
    expect(code(given(lifecycleDecider, running).when(cmd("DeleteWorkspace")))).toBe(
      "ERR_WORKSPACE_STATE",
    );
    expect(code(given(lifecycleDecider, []).when(cmd("StartWorkspace")))).toBe(
      "ERR_WORKSPACE_NOT_FOUND",
    );
    expect(
      code(given(lifecycleDecider, running).when(cmd("SetWorkspaceImage", { image: "other" }))),
    ).toBe("ERR_WORKSPACE_STATE");
    expect(code(given(lifecycleDecider, running).when(cmd("RestoreSnapshot", { name: "s" })))).toBe(
      "ERR_WORKSPACE_STATE",
    );
    expect(given(lifecycleDecider, running).when(cmd("StartWorkspace")).events).toEqual([]);
    expect(
      code(
        given(lifecycleDecider, stopped).when(
          cmd("FinishAction", { action: "start", container: "c" }),
        ),
      ),
    ).toBe("ERR_WORKSPACE_STATE");
  });

  it("a failed start leaves the workspace stopped with the last error", () => {
    const starting = [...stopped, { type: "WorkspaceStarting", data: {} } as LifecycleDecided];
    const r = given(lifecycleDecider, starting).when(
      cmd("FailAction", { action: "start", code: "ERR_HOST_CONTAINER", message: "boom" }),
    );
    expect(r.events).toEqual([
      {
        type: "WorkspaceActionFailed",
        data: {
          action: "start",
          error: { code: "ERR_HOST_CONTAINER", message: "boom" },
          status: "stopped",
        },
      },
    ]);
    const state = [...starting, ...r.events!].reduce(
      (s, e) => lifecycleDecider.evolve(s, e),
      lifecycleDecider.initialState(),
    );
    expect(state.status).toBe("stopped");
    expect(state.lastError?.message).toBe("boom");
  });

  it("snapshots: unique names, restore only when stopped", () => {
    const snap: LifecycleDecided = { type: "SnapshotCreated", data: { name: "s1" } };
    expect(
      code(given(lifecycleDecider, [...running, snap]).when(cmd("CreateSnapshot", { name: "s1" }))),
    ).toBe("ERR_WORKSPACE_SNAPSHOT");
    expect(
      given(lifecycleDecider, [...stopped, snap]).when(cmd("RestoreSnapshot", { name: "s1" }))
        .events,
    ).toEqual([{ type: "WorkspaceRestored", data: { snapshot: "s1" } }]);
  });
});

describe("mount decider", () => {
  const spec = { lower: "/l", upper: "/u", work: "/w", target: "/t" };
  const m = (type: string, holder: string) =>
    ({ type, data: { holder, spec }, ...meta }) as Parameters<typeof mountDecider.decide>[0];
  it("holders are a set", () => {
    const ref = given(mountDecider, []).when(m("Reference", "container:a")).events!;
    expect(ref).toHaveLength(1);
    expect(given(mountDecider, ref).when(m("Reference", "container:a")).events).toEqual([]);
    expect(given(mountDecider, ref).when(m("Release", "exec:x")).events).toEqual([]);
    expect(given(mountDecider, ref).when(m("Release", "container:a")).events).toHaveLength(1);
  });
});

describe("snapshot retention", () => {
  it("keeps hourly ×24 and daily ×7, never prunes snapshots people made", () => {
    const now = new Date("2026-03-10T12:30:00Z");
    const snaps = Array.from({ length: 24 * 10 }, (_, i) => ({
      name: `auto-${i}`,
      at: new Date(now.getTime() - i * 3_600_000).toISOString(),
    }));
    snaps.push({ name: "mine", at: "2020-01-01T00:00:00Z" });
    const prune = snapshotsToPrune(snaps, now);
    const kept = snaps.filter((s) => !prune.includes(s.name));
    expect(kept.some((s) => s.name === "mine")).toBe(true);
    // 24 hourly (which cover today's and yesterday's newest) + the 5 days before, one each.
    expect(kept.length).toBe(1 + 24 + 5);
  });
});
