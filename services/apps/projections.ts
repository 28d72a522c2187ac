import { type AppEvent, AppEvents, type AppView, appPath } from "../../shared/apps.js";
import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { appIdOfSubject, Buckets, Keys, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(AppEvents.map((e) => e.type));

/** The `apps` view (key `<wsid>.<app>`): settings, status, pid and exit code of every app. */
export const appsProjection: Projection<AppView, AppEvent> = {
  name: "apps",
  bucket: Buckets.apps,
  canHandle: (e): e is AppEvent => types.has(e.type),
  key: (e) => Keys.app(wsidOfSubject(e.subject)!, appIdOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<AppEvent>) {
    const at = event.at;
    if (event.type === "AppStarted") {
      const d = event.data;
      return {
        ...d,
        app: appIdOfSubject(subject)!,
        status: "starting",
        path: appPath(d.mount, d.port),
        startedAt: at,
        updatedAt: at,
      };
    }
    if (!view) return null;
    const { pid: _p, exitCode: _c, signal: _s, error: _e, ...rest } = { ...view, updatedAt: at };
    switch (event.type) {
      case "AppRemoved":
        return null;
      case "AppStopped":
        return view.status === "starting" || view.status === "running"
          ? { ...rest, status: "stopped" }
          : view;
      case "AppSpawned":
        return view.status === "starting"
          ? { ...rest, status: "starting", pid: event.data.pid }
          : view;
      case "AppRunning":
        return view.status === "starting"
          ? { ...rest, status: "running", pid: event.data.pid }
          : view;
      case "AppExited":
        return view.status === "starting" || view.status === "running"
          ? { ...rest, status: "exited", exitCode: event.data.code, signal: event.data.signal }
          : view;
      case "AppFailed":
        return { ...rest, status: "failed", error: event.data };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
