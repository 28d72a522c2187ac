import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { type RemoteEvent, RemoteEvents, type RemoteSessionView } from "../../shared/remote.js";
import { Buckets, Keys, sessionIdOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(RemoteEvents.map((e) => e.type));

/** The `remote-sessions` view: one value per session, deleted when the session is removed. */
export const remoteSessionsProjection: Projection<RemoteSessionView, RemoteEvent> = {
  name: "remote-sessions",
  bucket: Buckets.remoteSessions,
  canHandle: (e): e is RemoteEvent => types.has(e.type),
  key: (e) => Keys.remoteSession(sessionIdOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<RemoteEvent>) {
    const at = event.at;
    if (event.type === "SessionAdded") {
      return {
        sid: sessionIdOfSubject(subject)!,
        target: event.data.target,
        status: "stopped",
        desired: "stopped",
        options: event.data.options,
        mode: { install: true, upgrade: false, forwardOnly: false },
        starred: false,
        addedAt: at,
        lastUsed: at,
        updatedAt: at,
        tunnelRestarts: 0,
      };
    }
    if (!view) return null;
    const v: RemoteSessionView = { ...view, updatedAt: at };
    switch (event.type) {
      case "SessionConnectRequested": {
        const { error: _e, progress: _p, ...rest } = v;
        return {
          ...rest,
          status: "connecting",
          desired: "running",
          mode: event.data.mode,
          options: event.data.options,
          lastUsed: at,
        };
      }
      case "SessionProgressed":
        return { ...v, progress: event.data.message };
      case "SessionConnected": {
        const d = event.data;
        return {
          ...v,
          // An upgrade happens once: later reconnects (and plus's next start) keep what runs.
          mode: { ...v.mode, upgrade: false },
          os: d.os,
          arch: d.arch,
          remoteVersion: d.remoteVersion,
          localVersion: d.localVersion,
          versionMismatch: d.remoteVersion !== d.localVersion,
          remotePid: d.remotePid,
          remotePort: d.remotePort,
          remoteHome: d.remoteHome,
        };
      }
      case "TunnelStarted": {
        const { error: _e, progress: _p, ...rest } = v;
        return {
          ...rest,
          status: v.desired === "running" ? "running" : v.status,
          localPort: event.data.localPort,
          tunnelPid: event.data.pid,
          tunnelRestarts: event.data.restarts,
          // In use again (plus's start reconnects what was running, a tunnel came back).
          ...(v.desired === "running" && { lastUsed: at }),
        };
      }
      case "TunnelExited": {
        const { tunnelPid: _t, ...rest } = v;
        // Without retryInMs plus itself stopped: its next start reconnects.
        return { ...rest, status: v.desired === "running" ? "reconnecting" : v.status };
      }
      case "SessionFailed": {
        const { ask: _a, ...rest } = v;
        return {
          ...rest,
          status:
            v.desired === "running" && event.data.retryInMs !== undefined
              ? "reconnecting"
              : "failed",
          error: {
            code: event.data.code,
            message: event.data.message,
            ...(event.data.sshOutput !== undefined && { sshOutput: event.data.sshOutput }),
            at,
            ...(event.data.attempt !== undefined && { attempt: event.data.attempt }),
            ...(event.data.maxAttempts !== undefined && { maxAttempts: event.data.maxAttempts }),
            ...(event.data.retryInMs !== undefined && {
              retryAt: new Date(Date.parse(at) + event.data.retryInMs).toISOString(),
            }),
          },
        };
      }
      case "SessionStopRequested":
        return { ...v, status: "stopping", desired: "stopped" };
      case "SessionStopped": {
        const { tunnelPid: _t, remotePid: _r, progress: _p, ...rest } = v;
        return { ...rest, status: "stopped" };
      }
      case "SessionAsked": {
        const { ask, prompt, secret } = event.data;
        return { ...v, ask: { ask, prompt, secret, at } };
      }
      case "SessionAnswered": {
        if (v.ask?.ask !== event.data.ask) return v;
        const { ask: _a, ...rest } = v;
        return rest;
      }
      case "SessionStarred":
        return { ...v, starred: event.data.starred };
      case "SessionRemoveRequested":
        return { ...v, status: "removing", desired: "removed" };
      case "SessionRemoved":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
