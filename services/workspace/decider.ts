/** The workspace decider: a workspace is created once, then its settings change. */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type Appearance,
  appearanceOf,
  applySettingsChange,
  type ChangeSettings,
  type CreateWorkspace,
  defaultSettings,
  type Settings,
  type SettingsChange,
} from "../../shared/workspace.js";

export type WorkspaceCommand = CommandOf<typeof CreateWorkspace> | CommandOf<typeof ChangeSettings>;

export type WorkspaceDecided =
  | { type: "WorkspaceCreated"; data: { settings: Settings } }
  | { type: "SettingsChanged"; data: { change: SettingsChange } };

export type WorkspaceState = { status: "none" } | { status: "created"; settings: Settings };

/** The fields of `change` that differ from `settings`; empty when nothing would change. */
function effectiveChange(settings: Settings, change: SettingsChange): SettingsChange {
  const out: SettingsChange = {};
  if (change.title !== undefined && change.title !== settings.title) out.title = change.title;
  if (change.color !== undefined && change.color.toLowerCase() !== settings.color)
    out.color = change.color.toLowerCase();
  if (change.defaultShell !== undefined && change.defaultShell !== settings.defaultShell)
    out.defaultShell = change.defaultShell;
  if (change.agentDefaults !== undefined) {
    const a: NonNullable<SettingsChange["agentDefaults"]> = {};
    for (const k of ["agent", "model", "mode"] as const) {
      const v = change.agentDefaults[k];
      if (v !== undefined && v !== settings.agentDefaults[k]) (a as Record<string, string>)[k] = v;
    }
    if (Object.keys(a).length > 0) out.agentDefaults = a;
  }
  if (change.appearance !== undefined) {
    const now = appearanceOf(settings);
    const a: Partial<Appearance> = {};
    for (const [k, v] of Object.entries(change.appearance) as [keyof Appearance, never][]) {
      if (v !== undefined && v !== now[k]) a[k] = v;
    }
    if (Object.keys(a).length > 0) out.appearance = a;
  }
  return out;
}

function validate(change: SettingsChange): void {
  if (change.title !== undefined && change.title.trim() === "") {
    throw new CocalcError("ERR_SETTINGS_INVALID", "the title cannot be blank");
  }
  if (
    change.defaultShell !== undefined &&
    change.defaultShell !== "" &&
    !change.defaultShell.startsWith("/")
  ) {
    throw new CocalcError(
      "ERR_SETTINGS_INVALID",
      "the default shell must be an absolute path (or empty for the login shell)",
    );
  }
}

export const workspaceDecider: Decider<WorkspaceCommand, WorkspaceDecided, WorkspaceState> = {
  initialState: () => ({ status: "none" }),

  decide(command, state) {
    switch (command.type) {
      case "CreateWorkspace": {
        if (state.status === "created") return [];
        const title = command.data.title.trim();
        if (!title) throw new CocalcError("ERR_SETTINGS_INVALID", "the title cannot be blank");
        return [{ type: "WorkspaceCreated", data: { settings: defaultSettings(title) } }];
      }
      case "ChangeSettings": {
        if (state.status !== "created") {
          throw new CocalcError("ERR_COMMAND_REJECTED", "the workspace does not exist yet");
        }
        validate(command.data);
        const change = effectiveChange(state.settings, command.data);
        return Object.keys(change).length === 0
          ? []
          : [{ type: "SettingsChanged", data: { change } }];
      }
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "WorkspaceCreated":
        return { status: "created", settings: event.data.settings };
      case "SettingsChanged":
        return state.status === "created"
          ? { status: "created", settings: applySettingsChange(state.settings, event.data.change) }
          : state;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};
