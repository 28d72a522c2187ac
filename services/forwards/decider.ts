/**
 * The port forward decider: a forward is added (its ports and direction parsed, its session
 * known, its listening port not taken by another forward) and removed. Bad input is refused
 * here, so nothing is stored and nothing starts.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type AddForward,
  type ForwardConfig,
  type ForwardConfigEvent,
  forwardIdFor,
  parseDirection,
  parsePort,
  type RemoveForward,
} from "../../shared/forwards.js";

export type ForwardCommand = CommandOf<typeof AddForward> | CommandOf<typeof RemoveForward>;

export type ForwardDecided = {
  [E in ForwardConfigEvent as E["type"]]: Pick<E, "type" | "data">;
}[ForwardConfigEvent["type"]];

export type ForwardState =
  | { status: "none" }
  | { status: "live"; config: ForwardConfig }
  | { status: "removed" };

/** A live forward as the service knows it, for the duplicate check. */
export interface LiveForward {
  forward: string;
  sid: string;
  config: ForwardConfig;
}

export interface ForwardDeciderContext {
  /** The session of a target: its id and canonical target, or undefined when there is none. */
  session(target: string): { sid: string; target: string } | undefined;
  /** Every live forward. */
  others(): readonly LiveForward[];
}

/** The parsed settings and id of an AddForward (throws ERR_FORWARD_* on bad input). */
export function configOf(
  data: CommandOf<typeof AddForward>["data"],
  ctx: Pick<ForwardDeciderContext, "session">,
): { sid: string; forward: string; config: ForwardConfig } {
  const local = parsePort(data.local, "local port");
  const remote =
    data.remote === undefined || data.remote === "" ? local : parsePort(data.remote, "remote port");
  const direction = parseDirection(data.direction);
  const s = ctx.session(data.session);
  if (!s) {
    throw new CocalcError(
      "ERR_FORWARD_NO_SESSION",
      `no remote session ${JSON.stringify(data.session)}; connect it first with cocalc-plus ssh ${data.session}`,
    );
  }
  const name = data.name?.trim();
  const config: ForwardConfig = {
    session: s.target,
    local,
    remote,
    direction,
    ...(name ? { name } : {}),
  };
  return { sid: s.sid, forward: forwardIdFor(s.sid, config), config };
}

/** Throws ERR_FORWARD_DUPLICATE when another forward listens on the same port. */
export function checkNotDuplicate(
  sid: string,
  forward: string,
  config: ForwardConfig,
  others: readonly LiveForward[],
): void {
  for (const o of others) {
    const sameLocal =
      config.direction === "remote-to-local" &&
      o.config.direction === "remote-to-local" &&
      o.config.local === config.local;
    const sameRemote =
      config.direction === "local-to-remote" &&
      o.config.direction === "local-to-remote" &&
      o.sid === sid &&
      o.config.remote === config.remote;
    if (o.forward === forward || sameLocal || sameRemote) {
      throw new CocalcError(
        "ERR_FORWARD_DUPLICATE",
        sameRemote
          ? `remote port ${config.remote} of ${config.session} is already forwarded here by ${o.forward}`
          : `local port ${config.local} is already forwarded${o.config.session === config.session ? "" : ` to ${o.config.session}`} by ${o.forward}`,
        { forward: o.forward },
      );
    }
  }
}

export function forwardDecider(
  ctx: ForwardDeciderContext,
): Decider<ForwardCommand, ForwardDecided, ForwardState> {
  return {
    initialState: () => ({ status: "none" }),

    decide(command, state) {
      switch (command.type) {
        case "AddForward": {
          const { sid, forward, config } = configOf(command.data, ctx);
          if (state.status === "live")
            checkNotDuplicate(sid, forward, config, [{ forward, sid, config: state.config }]);
          checkNotDuplicate(sid, forward, config, ctx.others());
          return [{ type: "ForwardAdded", data: config }];
        }
        case "RemoveForward":
          if (state.status !== "live")
            throw new CocalcError(
              "ERR_FORWARD_NOT_FOUND",
              `no port forward ${command.data.forward}`,
            );
          return [
            {
              type: "ForwardRemoved",
              data: command.data.reason !== undefined ? { reason: command.data.reason } : {},
            },
          ];
        default: {
          const never: never = command;
          throw new Error(`unhandled command ${(never as { type: string }).type}`);
        }
      }
    },

    evolve(_state, event) {
      switch (event.type) {
        case "ForwardAdded":
          return { status: "live", config: event.data };
        case "ForwardRemoved":
          return { status: "removed" };
        default: {
          const never: never = event;
          throw new Error(`unhandled event ${(never as { type: string }).type}`);
        }
      }
    },
  };
}
