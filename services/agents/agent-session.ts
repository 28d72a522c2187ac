/**
 * A thread's ACP session in an agent process: the one the process has open is reused; a
 * known one is loaded (or resumed) when the agent can; else a new one starts and is assigned
 * to the thread. The thread's model, mode and options are applied (session-config.ts).
 */
import type { ThreadSettings } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import type { TurnLogSink } from "./acp-client.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";
import { applyChoices, modesOf, optionsOf } from "./session-config.js";

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
  if (known && proc.sessionId === known) {
    await applyChoices(proc, known, settings, log);
    return known;
  }
  let answer: { modes?: unknown; configOptions?: unknown } | undefined;
  // Another session's offer is not this one's.
  proc.session = {};
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
        answer = r as typeof answer;
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
    answer = r;
    // Its updates (the agent's commands come right away) reach the turn while it is assigned.
    proc.sessionId = sessionId;
    await assign({
      sessionId,
      agent: agentName,
      ...(known !== undefined && { replaces: known }),
    });
  }
  proc.sessionId = sessionId;
  const modes = modesOf(answer?.modes);
  const options = optionsOf(answer?.configOptions);
  // Commands the agent told while the session opened are kept.
  proc.session = {
    ...(proc.session.commands && { commands: proc.session.commands }),
    ...(modes && { modes }),
    ...(options && { options }),
  };
  await applyChoices(proc, sessionId, settings, log);
  return sessionId;
}
