/**
 * Deciders: `decide(command, state) -> events` and `evolve(state, event) -> state`, pure.
 * Time and the actor come in through the command.
 */
import type { Command } from "./commands.js";

/** An event as a decider emits it: type and data, without envelope metadata. */
export interface DecidedEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

/** A pure decider. `decide` throws a CocalcError (ERR_COMMAND_REJECTED…) to refuse. */
export interface Decider<C extends Command, E extends DecidedEvent, S> {
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
  initialState(): S;
}

/** Folds events into state. */
export function fold<C extends Command, E extends DecidedEvent, S>(
  decider: Decider<C, E, S>,
  events: readonly E[],
): S {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
}

/** Test helper: `given(decider, events).when(command)` returns the decided events, or the error thrown. */
export function given<C extends Command, E extends DecidedEvent, S>(
  decider: Decider<C, E, S>,
  events: readonly E[],
) {
  return {
    when(command: C): { events: E[]; error?: undefined } | { events?: undefined; error: unknown } {
      const state = fold(decider, events);
      try {
        return { events: decider.decide(command, state) };
      } catch (error) {
        return { error };
      }
    },
  };
}
