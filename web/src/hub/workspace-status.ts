/**
 * What the dashboard says about a workspace, in words, with what to do: from the hub's record
 * (placement), the hub's copy of its host's view (status, step, last error) and its host's
 * state. Pure.
 */
import type { HubWorkspaceView } from "../../../shared/hub-workspaces.js";
import type { HostView, WorkspaceView } from "../../../shared/launchpad.js";

export type Tone = "good" | "busy" | "idle" | "bad";

export interface WorkspaceStatus {
  /** A word or two: Running, Stopped, Starting… */
  label: string;
  tone: Tone;
  /** What is going on and what to do, when there is something to say. */
  detail?: string;
  /** Which actions make sense now. */
  canStart: boolean;
  canStop: boolean;
  canRestore: boolean;
}

const none = { canStart: false, canStop: false, canRestore: false };

export function workspaceStatus(
  hub: HubWorkspaceView | undefined,
  view: WorkspaceView | undefined,
  host: HostView | undefined,
): WorkspaceStatus {
  if (!hub) return { label: "Loading", tone: "idle", ...none };
  if (hub.placement === "placing")
    return {
      label: "Placing",
      tone: "busy",
      detail: "The hub is finding a host for it (an image may be copied there first).",
      ...none,
    };
  if (hub.placement === "failed")
    return {
      label: "Not placed",
      tone: "bad",
      detail: `No host could take it: ${hub.error?.message ?? "no reason given"}. Delete it and create it again, perhaps smaller or with another image.`,
      ...none,
    };
  if (host && host.status !== "ready" && host.status !== "starting")
    return {
      label: "Host offline",
      tone: "bad",
      detail: `Its host ${hub.hostId} is ${host.status}${host.seenAt ? ` (last heard ${new Date(host.seenAt).toLocaleString()})` : ""}. It comes back by itself when the host does; nothing is lost.`,
      ...none,
    };
  if (!view)
    return {
      label: "Waiting",
      tone: "busy",
      detail: `Waiting for its host ${hub.hostId} to report it.`,
      ...none,
    };
  const step = view.step ? ` (${view.step})` : "";
  switch (view.status) {
    case "running":
      return { label: "Running", tone: "good", canStart: false, canStop: true, canRestore: false };
    case "stopped": {
      const why = view.ended
        ? ` It ended by itself: ${view.ended.reason}${view.ended.oom ? " (out of memory)" : ""}.`
        : view.lastError
          ? ` The last ${view.lastError.action} failed: ${view.lastError.message}`
          : "";
      return {
        label: "Stopped",
        tone: view.ended || view.lastError ? "bad" : "idle",
        detail: `Start it to use it.${why}`,
        canStart: true,
        canStop: false,
        canRestore: true,
      };
    }
    case "provisioning":
      return { label: "Creating", tone: "busy", detail: `Its disk is being made${step}.`, ...none };
    case "starting":
      return { label: "Starting", tone: "busy", detail: `Starting${step}.`, ...none };
    case "stopping":
      return { label: "Stopping", tone: "busy", detail: `Stopping${step}.`, ...none };
    case "deleting":
      return { label: "Deleting", tone: "busy", ...none };
    default:
      return {
        label: view.status,
        tone: "bad",
        detail: view.lastError?.message,
        canStart: true,
        canStop: true,
        canRestore: false,
      };
  }
}

/** `512 MB`, `2.0 GB`. */
export function formatMb(mb: number | undefined): string {
  if (mb === undefined) return "?";
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}
