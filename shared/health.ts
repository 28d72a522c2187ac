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

/**
 * Whether the event store (nats-server's JetStream) can take new events. Published by the
 * process that runs nats-server on the workspace's `store` feed (core NATS: it still works
 * when the disk is full).
 */
export type StoreState =
  | { status: "ok"; at: string }
  | {
      status: "full";
      at: string;
      /** Free bytes on the store's file system (for an unprivileged user). */
      freeBytes: number;
      /** The directory whose file system is full. */
      path: string;
      /** Since when (ISO time). */
      since: string;
      /** What nats-server said, when it said something (its log line). */
      serverSaid?: string;
    };

/** What a full store stops, in the product's words (the page and the log say it). */
export const STORE_FULL_AFFECTS =
  "nothing new is saved: commands are refused, edits, terminal output and agents' turns are not kept";

/** "disk full: 3 MB free on /path": the one line a user reads first. */
export function storeFullSummary(s: Extract<StoreState, { status: "full" }>): string {
  const mb = s.freeBytes / (1024 * 1024);
  const shown = mb >= 10 ? Math.round(mb).toString() : mb.toFixed(1);
  return `disk full: ${shown} MB free on ${s.path}`;
}
