/** Service health records, as written into the `services` view by each service's heartbeat. */

export const ServiceStatuses = ["starting", "running", "restarting", "stopped", "failed"] as const;
export type ServiceStatus = (typeof ServiceStatuses)[number];

/** One running instance of a service. */
export interface ServiceHealth {
  service: string;
  instance: string;
  host: string;
  pid: number;
  status: ServiceStatus;
  startedAt: string;
  beatAt: string;
  intervalMs: number;
  restarts: number;
  lastError?: string;
}

/** How the UI should judge a health record at time `now`. */
export type Liveness = "healthy" | "starting" | "stale" | "down" | "stopped";

/** A record is stale after three missed heartbeats. */
export function livenessOf(h: ServiceHealth, now: number): Liveness {
  if (h.status === "stopped") return "stopped";
  if (h.status === "failed" || h.status === "restarting") return "down";
  if (now - Date.parse(h.beatAt) > 3 * h.intervalMs) return "stale";
  return h.status === "starting" ? "starting" : "healthy";
}
