/**
 * What an agent's session offers beyond prompts: its modes (ACP session/set_mode), its config
 * options (session/set_config_option: model, reasoning, approval presets…) and its slash
 * commands (available_commands_update). Read defensively from the agent's answers and updates
 * into the thread's view, and the thread's remembered choices applied to the session.
 */
import type { AgentSessionInfo, ThreadSettings } from "../../shared/agents.js";
import type { TurnLogSink } from "./acp-client.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";

const str = (v: unknown, max = 200): string | undefined =>
  typeof v === "string" ? v.slice(0, max) : undefined;
const list = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? (v.slice(0, 200) as Record<string, unknown>[]) : [];

/** The modes of a session/new or session/load answer (or a mode update), if any. */
export function modesOf(raw: unknown): AgentSessionInfo["modes"] {
  const m = raw as { currentModeId?: unknown; availableModes?: unknown } | null | undefined;
  const current = str(m?.currentModeId);
  if (!current) return undefined;
  const available = list(m?.availableModes).flatMap((x) => {
    const id = str(x.id);
    const name = str(x.name);
    const description = str(x.description, 1000);
    return id && name ? [{ id, name, ...(description && { description }) }] : [];
  });
  return { current, available };
}

/** The select config options of an answer or update (boolean ones are not offered yet). */
export function optionsOf(raw: unknown): AgentSessionInfo["options"] {
  if (!Array.isArray(raw)) return undefined;
  return list(raw).flatMap((o) => {
    const id = str(o.id);
    const name = str(o.name);
    const current = str(o.currentValue);
    if (!id || !name || current === undefined || (o.type !== undefined && o.type !== "select"))
      return [];
    const values = list(o.options).flatMap((v) =>
      // Grouped options: their groups' options, in order.
      Array.isArray(v.options) ? list(v.options) : [v],
    );
    const description = str(o.description, 1000);
    const category = str(o.category);
    return [
      {
        id,
        name,
        current,
        ...(description && { description }),
        ...(category && { category }),
        values: values.flatMap((v) => {
          const value = str(v.value);
          const vname = str(v.name);
          const vdesc = str(v.description, 1000);
          return value && vname
            ? [{ value, name: vname, ...(vdesc && { description: vdesc }) }]
            : [];
        }),
      },
    ];
  });
}

/** The updates that tell what a session offers (kept even when they come before its id). */
export const SESSION_OFFER_UPDATES: ReadonlySet<string> = new Set([
  "current_mode_update",
  "config_option_update",
  "available_commands_update",
]);

/** The slash commands of an available_commands_update. */
export function commandsOf(raw: unknown): AgentSessionInfo["commands"] {
  return list(raw).flatMap((c) => {
    const name = str(c.name);
    const description = str(c.description, 1000) ?? "";
    const hint = str((c.input as { hint?: unknown } | null | undefined)?.hint, 500);
    return name ? [{ name, description, ...(hint && { hint }) }] : [];
  });
}

/** The session's info after an update from the agent; undefined: nothing it keeps changed. */
export function afterUpdate(
  info: AgentSessionInfo,
  update: { sessionUpdate: string } & Record<string, unknown>,
): AgentSessionInfo | undefined {
  switch (update.sessionUpdate) {
    case "current_mode_update": {
      const current = str(update.currentModeId);
      if (!current || !info.modes) return undefined;
      return { ...info, modes: { ...info.modes, current } };
    }
    case "config_option_update": {
      const options = optionsOf(update.configOptions);
      return options ? { ...info, options } : undefined;
    }
    case "available_commands_update":
      return { ...info, commands: commandsOf(update.availableCommands) ?? [] };
    default:
      return undefined;
  }
}

/**
 * Applies the thread's choices (its model, session mode and options) where the session's
 * current values differ; what the agent does not offer or refuses is said in the turn's log.
 */
export async function applyChoices(
  proc: AgentProcess,
  sessionId: string,
  settings: ThreadSettings,
  log: TurnLogSink,
): Promise<void> {
  const info = proc.session;
  const wanted: [string, string][] = Object.entries(settings.options ?? {});
  if (settings.model) {
    const model = info.options?.find((o) => o.category === "model" || o.id === "model");
    if (model) wanted.unshift([model.id, settings.model]);
    else {
      log.append("AgentNotice", {
        level: "warning",
        text: `the agent offers no model choice; model ${settings.model} is not applied`,
      });
    }
  }
  for (const [id, value] of wanted) {
    const option = proc.session.options?.find((o) => o.id === id);
    if (!option || option.current === value) continue;
    try {
      const r = await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.session.setConfigOption, {
          sessionId,
          configId: id,
          value,
        }),
        30_000,
        "session/set_config_option",
        "ERR_AGENT_SESSION",
      );
      const options = optionsOf((r as { configOptions?: unknown } | undefined)?.configOptions);
      proc.session = options
        ? { ...proc.session, options }
        : {
            ...proc.session,
            options: proc.session.options?.map((o) => (o.id === id ? { ...o, current: value } : o)),
          };
    } catch (err) {
      log.append("AgentNotice", {
        level: "warning",
        text: `${option.name} ${value} was not accepted: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  const mode = settings.sessionMode;
  const modes = proc.session.modes;
  if (mode && modes && modes.current !== mode) {
    if (!modes.available.some((m) => m.id === mode)) {
      log.append("AgentNotice", {
        level: "warning",
        text: `the agent offers no mode ${mode}; it stays in ${modes.current}`,
      });
      return;
    }
    try {
      await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.session.setMode, {
          sessionId,
          modeId: mode,
        }),
        30_000,
        "session/set_mode",
        "ERR_AGENT_SESSION",
      );
      proc.session = { ...proc.session, modes: { ...modes, current: mode } };
    } catch (err) {
      log.append("AgentNotice", {
        level: "warning",
        text: `mode ${mode} was not accepted: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
}
