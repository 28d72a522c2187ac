/**
 * The terminal decider: a terminal is opened, its shell may exit and be restarted any number
 * of times (each shell is a generation), and it is closed. Resizes and exits are facts the
 * service records as they happen; commands only open, restart and close.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type CloseTerminal,
  directoryOf,
  type OpenTerminal,
  type RestartTerminal,
  TERM_DEFAULT_SIZE,
  type TerminalEvent,
  terminalIdForPath,
  titleForPath,
} from "../../shared/terminals.js";

export type TerminalCommand =
  | CommandOf<typeof OpenTerminal>
  | CommandOf<typeof RestartTerminal>
  | CommandOf<typeof CloseTerminal>;

/** Events as the decider sees them: type and data. */
export type TerminalDecided = {
  [E in TerminalEvent as E["type"]]: Pick<E, "type" | "data">;
}[TerminalEvent["type"]];

export type TerminalState =
  | { status: "none" }
  | { status: "running"; generation: number }
  | { status: "exited"; generation: number }
  | { status: "closed"; generation: number };

export const terminalDecider: Decider<TerminalCommand, TerminalDecided, TerminalState> = {
  initialState: () => ({ status: "none" }),

  decide(command, state) {
    switch (command.type) {
      case "OpenTerminal": {
        if (state.status === "running" || state.status === "exited") return [];
        const { tid, path, cwd, title, cols, rows } = command.data;
        if (path !== undefined && tid !== terminalIdForPath(path)) {
          throw new CocalcError(
            "ERR_TERM_INVALID",
            `the terminal of ${path} has id ${terminalIdForPath(path)}, not ${tid}`,
          );
        }
        const start = cwd ?? (path !== undefined ? directoryOf(path) : undefined);
        return [
          {
            type: "TerminalOpened",
            data: {
              generation: state.status === "closed" ? state.generation + 1 : 1,
              title: title ?? (path !== undefined ? titleForPath(path) : "Terminal"),
              ...(start !== undefined && { cwd: start }),
              ...(path !== undefined && { path }),
              cols: cols ?? TERM_DEFAULT_SIZE.cols,
              rows: rows ?? TERM_DEFAULT_SIZE.rows,
            },
          },
        ];
      }
      case "RestartTerminal": {
        if (state.status === "none" || state.status === "closed") {
          throw new CocalcError("ERR_TERM_NOT_FOUND", `no terminal ${command.data.tid}`);
        }
        return [{ type: "TerminalRestarted", data: { generation: state.generation + 1 } }];
      }
      case "CloseTerminal": {
        if (state.status === "none" || state.status === "closed") return [];
        return [{ type: "TerminalClosed", data: { generation: state.generation } }];
      }
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "TerminalOpened":
      case "TerminalRestarted":
        return { status: "running", generation: event.data.generation };
      case "TerminalExited":
        return state.status === "running" && state.generation === event.data.generation
          ? { status: "exited", generation: state.generation }
          : state;
      case "TerminalClosed":
        return { status: "closed", generation: event.data.generation };
      case "TerminalResized":
        return state;
      case "TerminalCarriedOver":
        return { status: event.data.status, generation: event.data.generation };
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};
