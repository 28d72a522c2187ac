/**
 * A thread's ACP session in an agent process: the one the process has open is reused; a
 * known one is loaded (or resumed) when the agent can; else a new one starts and is assigned
 * to the thread. The thread's model is chosen through the session's config options.
 */
import type * as acp from "@agentclientprotocol/sdk";
import type { ThreadSettings } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import type { TurnLogSink } from "./acp-client.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";

export interface SessionOptions {
  log: TurnLogSink;
  timeoutMs: number;
  /** Records a new session on the thread (`replaces`: the known one it could not load). */
  assign(assigned: { sessionId: string; agent: string; replaces?: string }): Promise<unknown>;
}

/** The thread's session in this process: reused, loaded, or created and assigned. */
export async function openSession(
  proc: AgentProcess,
  settings: ThreadSettings,
  known: string | undefined,
  { log, timeoutMs: timeout, assign }: SessionOptions,
): Promise<string> {
  const caps = proc.init?.agentCapabilities;
  const agentName = proc.init?.agentInfo?.name ?? settings.agent;
  if (known && proc.sessionId === known) return known;
  let configOptions: acp.SessionConfigOption[] | null | undefined;
  let sessionId: string | undefined;
  if (known) {
    const params = { sessionId: known, cwd: settings.cwd, mcpServers: [] };
    const how = caps?.loadSession
      ? "load"
      : caps?.sessionCapabilities?.resume
        ? "resume"
        : undefined;
    try {
      if (how) {
        const r = await proc.within(
          proc.connection.agent.request(acpSdk().methods.agent.session[how], params),
          timeout,
          `session/${how}`,
          "ERR_AGENT_SESSION",
        );
        configOptions = (r as { configOptions?: acp.SessionConfigOption[] } | undefined)
          ?.configOptions;
        sessionId = known;
        log.append("AgentNotice", {
          level: "info",
          text: `session ${known} ${how === "load" ? "loaded" : "resumed"}`,
        });
      }
    } catch (err) {
      if (!proc.alive || (err instanceof CocalcError && err.code === "ERR_AGENT_AUTH")) throw err;
      log.append("AgentNotice", {
        level: "warning",
        text: `the agent could not load session ${known} (${err instanceof Error ? err.message : String(err)}); a new session starts`,
      });
    }
    if (!sessionId && !how) {
      log.append("AgentNotice", {
        level: "warning",
        text: "this agent cannot load sessions: a new session starts, without the earlier turns",
      });
    }
  }
  if (!sessionId) {
    const r = await proc.within(
      proc.connection.agent.request(acpSdk().methods.agent.session.new, {
        cwd: settings.cwd,
        mcpServers: [],
      }),
      timeout,
      "session/new",
      "ERR_AGENT_SESSION",
    );
    sessionId = r.sessionId;
    configOptions = r.configOptions;
    await assign({
      sessionId,
      agent: agentName,
      ...(known !== undefined && { replaces: known }),
    });
  }
  proc.sessionId = sessionId;
  if (settings.model) await chooseModel(proc, sessionId, settings.model, configOptions, log);
  return sessionId;
}

async function chooseModel(
  proc: AgentProcess,
  sessionId: string,
  model: string,
  options: acp.SessionConfigOption[] | null | undefined,
  log: TurnLogSink,
): Promise<void> {
  const option = options?.find((o) => o.category === "model" || o.id === "model");
  if (!option) {
    log.append("AgentNotice", {
      level: "warning",
      text: `the agent offers no model choice; model ${model} is not applied`,
    });
    return;
  }
  try {
    await proc.within(
      proc.connection.agent.request(acpSdk().methods.agent.session.setConfigOption, {
        sessionId,
        configId: option.id,
        value: model,
      }),
      30_000,
      "session/set_config_option",
      "ERR_AGENT_SESSION",
    );
  } catch (err) {
    log.append("AgentNotice", {
      level: "warning",
      text: `model ${model} was not accepted: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
}
