/**
 * The remote session decider: a session is added by its first connect, then connected,
 * stopped and connected again any number of times, and removed. The service records what
 * happens on the way (progress, tunnel up and down, failures) as events beside these.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type ConnectSession,
  formatTarget,
  parseTarget,
  type RemoteEvent,
  type RemoveSession,
  type SessionOptions,
  type StarSession,
  type StopSession,
} from "../../shared/remote.js";

export type RemoteCommand =
  | CommandOf<typeof ConnectSession>
  | CommandOf<typeof StopSession>
  | CommandOf<typeof RemoveSession>
  | CommandOf<typeof StarSession>;

export type RemoteDecided = {
  [E in RemoteEvent as E["type"]]: Pick<E, "type" | "data">;
}[RemoteEvent["type"]];

export type SessionState =
  | { status: "none" }
  | { status: "present"; options: SessionOptions; starred: boolean }
  | { status: "removed" };

function present(state: SessionState, sid: string) {
  if (state.status !== "present")
    throw new CocalcError("ERR_REMOTE_NOT_FOUND", `no remote session ${sid}`);
  return state;
}

export const remoteDecider: Decider<RemoteCommand, RemoteDecided, SessionState> = {
  initialState: () => ({ status: "none" }),

  decide(command, state) {
    switch (command.type) {
      case "ConnectSession": {
        const { target, options, mode, interactive } = command.data;
        const out: RemoteDecided[] = [];
        const given = options ?? {};
        let merged: SessionOptions = given;
        if (state.status !== "present") {
          out.push({
            type: "SessionAdded",
            data: { target: formatTarget(parseTarget(target)), options: given },
          });
        } else if (options === undefined) {
          merged = state.options;
        }
        out.push({
          type: "SessionConnectRequested",
          data: {
            mode: {
              install: mode?.install ?? true,
              upgrade: mode?.upgrade ?? false,
              forwardOnly: mode?.forwardOnly ?? false,
            },
            options: merged,
            ...(interactive && { interactive: true }),
          },
        });
        return out;
      }
      case "StopSession":
        present(state, command.data.sid);
        return [{ type: "SessionStopRequested", data: {} }];
      case "RemoveSession":
        present(state, command.data.sid);
        return [{ type: "SessionRemoveRequested", data: {} }];
      case "StarSession": {
        const s = present(state, command.data.sid);
        if (s.starred === command.data.starred) return [];
        return [{ type: "SessionStarred", data: { starred: command.data.starred } }];
      }
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "SessionAdded":
        return { status: "present", options: event.data.options, starred: false };
      case "SessionConnectRequested":
        return state.status === "present" ? { ...state, options: event.data.options } : state;
      case "SessionStarred":
        return state.status === "present" ? { ...state, starred: event.data.starred } : state;
      case "SessionRemoved":
        return { status: "removed" };
      default:
        return state;
    }
  },
};
