/**
 * What admins decide about a host, as a pure decider on `registry.host.<hostId>`: drained
 * (placement skips it; what runs there keeps running until it is stopped) or not, and the
 * images they imported onto it (a record of who did it). The fleet keeps it; placement reads
 * it as part of each host's offer.
 */
import type { Decider } from "../../shared/decider.js";
import { EventRegistry } from "../../shared/envelope.js";
import { type HostAdminEvent, HostAdminEvents } from "../../shared/launchpad.js";

export const hostAdminRegistry = new EventRegistry(HostAdminEvents);

export type HostAdminCommand =
  | { type: "DrainHost"; data: { hostId: string }; actor: string; at: string }
  | { type: "UndrainHost"; data: { hostId: string }; actor: string; at: string }
  | {
      type: "RecordImageImported";
      data: { hostId: string; name: string; source: string };
      actor: string;
      at: string;
    };

type Decided = { [E in HostAdminEvent as E["type"]]: { type: E["type"]; data: E["data"] } };
export type HostAdminDecided = Decided[keyof Decided];

export type HostAdminState = { status: "open" } | { status: "drained"; since: string };

export const hostAdminDecider: Decider<HostAdminCommand, HostAdminDecided, HostAdminState> = {
  initialState: () => ({ status: "open" }),

  decide(command, state) {
    switch (command.type) {
      case "DrainHost":
        return state.status === "drained"
          ? []
          : [{ type: "HostDrained", data: { since: command.at } }];
      case "UndrainHost":
        return state.status === "open" ? [] : [{ type: "HostUndrained", data: {} }];
      case "RecordImageImported":
        return [
          {
            type: "HostImageImported",
            data: { name: command.data.name, source: command.data.source },
          },
        ];
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "HostDrained":
        return { status: "drained", since: event.data.since };
      case "HostUndrained":
        return { status: "open" };
      case "HostImageImported":
        return state;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};
