/**
 * Which host a workspace is on, as a pure decider: the control plane places a workspace when
 * it is created and frees the id again when it is deleted (or its create is refused). Its
 * commands go to that host only.
 */
import type { Decider } from "../../shared/decider.js";
import { EventRegistry } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { type HostView, type PlacementEvent, PlacementEvents } from "../../shared/launchpad.js";

export const placementRegistry = new EventRegistry(PlacementEvents);

export type PlacementCommand =
  | { type: "PlaceWorkspace"; data: { wsid: string; hostId: string }; actor: string; at: string }
  | { type: "UnplaceWorkspace"; data: { wsid: string }; actor: string; at: string };

type Decided = { [E in PlacementEvent as E["type"]]: { type: E["type"]; data: E["data"] } };
export type PlacementDecided = Decided[keyof Decided];

export interface PlacementState {
  hostId: string | null;
}

export const placementDecider: Decider<PlacementCommand, PlacementDecided, PlacementState> = {
  initialState: () => ({ hostId: null }),

  decide(command, state) {
    switch (command.type) {
      case "PlaceWorkspace": {
        const { wsid, hostId } = command.data;
        if (state.hostId === hostId) return [];
        if (state.hostId !== null)
          throw new CocalcError(
            "ERR_WORKSPACE_EXISTS",
            `workspace ${wsid} already exists on host ${state.hostId}`,
          );
        return [{ type: "WorkspacePlaced", data: { hostId } }];
      }
      case "UnplaceWorkspace":
        return state.hostId === null ? [] : [{ type: "WorkspaceUnplaced", data: {} }];
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "WorkspacePlaced":
        return { hostId: event.data.hostId };
      case "WorkspaceUnplaced":
        return { hostId: null };
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

/** What a new workspace needs of its host. */
export interface WorkspaceNeeds {
  image: string;
  cpus: number;
  memoryMb: number;
  diskMb: number;
}

/** What placement reads of a host: its beat (the `hosts` view) and whether admins drained it. */
export type HostOffer = Pick<HostView, "hostId" | "running" | "workspaces" | "disk"> &
  Partial<Pick<HostView, "images" | "capacity" | "committed" | "drainedAt">>;

/** A host that can take the workspace; `importImage` when its image must be imported first. */
export interface Fit {
  hostId: string;
  importImage: boolean;
}

/**
 * Whether a ready host can take a workspace: not drained, free cores and memory (its capacity
 * less what its running workspaces' quotas take: a stopped workspace holds only disk), free
 * disk for the quota, and the image (or one the control plane can import). A reason when it
 * cannot.
 */
export function fitHost(h: HostOffer, need: WorkspaceNeeds): Fit | { reason: string } {
  if (h.drainedAt !== undefined)
    return { reason: `draining since ${h.drainedAt} (it takes no new workspaces)` };
  const why: string[] = [];
  const freeCpus = (h.capacity?.cpus ?? 0) - (h.committed?.cpus ?? 0);
  if (h.capacity === undefined) why.push("reports no capacity (an older host)");
  else if (need.cpus > freeCpus + 1e-9)
    why.push(`${round(Math.max(0, freeCpus))} of ${h.capacity.cpus} cores free`);
  const freeMem = (h.capacity?.memoryMb ?? 0) - (h.committed?.memoryMb ?? 0);
  if (h.capacity !== undefined && need.memoryMb > freeMem)
    why.push(`${Math.max(0, freeMem)} of ${h.capacity.memoryMb} MB memory free`);
  const freeDisk = h.disk.totalMb - h.disk.usedMb;
  if (need.diskMb > freeDisk) why.push(`${Math.max(0, freeDisk)} MB of disk free`);
  if (why.length > 0) return { reason: why.join(", ") };
  return { hostId: h.hostId, importImage: !(h.images ?? []).includes(need.image) };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * The ready hosts that can take a new workspace, best first: those that have its image before
 * those that need an import, then the least busy; and why each other host cannot.
 */
export function placeWorkspace(
  hosts: readonly HostOffer[],
  need: WorkspaceNeeds,
): { fits: Fit[]; refused: { hostId: string; reason: string }[] } {
  const fits: Fit[] = [];
  const refused: { hostId: string; reason: string }[] = [];
  for (const h of hosts) {
    const f = fitHost(h, need);
    if ("reason" in f) refused.push({ hostId: h.hostId, reason: f.reason });
    else fits.push(f);
  }
  const order = new Map(pickOrder(hosts).map((id, i) => [id, i] as const));
  fits.sort(
    (a, b) =>
      Number(a.importImage) - Number(b.importImage) ||
      (order.get(a.hostId) ?? 0) - (order.get(b.hostId) ?? 0),
  );
  return { fits, refused };
}

/** Hosts from the least busy: fewest workspaces, then fewest running, then by id. */
function pickOrder(
  hosts: readonly { hostId: string; running: number; workspaces: number }[],
): string[] {
  return [...hosts]
    .sort(
      (a, b) =>
        a.workspaces - b.workspaces ||
        a.running - b.running ||
        (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0),
    )
    .map((h) => h.hostId);
}

/** Where a new workspace goes when nothing else decides: the least busy ready host. */
export function pickHost(
  hosts: readonly { hostId: string; running: number; workspaces: number }[],
): string | undefined {
  return pickOrder(hosts)[0];
}
