/** How the agents service is set up: where its data lives, its limits, where agents run. */
import type { ContainerExec, ContainerGet } from "./place.js";

export interface AgentsServiceOptions {
  /** Where the 0600 file of API keys lives. */
  dataDir: string;
  /**
   * The API keys of a turn submitted by `by` (a launchpad account; "user" without one),
   * instead of the 0600 file: a joined launchpad host asks the hub. Keys are then set at the
   * hub, not through this service.
   */
  turnKeys?: (by: string) => Promise<Record<string, string>>;
  /** The home directory (default: the user's). */
  home?: string;
  /** More places to look for installed agents (e.g. the package's node_modules/.bin). */
  binDirs?: string[];
  /** Agent processes at most (default 8). */
  maxProcesses?: number;
  /** An idle agent process is stopped after this long (default 10 min). */
  idleMs?: number;
  /** Time for initialize (default 30 s) and for session/new or load (default 60 s). */
  initTimeoutMs?: number;
  sessionTimeoutMs?: number;
  permissionTimeoutMs?: number;
  /** After a stop, the agent has this long to end its turn before it is killed (default 1.5 s). */
  cancelGraceMs?: number;
  /**
   * A container workspace (launchpad): agents and their commands run inside it through
   * `exec`, as the workspace user; files go through the workspace's fs service; paths (the
   * working directory, `home`) are the ones inside the container. `get` opens a localhost
   * address in the container's network (an agent's sign-in callback).
   */
  container?: { exec: ContainerExec; home: string; get?: ContainerGet };
  /** Rewrites error answers' and failed turns' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  /**
   * Files outside the data directory that hold plus's secrets (the connection-info and token
   * files): protected from agents outside full access like the data directory.
   */
  secretFiles?: readonly string[];
  /**
   * Schedules are looked at this often besides their own timers (default 30 s): a clock
   * that jumped, a machine that slept.
   */
  scheduleCheckMs?: number;
  /**
   * The durable consumer's name (default: the service's). Where one NATS serves many
   * workspaces (a launchpad host), each workspace's service needs its own.
   */
  durable?: string;
}
