import type { StoredEvent } from "../../shared/envelope.js";
import {
  type ForwardEvent,
  ForwardEvents,
  type ForwardView,
  sessionIdOfForward,
} from "../../shared/forwards.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets, forwardIdOfSubject, Keys } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(ForwardEvents.map((e) => e.type));

/** The `port-forwards` view: settings, status and restart count of every forward. */
export const portForwardsProjection: Projection<ForwardView, ForwardEvent> = {
  name: "port-forwards",
  bucket: Buckets.portForwards,
  canHandle: (e): e is ForwardEvent => types.has(e.type),
  key: (e) => Keys.portForward(forwardIdOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<ForwardEvent>) {
    const at = event.at;
    if (event.type === "ForwardAdded") {
      const forward = forwardIdOfSubject(subject)!;
      return {
        ...event.data,
        forward,
        sid: sessionIdOfForward(forward)!,
        status: "stopped",
        restarts: 0,
        createdAt: at,
        updatedAt: at,
      };
    }
    if (!view) return null;
    const { retryAt: _r, ...v } = { ...view, updatedAt: at };
    switch (event.type) {
      case "ForwardRemoved":
        return null;
      case "ForwardStarted":
        return { ...v, status: "starting", pid: event.data.pid, restarts: event.data.restarts };
      case "ForwardUp": {
        const { error: _e, ...rest } = v;
        return { ...rest, status: "up", pid: event.data.pid, restarts: event.data.restarts };
      }
      case "ForwardExited": {
        const { pid: _p, ...rest } = v;
        const d = event.data;
        const error = d.error
          ? { code: d.error.code, message: d.error.message, at }
          : {
              code: "ERR_FORWARD_SSH",
              message: `ssh ${d.signal ? `was killed by ${d.signal}` : `exited with code ${d.code}`}`,
              at,
            };
        return d.retryInMs !== undefined
          ? {
              ...rest,
              status: "restarting",
              error,
              retryAt: new Date(Date.parse(at) + d.retryInMs).toISOString(),
            }
          : { ...rest, status: "failed", error };
      }
      case "ForwardStopped": {
        const { pid: _p, ...rest } = v;
        return { ...rest, status: "stopped" };
      }
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
