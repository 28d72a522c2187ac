/**
 * The thread decider. A thread runs one turn at a time: a turn submitted while another runs
 * or waits is queued, and the queue runs in submission order. The service (not the client)
 * starts turns, assigns the agent session and records how each turn ended; those are
 * commands too, so every change to a thread is decided against its current state.
 */

import {
  checkSchedule,
  describeWhen,
  nextRun,
  type Schedule,
  type ThreadSchedule,
} from "../../shared/agent-schedule.js";
import {
  type ArchiveThread,
  type ChangeThreadSettings,
  type CreateThread,
  checkThreadEnv,
  checkThreadSettings,
  type DeleteThread,
  type InterruptTurn,
  type RemoveSchedule,
  type SetSchedule,
  type StopReason,
  type SubmitTurn,
  type ThreadEvent,
  type ThreadSettings,
} from "../../shared/agents.js";
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";

/** Commands only the service sends (never accepted from the command subject). */
export type ServiceCommand =
  | { type: "StartTurn"; data: { turn: string }; actor: string; at: string }
  | {
      type: "AssignSession";
      data: { sessionId: string; agent: string; replaces?: string };
      actor: string;
      at: string;
    }
  | {
      type: "FinishTurn";
      data: { turn: string; stopReason: StopReason };
      actor: string;
      at: string;
    }
  | {
      type: "FailTurn";
      data: { turn: string; code: string; reason: string };
      actor: string;
      at: string;
    }
  | {
      /** A run time of the schedule came: its prompt becomes a turn (as the schedule's setter). */
      type: "RunSchedule";
      data: { turn: string; due: string; count: number };
      actor: string;
      at: string;
    }
  | {
      /** Run times passed while the service was down, and the schedule says skip them. */
      type: "SkipSchedule";
      data: { due: string; count: number };
      actor: string;
      at: string;
    }
  | {
      type: "RecordRevert";
      data: { turn: string; paths: string[]; forced: boolean };
      actor: string;
      at: string;
    };

export type ThreadCommand =
  | CommandOf<typeof CreateThread>
  | CommandOf<typeof ChangeThreadSettings>
  | CommandOf<typeof ArchiveThread>
  | CommandOf<typeof DeleteThread>
  | CommandOf<typeof SubmitTurn>
  | CommandOf<typeof InterruptTurn>
  | CommandOf<typeof SetSchedule>
  | CommandOf<typeof RemoveSchedule>
  | ServiceCommand;

export type ThreadDecided = {
  [E in ThreadEvent as E["type"]]: Pick<E, "type" | "data">;
}[ThreadEvent["type"]];

export type TurnPhase = "queued" | "running" | "ended";

export type ThreadState =
  | { status: "none" }
  /** Its ids are not used again (its events are gone once the service has acted). */
  | { status: "deleted" }
  | {
      status: "active";
      title: string;
      settings: ThreadSettings;
      archived: boolean;
      sessionId?: string;
      running?: string;
      /** The running turn was asked to stop. */
      stopping: boolean;
      queue: string[];
      turns: Record<string, TurnPhase>;
      count: number;
      /** The scheduled prompt, and the turn of its last run. */
      schedule?: ThreadSchedule & { lastTurn?: string };
    };

function active(state: ThreadState, thread: string) {
  if (state.status !== "active") {
    throw new CocalcError("ERR_AGENT_THREAD_NOT_FOUND", `no thread ${thread}`);
  }
  return state;
}

export const threadDecider: Decider<ThreadCommand, ThreadDecided, ThreadState> = {
  initialState: () => ({ status: "none" }),

  decide(command, state) {
    switch (command.type) {
      case "CreateThread": {
        if (state.status === "active") return [];
        if (state.status === "deleted")
          throw new CocalcError(
            "ERR_AGENT_THREAD_NOT_FOUND",
            `thread ${command.data.thread} was deleted`,
          );
        const { title, settings } = command.data;
        checkThreadEnv(settings.env);
        return [
          { type: "ThreadCreated", data: { title, settings: checkThreadSettings(settings) } },
        ];
      }
      case "ChangeThreadSettings": {
        const s = active(state, command.data.thread);
        const { change, title } = command.data;
        if (!change && title === undefined) {
          throw new CocalcError("ERR_AGENT_SETTINGS", "nothing to change");
        }
        if (change) checkThreadSettings({ ...s.settings, ...change });
        // Only what is set now: a thread from before this rule keeps working.
        if (change?.env) checkThreadEnv(change.env);
        return [
          {
            type: "ThreadSettingsChanged",
            data: { change: change ?? { ...s.settings }, ...(title !== undefined && { title }) },
          },
        ];
      }
      case "ArchiveThread": {
        const s = active(state, command.data.thread);
        if (s.archived === command.data.archived) return [];
        return [{ type: "ThreadArchived", data: { archived: command.data.archived } }];
      }
      case "DeleteThread": {
        const s = active(state, command.data.thread);
        if (s.running !== undefined || s.queue.length > 0)
          throw new CocalcError(
            "ERR_AGENT_THREAD_BUSY",
            "a turn of this thread is running or waiting: stop it, then delete the thread",
            { running: s.running ?? null, queued: s.queue.length },
          );
        return [{ type: "ThreadDeleted", data: {} }];
      }
      case "SubmitTurn": {
        const s = active(state, command.data.thread);
        const { turn, prompt } = command.data;
        const images = command.data.images ?? [];
        if (s.turns[turn] !== undefined) return [];
        if (prompt.trim() === "" && images.length === 0) {
          throw new CocalcError("ERR_AGENT_PROMPT", "the prompt is empty");
        }
        if (command.data.now && s.running !== undefined) {
          const running = s.running;
          return [
            {
              type: "TurnSubmitted",
              data: { turn, index: s.count + 1, prompt, images, interrupts: running },
            },
            { type: "TurnQueued", data: { turn, ahead: 1 } },
            ...(s.stopping ? [] : [{ type: "TurnInterrupted" as const, data: { turn: running } }]),
          ];
        }
        const ahead = s.queue.length + (s.running ? 1 : 0);
        return [
          { type: "TurnSubmitted", data: { turn, index: s.count + 1, prompt, images } },
          ...(ahead > 0 ? [{ type: "TurnQueued" as const, data: { turn, ahead } }] : []),
        ];
      }
      case "InterruptTurn": {
        const s = active(state, command.data.thread);
        const { turn } = command.data;
        const phase = s.turns[turn];
        if (phase === undefined) {
          throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `no turn ${turn} in this thread`);
        }
        if (phase === "ended" || (phase === "running" && s.stopping)) return [];
        return [{ type: "TurnInterrupted", data: { turn } }];
      }
      case "SetSchedule": {
        const s = active(state, command.data.thread);
        const schedule = checkSchedule(command.data.schedule);
        if (s.schedule && sameSchedule(s.schedule.schedule, schedule)) return [];
        return [{ type: "ScheduleSet", data: { schedule, since: command.at, by: command.actor } }];
      }
      case "RemoveSchedule": {
        const s = active(state, command.data.thread);
        return s.schedule ? [{ type: "ScheduleRemoved", data: {} }] : [];
      }
      case "RunSchedule":
      case "SkipSchedule": {
        const s = active(state, "");
        const { due, count } = command.data;
        const next = s.schedule && nextRun(s.schedule);
        // Removed, paused, or this run time already taken (a command sent again).
        if (!s.schedule || !next || Date.parse(due) < next.getTime()) return [];
        if (Date.parse(due) > Date.parse(command.at) + 1000) {
          throw new CocalcError("ERR_COMMAND_REJECTED", `the run at ${due} is not due yet`);
        }
        if (command.type === "SkipSchedule") {
          return [{ type: "ScheduledRunSkipped", data: { due, count, reason: "missed" } }];
        }
        const { turn } = command.data;
        if (s.turns[turn] !== undefined) return [];
        const last = s.schedule.lastTurn;
        if (last !== undefined && s.turns[last] !== undefined && s.turns[last] !== "ended") {
          return [{ type: "ScheduledRunSkipped", data: { due, count, reason: "busy" } }];
        }
        const ahead = s.queue.length + (s.running ? 1 : 0);
        const prompt = s.schedule.schedule.prompt;
        return [
          {
            type: "TurnSubmitted",
            data: { turn, index: s.count + 1, prompt, images: [], scheduled: { due, count } },
          },
          ...(ahead > 0 ? [{ type: "TurnQueued" as const, data: { turn, ahead } }] : []),
        ];
      }
      case "StartTurn": {
        const s = active(state, "");
        const { turn } = command.data;
        if (s.running !== undefined || s.queue[0] !== turn) {
          throw new CocalcError(
            "ERR_COMMAND_REJECTED",
            `turn ${turn} is not next (running ${s.running ?? "none"}, next ${s.queue[0] ?? "none"})`,
          );
        }
        return [{ type: "TurnStarted", data: { turn } }];
      }
      case "AssignSession": {
        const s = active(state, "");
        const { sessionId, agent, replaces } = command.data;
        if (s.sessionId === sessionId) return [];
        if (s.sessionId !== undefined && replaces !== s.sessionId) {
          throw new CocalcError(
            "ERR_COMMAND_REJECTED",
            `the thread already has session ${s.sessionId}`,
          );
        }
        return [
          {
            type: "SessionAssigned",
            data: { sessionId, agent, ...(replaces !== undefined && { replaces }) },
          },
        ];
      }
      case "FinishTurn": {
        const s = active(state, "");
        if (s.running !== command.data.turn) return [];
        return [{ type: "TurnFinished", data: command.data }];
      }
      case "FailTurn": {
        const s = active(state, "");
        const { turn, code, reason } = command.data;
        if (s.turns[turn] === undefined || s.turns[turn] === "ended") return [];
        return [{ type: "TurnFailed", data: { turn, code, reason: reason.slice(0, 8000) } }];
      }
      case "RecordRevert": {
        const s = active(state, "");
        const { turn, paths, forced } = command.data;
        if (s.turns[turn] !== "ended") {
          throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `no ended turn ${turn} in this thread`);
        }
        if (paths.length === 0) return [];
        return [{ type: "FilesReverted", data: { turn, paths, forced } }];
      }
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    if (event.type === "ThreadCreated") {
      if (state.status === "active") return state;
      return {
        status: "active",
        title: event.data.title,
        settings: event.data.settings,
        archived: false,
        stopping: false,
        queue: [],
        turns: {},
        count: 0,
      };
    }
    if (state.status !== "active") return state;
    if (event.type === "ThreadDeleted") return { status: "deleted" };
    const end = (turn: string) => ({
      ...state,
      queue: state.queue.filter((t) => t !== turn),
      ...(state.running === turn && { running: undefined, stopping: false }),
      turns: { ...state.turns, [turn]: "ended" as const },
    });
    switch (event.type) {
      case "ThreadSettingsChanged":
        return {
          ...state,
          settings: { ...state.settings, ...event.data.change },
          ...(event.data.title !== undefined && { title: event.data.title }),
        };
      case "ThreadArchived":
        return { ...state, archived: event.data.archived };
      case "TurnSubmitted":
        return {
          ...state,
          ...(event.data.scheduled &&
            state.schedule && {
              schedule: {
                ...state.schedule,
                lastDue: event.data.scheduled.due,
                lastTurn: event.data.turn,
              },
            }),
          // Sent now: before the queue.
          queue: event.data.interrupts
            ? [event.data.turn, ...state.queue]
            : [...state.queue, event.data.turn],
          turns: { ...state.turns, [event.data.turn]: "queued" },
          count: Math.max(state.count, event.data.index),
        };
      case "TurnQueued":
        return state;
      case "TurnStarted":
        return {
          ...state,
          running: event.data.turn,
          stopping: false,
          queue: state.queue.filter((t) => t !== event.data.turn),
          turns: { ...state.turns, [event.data.turn]: "running" },
        };
      case "SessionAssigned":
        return { ...state, sessionId: event.data.sessionId };
      case "TurnFinished":
      case "TurnFailed": {
        const next = end(event.data.turn);
        if (next.running === undefined) delete next.running;
        return next;
      }
      case "TurnInterrupted": {
        if (state.running === event.data.turn) return { ...state, stopping: true };
        return end(event.data.turn);
      }
      case "FilesReverted":
        return state;
      case "ScheduleSet": {
        const { schedule, since, by } = event.data;
        return { ...state, schedule: { schedule, since, by } };
      }
      case "ScheduleRemoved": {
        const { schedule: _s, ...rest } = state;
        return rest;
      }
      case "ScheduledRunSkipped":
        return state.schedule
          ? { ...state, schedule: { ...state.schedule, lastDue: event.data.due } }
          : state;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

function sameSchedule(a: Schedule, b: Schedule): boolean {
  return (
    a.prompt === b.prompt &&
    a.timeZone === b.timeZone &&
    a.missed === b.missed &&
    a.paused === b.paused &&
    describeWhen(a.when) === describeWhen(b.when)
  );
}
