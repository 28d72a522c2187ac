import type { StoredEvent } from "../../shared/envelope.js";
import {
  type HostEvent,
  HostEvents,
  type ImageView,
  type MountEvent,
  MountEvents,
  type MountView,
  type WorkspaceHostEvent,
  WorkspaceHostEvents,
  type WorkspaceView,
} from "../../shared/launchpad.js";
import { Buckets, Keys, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const wsTypes = new Set<string>(WorkspaceHostEvents.map((e) => e.type));
const mountTypes = new Set<string>(MountEvents.map((e) => e.type));
const imageTypes = new Set<string>(
  HostEvents.filter((e) => e.type.startsWith("Image")).map((e) => e.type),
);

/** `mount.<hostId>.<mountId>` and `host.<hostId>.image.<name>`: the tokens after the first. */
const tokens = (subject: string) => subject.split(".").slice(1);

/** The `workspaces` view: status, image, quota, last error and snapshots of each workspace. */
export const workspacesProjection: Projection<WorkspaceView, WorkspaceHostEvent> = {
  name: "workspaces",
  bucket: Buckets.workspaces,
  canHandle: (e): e is WorkspaceHostEvent => wsTypes.has(e.type),
  key: (e) => Keys.workspace(wsidOfSubject(e.subject)!),
  evolve(view, { event, subject }: StoredEvent<WorkspaceHostEvent>) {
    const at = event.at;
    if (event.type === "WorkspaceProvisioning") {
      return {
        wsid: wsidOfSubject(subject)!,
        hostId: event.data.hostId,
        status: "provisioning",
        image: event.data.image,
        quota: event.data.quota,
        ...(event.data.account !== undefined && { account: event.data.account }),
        network: event.data.network ?? "default",
        snapshots: [],
        updatedAt: at,
      };
    }
    if (!view) return null;
    const v: WorkspaceView = { ...view, updatedAt: at };
    switch (event.type) {
      case "WorkspaceStepDone":
        return { ...v, step: event.data.step };
      case "WorkspaceProvisioned":
        return { ...v, status: "stopped" };
      case "WorkspaceStarting": {
        const { ended: _e, ...rest } = v;
        return { ...rest, status: "starting" };
      }
      case "WorkspaceRunning":
        return { ...v, status: "running", container: event.data.container };
      case "WorkspaceStopping":
        return { ...v, status: "stopping" };
      case "WorkspaceStopped": {
        const { container: _c, ...rest } = v;
        const { reason, exitCode } = event.data;
        return {
          ...rest,
          status: "stopped",
          ...(reason !== undefined && {
            ended: { reason, ...(exitCode !== undefined && { exitCode }), at },
          }),
        };
      }
      case "WorkspaceFailed": {
        const { container: _c, ...rest } = v;
        const { error, exitCode, oom } = event.data;
        return {
          ...rest,
          status: "stopped",
          lastError: { action: "run", ...error, at },
          ended: {
            reason: error.message,
            ...(exitCode !== undefined && { exitCode }),
            ...(oom && { oom }),
            at,
          },
        };
      }
      case "WorkspaceDeleting":
        return { ...v, status: "deleting" };
      case "WorkspaceDeleted":
        return null;
      case "WorkspaceActionFailed": {
        const { container: _c, ...rest } = v;
        if (event.data.status === "deleted") return null;
        return {
          ...rest,
          status: event.data.status,
          lastError: { action: event.data.action, ...event.data.error, at },
        };
      }
      case "WorkspaceImageChanged":
        return { ...v, image: event.data.image };
      case "WorkspaceQuotaChanged":
        return { ...v, quota: event.data.quota };
      case "SnapshotCreated":
        return { ...v, snapshots: [...v.snapshots, { name: event.data.name, at }] };
      case "SnapshotDeleted":
        return { ...v, snapshots: v.snapshots.filter((s) => s.name !== event.data.name) };
      case "WorkspaceRestored":
        return v;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

/** The `mounts` view: who holds each mount of each host. */
export const mountsProjection: Projection<MountView, MountEvent> = {
  name: "mounts",
  bucket: Buckets.mounts,
  canHandle: (e): e is MountEvent => mountTypes.has(e.type),
  key: (e) => {
    const [hostId = "", mountId = ""] = tokens(e.subject);
    return Keys.mount(hostId, mountId);
  },
  evolve(view, { event, subject }: StoredEvent<MountEvent>) {
    const [hostId = "", mountId = ""] = tokens(subject);
    switch (event.type) {
      case "MountReferenced": {
        const holders = view?.holders ?? [];
        return {
          hostId,
          mountId,
          target: event.data.target,
          lower: event.data.lower,
          upper: event.data.upper,
          holders: holders.includes(event.data.holder) ? holders : [...holders, event.data.holder],
          updatedAt: event.at,
        };
      }
      case "MountReleased": {
        if (!view) return null;
        const holders = view.holders.filter((h) => h !== event.data.holder);
        return holders.length === 0 ? null : { ...view, holders, updatedAt: event.at };
      }
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

type ImageEvent = Extract<HostEvent, { type: "ImageAdded" | "ImageRemoved" }>;

/** The `images` view: the rootfs images of each host. */
export const imagesProjection: Projection<ImageView, ImageEvent> = {
  name: "images",
  bucket: Buckets.images,
  canHandle: (e): e is ImageEvent => imageTypes.has(e.type),
  key: (e) => {
    const [hostId = "", , name = ""] = tokens(e.subject);
    return Keys.image(hostId, name);
  },
  evolve(_view, { event, subject }: StoredEvent<ImageEvent>) {
    const [hostId = ""] = tokens(subject);
    switch (event.type) {
      case "ImageAdded":
        return {
          hostId,
          name: event.data.name,
          description: event.data.description,
          sizeMb: event.data.sizeMb,
          addedAt: event.at,
        };
      case "ImageRemoved":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
