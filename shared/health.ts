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
  | { status: "ok"; at: string; losses?: StoreLoss[] }
  | {
      status: "full";
      at: string;
      losses?: StoreLoss[];
      /** Free bytes on the store's file system (for an unprivileged user). */
      freeBytes: number;
      /** The directory whose file system is full. */
      path: string;
      /** Since when (ISO time). */
      since: string;
      /** What nats-server said, when it said something (its log line). */
      serverSaid?: string;
    };

/**
 * Events a durable had seen that its stream no longer has: the store was damaged (a truncated
 * block file) or put back from an older copy. `from`..`to` are the stream sequences lost.
 */
export interface StoreLoss {
  /** "lost": gone from the stream's end; "unreadable": inside it, damaged (default "lost"). */
  kind?: "lost" | "unreadable";
  stream: string;
  /** The durable that found it ("" for the scrub of the stream's messages). */
  durable: string;
  /** The stream's last sequence when the loss was found. */
  lastSeq: number;
  from: number;
  to: number;
  /** When it was found (ISO time). */
  at: string;
}

/** One loss in words, as the page and the log say it. */
export function storeLossSummary(l: StoreLoss): string {
  const n = l.to - l.from + 1;
  const what = l.kind === "unreadable" ? "unreadable" : "lost";
  const seqs = n === 1 ? `sequence ${l.from}` : `sequences ${l.from}..${l.to}`;
  return `${n} event${n === 1 ? "" : "s"} of ${l.stream} ${what} (${seqs})`;
}

/** What a full store stops, in the product's words (the page and the log say it). */
export const STORE_FULL_AFFECTS =
  "nothing new is saved: commands are refused, edits, terminal output and agents' turns are not kept";

/**
 * The state as a hosted workspace's page is shown it: where the disk is in words (`where`,
 * never the host's path) and no losses (a host's durables are every workspace's).
 */
export function storeStateFor(s: StoreState, where: string): StoreState {
  return s.status === "full"
    ? { status: "full", at: s.at, since: s.since, freeBytes: s.freeBytes, path: where }
    : { status: "ok", at: s.at };
}

/** "disk full: 3 MB free on /path": the one line a user reads first. */
export function storeFullSummary(s: Extract<StoreState, { status: "full" }>): string {
  const mb = s.freeBytes / (1024 * 1024);
  const shown = mb >= 10 ? Math.round(mb).toString() : mb.toFixed(1);
  return `disk full: ${shown} MB free on ${s.path}`;
}
