/** Workspace settings: the events, commands and view shared by the workspace service and the web app. */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import type { ShowsRejections } from "./rejections.js";

/** Agent sandbox modes, from most to least trusting. */
export const AgentModes = ["full-access", "workspace-write", "read-only"] as const;
export type AgentMode = (typeof AgentModes)[number];

/** Defaults for new agent threads. */
export const AgentDefaultsSchema = Type.Object(
  {
    agent: Type.String({ maxLength: 200 }),
    model: Type.String({ maxLength: 200 }),
    mode: Type.Union(AgentModes.map((m) => Type.Literal(m))),
  },
  { additionalProperties: false },
);

/** Page themes: "system" follows the browser's light or dark preference. */
export const Themes = ["system", "light", "dark"] as const;
export type Theme = (typeof Themes)[number];

/** Font sizes (px) the editor and terminals accept. */
export const FONT_SIZES = { min: 8, max: 32 } as const;

const FontSize = Type.Integer({ minimum: FONT_SIZES.min, maximum: FONT_SIZES.max });

/** How the workspace looks, the same in every tab and on every device. */
export const AppearanceSchema = Type.Object(
  {
    theme: Type.Union(Themes.map((t) => Type.Literal(t))),
    editorFontSize: FontSize,
    terminalFontSize: FontSize,
  },
  { additionalProperties: false },
);
export type Appearance = Static<typeof AppearanceSchema>;

/** What a workspace looks like until its settings say otherwise. */
export const DEFAULT_APPEARANCE: Appearance = {
  theme: "system",
  editorFontSize: 13,
  terminalFontSize: 14,
};

/** All settings of a workspace. */
export const SettingsSchema = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 100 }),
    color: Type.String({ pattern: "^#[0-9a-fA-F]{6}$" }),
    defaultShell: Type.String({ maxLength: 300 }),
    agentDefaults: AgentDefaultsSchema,
    // Optional: workspaces created before it had no appearance (the defaults apply).
    appearance: Type.Optional(AppearanceSchema),
  },
  { additionalProperties: false },
);
export type Settings = Static<typeof SettingsSchema>;

/** A change to some settings; at least one field. */
export const SettingsChangeSchema = Type.Object(
  {
    title: Type.Optional(SettingsSchema.properties.title),
    color: Type.Optional(SettingsSchema.properties.color),
    defaultShell: Type.Optional(SettingsSchema.properties.defaultShell),
    agentDefaults: Type.Optional(
      Type.Partial(AgentDefaultsSchema, { additionalProperties: false }),
    ),
    appearance: Type.Optional(
      Type.Partial(AppearanceSchema, { additionalProperties: false, minProperties: 1 }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type SettingsChange = Static<typeof SettingsChangeSchema>;

/** The colour a new workspace gets. */
export const DEFAULT_COLOR = "#4a90d9";

/** Settings of a workspace that has just been created with `title`. */
export function defaultSettings(title: string): Settings {
  return {
    title,
    color: DEFAULT_COLOR,
    defaultShell: "",
    agentDefaults: { agent: "", model: "", mode: "workspace-write" },
    appearance: { ...DEFAULT_APPEARANCE },
  };
}

/** The appearance of `settings`, with the defaults for what they do not say. */
export function appearanceOf(settings: Settings | undefined): Appearance {
  return { ...DEFAULT_APPEARANCE, ...settings?.appearance };
}

export const WorkspaceCreated = defineEvent(
  "WorkspaceCreated",
  1,
  Type.Object({ settings: SettingsSchema }, { additionalProperties: false }),
);
export const SettingsChanged = defineEvent(
  "SettingsChanged",
  1,
  Type.Object({ change: SettingsChangeSchema }, { additionalProperties: false }),
);
export const WorkspaceEvents = [WorkspaceCreated, SettingsChanged] as const;
export type WorkspaceEvent = EventOf<typeof WorkspaceCreated> | EventOf<typeof SettingsChanged>;

export const CreateWorkspace = defineCommand(
  "CreateWorkspace",
  Type.Object({ title: SettingsSchema.properties.title }, { additionalProperties: false }),
);
export const ChangeSettings = defineCommand("ChangeSettings", SettingsChangeSchema);
export const WorkspaceCommands = [CreateWorkspace, ChangeSettings] as const;

/** The `settings` view of one workspace. */
export interface SettingsView extends ShowsRejections {
  wsid: string;
  settings: Settings;
  updatedAt: string;
  updatedBy: string;
}

/** Applies a change to settings. */
export function applySettingsChange(settings: Settings, change: SettingsChange): Settings {
  return {
    ...settings,
    ...(change.title !== undefined && { title: change.title }),
    ...(change.color !== undefined && { color: change.color.toLowerCase() }),
    ...(change.defaultShell !== undefined && { defaultShell: change.defaultShell }),
    ...(change.agentDefaults !== undefined && {
      agentDefaults: { ...settings.agentDefaults, ...change.agentDefaults },
    }),
    ...(change.appearance !== undefined && {
      appearance: { ...appearanceOf(settings), ...change.appearance },
    }),
  };
}
