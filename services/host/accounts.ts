/**
 * The cores of a launchpad account, as a pure decider: its quota and what each of its running
 * workspaces holds. A host reserves a workspace's cpus here before it starts it (or raises
 * them), so two hosts starting workspaces of one account at once cannot both pass the quota:
 * the reservations are one aggregate, published with the expected last sequence.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { EventRegistry, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type AccountEvent,
  AccountEvents,
  type AccountView,
  type SetAccountCoresQuota,
} from "../../shared/launchpad.js";
import { accountOfSubject, Buckets, Keys } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

export const accountRegistry = new EventRegistry(AccountEvents);

/** Commands only hosts send (never accepted from the wire). */
export type CoresCommand =
  | {
      type: "ReserveCores";
      data: {
        wsid: string;
        hostId: string;
        cores: number;
        /** Record what already runs (reconciliation), even above the quota. */
        force?: boolean;
      };
      actor: string;
      at: string;
    }
  | { type: "ReleaseCores"; data: { wsid: string }; actor: string; at: string };

export type AccountCommand = CommandOf<typeof SetAccountCoresQuota> | CoresCommand;

type Decided = { [E in AccountEvent as E["type"]]: { type: E["type"]; data: E["data"] } };
export type AccountDecided = Decided[keyof Decided];

export interface AccountState {
  quota: number | null;
  held: Record<string, { hostId: string; cores: number }>;
}

/** Sums without binary fractions piling up (0.1 + 0.2 cores). */
const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1000) / 1000;

export function coresRunning(state: AccountState, except?: string): number {
  return sum(
    Object.entries(state.held)
      .filter(([w]) => w !== except)
      .map(([, h]) => h.cores),
  );
}

export const accountDecider: Decider<AccountCommand, AccountDecided, AccountState> = {
  initialState: () => ({ quota: null, held: {} }),

  decide(command, state) {
    switch (command.type) {
      case "SetAccountCoresQuota":
        return command.data.cores === state.quota
          ? []
          : [{ type: "AccountCoresQuotaChanged", data: { cores: command.data.cores } }];
      case "ReserveCores": {
        const { wsid, hostId, cores, force } = command.data;
        const had = state.held[wsid];
        if (had?.cores === cores && had.hostId === hostId) return [];
        const others = coresRunning(state, wsid);
        // Less than it held is always allowed: it can only bring the account nearer its quota.
        const growing = cores > (had?.cores ?? 0);
        if (!force && growing && state.quota !== null && sum([others, cores]) > state.quota)
          throw new CocalcError(
            "ERR_ACCOUNT_CORES_QUOTA",
            `workspace ${wsid} needs ${cores} cores, but its account's running workspaces hold ${others} of its ${state.quota}; stop one or raise the account's cores quota`,
          );
        return [{ type: "CoresReserved", data: { wsid, hostId, cores } }];
      }
      case "ReleaseCores":
        return state.held[command.data.wsid]
          ? [{ type: "CoresReleased", data: { wsid: command.data.wsid } }]
          : [];
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case "AccountCoresQuotaChanged":
        return { ...state, quota: event.data.cores };
      case "CoresReserved":
        return {
          ...state,
          held: {
            ...state.held,
            [event.data.wsid]: { hostId: event.data.hostId, cores: event.data.cores },
          },
        };
      case "CoresReleased": {
        const { [event.data.wsid]: _gone, ...held } = state.held;
        return { ...state, held };
      }
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

const accountTypes = new Set<string>(AccountEvents.map((e) => e.type));

/** The `accounts` view: quota and running cores of each account. */
export const accountsProjection: Projection<AccountView, AccountEvent> = {
  name: "accounts",
  bucket: Buckets.accounts,
  canHandle: (e): e is AccountEvent => accountTypes.has(e.type),
  key: (e) => Keys.account(accountOfSubject(e.subject)!),
  evolve(view, { event, subject }: StoredEvent<AccountEvent>) {
    const state = accountDecider.evolve(
      { quota: view?.coresQuota ?? null, held: view?.workspaces ?? {} },
      event,
    );
    return {
      account: accountOfSubject(subject)!,
      coresQuota: state.quota,
      coresRunning: coresRunning(state),
      workspaces: state.held,
      updatedAt: event.at,
    };
  },
};
