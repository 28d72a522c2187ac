/**
 * The sync pair decider: a pair is added (its roots normalised and checked against every other
 * pair, its ignore patterns parsed, its remote session known), changed, paused, resumed, checked and removed. Bad input
 * is refused here, so nothing is stored and nothing starts.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type AddSyncPair,
  type ChangeSyncPair,
  type CheckSyncPair,
  checkNotNested,
  conflictLoser,
  normalizeRoot,
  type PairConfig,
  type PairRoots,
  type PauseSyncPair,
  pairIdFor,
  type RemoveSyncPair,
  type ResolveSyncConflict,
  type ResumeSyncPair,
  type SyncPairEvent,
} from "../../shared/sync.js";
import { parseIgnore } from "./ignore.js";

export type SyncCommand =
  | CommandOf<typeof AddSyncPair>
  | CommandOf<typeof ChangeSyncPair>
  | CommandOf<typeof PauseSyncPair>
  | CommandOf<typeof ResumeSyncPair>
  | CommandOf<typeof RemoveSyncPair>
  | CommandOf<typeof CheckSyncPair>
  | CommandOf<typeof ResolveSyncConflict>;

export type SyncDecided = {
  [E in SyncPairEvent as E["type"]]: Pick<E, "type" | "data">;
}[SyncPairEvent["type"]];

export type PairState =
  | { status: "none" }
  | { status: "active" | "paused"; config: PairConfig }
  | { status: "removed" };

export interface PairDeciderContext {
  /** The local home: an absolute local path inside it is stored relative to it. */
  home: string;
  /** Every other live pair, for the nesting check. */
  others(): readonly PairRoots[];
  /** The remote session of a target, or undefined when there is none (or it is being removed). */
  session(target: string): { sid: string; target: string } | undefined;
}

/** The normalised roots of an AddSyncPair (throws ERR_SYNC_PATH). */
export function rootsOf(
  data: CommandOf<typeof AddSyncPair>["data"],
  home: string,
): { local: string; remote: string } {
  const outsideHome = data.outsideHome === true;
  const local = normalizeRoot(data.local, { outsideHome, home, side: "local" });
  const remote =
    data.remote === undefined || data.remote.trim() === ""
      ? local
      : normalizeRoot(data.remote, { outsideHome, side: "remote" });
  return { local, remote };
}

/** The pair a command is about (AddSyncPair: derived from session and local root). */
export function pairOf(command: SyncCommand, home: string): string {
  if (command.type === "AddSyncPair") {
    return pairIdFor(command.data.session, rootsOf(command.data, home).local);
  }
  return command.data.pair;
}

function live(state: PairState, pair: string): Extract<PairState, { config: PairConfig }> {
  if (state.status !== "active" && state.status !== "paused") {
    throw new CocalcError("ERR_SYNC_NOT_FOUND", `no sync pair ${pair}`);
  }
  return state;
}

export function pairDecider(ctx: PairDeciderContext): Decider<SyncCommand, SyncDecided, PairState> {
  return {
    initialState: () => ({ status: "none" }),

    decide(command, state) {
      switch (command.type) {
        case "AddSyncPair": {
          const d = command.data;
          const { local, remote } = rootsOf(d, ctx.home);
          const pair = pairIdFor(d.session, local);
          const ignore = d.ignore ?? "";
          parseIgnore(ignore);
          if (!ctx.session(d.session)) {
            throw new CocalcError(
              "ERR_SYNC_NO_SESSION",
              `no remote session ${JSON.stringify(d.session)}: connect it first with \`cocalc-plus ssh ${d.session}\`, then add the pair`,
            );
          }
          checkNotNested(
            { session: d.session, local, remote },
            ctx.others().filter((o) => o.pair !== pair),
          );
          if (state.status === "active" || state.status === "paused") {
            throw new CocalcError(
              "ERR_SYNC_NESTED",
              `local path ${local} is already synced with ${d.session} by pair ${pair}`,
              { pair },
            );
          }
          return [
            {
              type: "SyncPairAdded",
              data: {
                session: d.session,
                local,
                remote,
                ignore,
                prefer: d.prefer ?? "local",
                outsideHome: d.outsideHome === true,
                ...(d.direction !== undefined &&
                  d.direction !== "both" && { direction: d.direction }),
              },
            },
          ];
        }
        case "ChangeSyncPair": {
          const s = live(state, command.data.pair);
          const { ignore, prefer, direction } = command.data;
          if (ignore !== undefined) parseIgnore(ignore);
          const data = {
            ...(ignore !== undefined && ignore !== s.config.ignore && { ignore }),
            ...(prefer !== undefined && prefer !== s.config.prefer && { prefer }),
            ...(direction !== undefined &&
              direction !== (s.config.direction ?? "both") && { direction }),
          };
          return Object.keys(data).length === 0 ? [] : [{ type: "SyncPairChanged", data }];
        }
        case "PauseSyncPair":
          return live(state, command.data.pair).status === "paused"
            ? []
            : [{ type: "SyncPairPaused", data: {} }];
        case "ResumeSyncPair":
          return live(state, command.data.pair).status === "active"
            ? []
            : [{ type: "SyncPairResumed", data: {} }];
        case "RemoveSyncPair":
          live(state, command.data.pair);
          return [{ type: "SyncPairRemoved", data: {} }];
        case "CheckSyncPair": {
          if (live(state, command.data.pair).status === "paused") {
            throw new CocalcError(
              "ERR_COMMAND_REJECTED",
              `pair ${command.data.pair} is paused; resume it to check it`,
            );
          }
          return [{ type: "SyncCheckRequested", data: {} }];
        }
        case "ResolveSyncConflict": {
          const { pair, path, keptAs, keep } = command.data;
          if (live(state, pair).status === "paused") {
            throw new CocalcError(
              "ERR_COMMAND_REJECTED",
              `pair ${pair} is paused; resume it to settle its conflicts`,
            );
          }
          if (!conflictLoser(path, keptAs)) {
            throw new CocalcError(
              "ERR_SYNC_PATH",
              `${JSON.stringify(keptAs)} is not a conflict copy of ${JSON.stringify(path)}`,
            );
          }
          return [{ type: "SyncConflictResolveRequested", data: { path, keptAs, keep } }];
        }
        default: {
          const never: never = command;
          throw new Error(`unhandled command ${(never as { type: string }).type}`);
        }
      }
    },

    evolve(state, event) {
      switch (event.type) {
        case "SyncPairAdded":
          return { status: "active", config: event.data };
        case "SyncPairChanged":
          return state.status === "active" || state.status === "paused"
            ? { ...state, config: { ...state.config, ...event.data } }
            : state;
        case "SyncPairPaused":
          return state.status === "active" ? { ...state, status: "paused" } : state;
        case "SyncPairResumed":
          return state.status === "paused" ? { ...state, status: "active" } : state;
        case "SyncPairRemoved":
          return { status: "removed" };
        case "SyncCheckRequested":
        case "SyncConflictResolveRequested":
          return state;
        default: {
          const never: never = event;
          throw new Error(`unhandled event ${(never as { type: string }).type}`);
        }
      }
    },
  };
}
