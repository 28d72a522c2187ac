import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { defaultSettings } from "../../shared/workspace.js";
import { type WorkspaceCommand, type WorkspaceDecided, workspaceDecider } from "./decider.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const created: WorkspaceDecided = {
  type: "WorkspaceCreated",
  data: { settings: defaultSettings("box") },
};
const cmd = (c: Omit<WorkspaceCommand, "actor" | "at">) => ({ ...c, ...meta }) as WorkspaceCommand;

describe("workspace decider", () => {
  it("creates a workspace once", () => {
    expect(
      given(workspaceDecider, []).when(cmd({ type: "CreateWorkspace", data: { title: "box" } }))
        .events,
    ).toEqual([created]);
    expect(
      given(workspaceDecider, [created]).when(
        cmd({ type: "CreateWorkspace", data: { title: "other" } }),
      ).events,
    ).toEqual([]);
  });

  it("changes only what differs", () => {
    const r = given(workspaceDecider, [created]).when(
      cmd({ type: "ChangeSettings", data: { color: "#AABBCC", title: "box" } }),
    );
    expect(r.events).toEqual([{ type: "SettingsChanged", data: { change: { color: "#aabbcc" } } }]);
    const same = given(workspaceDecider, [created, ...r.events!]).when(
      cmd({ type: "ChangeSettings", data: { color: "#aabbcc" } }),
    );
    expect(same.events).toEqual([]);
  });

  it("merges agent defaults field by field", () => {
    const r = given(workspaceDecider, [created]).when(
      cmd({ type: "ChangeSettings", data: { agentDefaults: { mode: "read-only", agent: "" } } }),
    );
    expect(r.events).toEqual([
      { type: "SettingsChanged", data: { change: { agentDefaults: { mode: "read-only" } } } },
    ]);
  });

  it("changes appearance field by field; a workspace from before appearance gets the defaults", () => {
    const { appearance: _, ...old } = defaultSettings("box");
    const before: WorkspaceDecided = { type: "WorkspaceCreated", data: { settings: old } };
    const r = given(workspaceDecider, [before]).when(
      cmd({ type: "ChangeSettings", data: { appearance: { theme: "dark", editorFontSize: 13 } } }),
    );
    expect(r.events).toEqual([
      { type: "SettingsChanged", data: { change: { appearance: { theme: "dark" } } } },
    ]);
    const state = [before, ...r.events!].reduce(
      workspaceDecider.evolve,
      workspaceDecider.initialState(),
    );
    expect(state.status === "created" && state.settings.appearance).toEqual({
      theme: "dark",
      editorFontSize: 13,
      terminalFontSize: 14,
    });
  });

  it("rejects changes to a workspace that does not exist, and bad values", () => {
    const r1 = given(workspaceDecider, []).when(
      cmd({ type: "ChangeSettings", data: { color: "#000000" } }),
    );
    expect((r1.error as CocalcError).code).toBe("ERR_COMMAND_REJECTED");
    const r2 = given(workspaceDecider, [created]).when(
      cmd({ type: "ChangeSettings", data: { title: "   " } }),
    );
    expect((r2.error as CocalcError).code).toBe("ERR_SETTINGS_INVALID");
    const r3 = given(workspaceDecider, [created]).when(
      cmd({ type: "ChangeSettings", data: { defaultShell: "bash" } }),
    );
    expect((r3.error as CocalcError).code).toBe("ERR_SETTINGS_INVALID");
  });
});
