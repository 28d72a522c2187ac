import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets, Keys, wsidOfSubject } from "../../shared/subjects.js";
import {
  applySettingsChange,
  type SettingsView,
  type WorkspaceEvent,
  WorkspaceEvents,
} from "../../shared/workspace.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(WorkspaceEvents.map((e) => e.type));

/** The `settings` view: one value per workspace. */
export const settingsProjection: Projection<SettingsView, WorkspaceEvent> = {
  name: "settings",
  bucket: Buckets.settings,
  canHandle: (e): e is WorkspaceEvent => types.has(e.type),
  key: (e) => Keys.settings(wsidOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<WorkspaceEvent>) {
    switch (event.type) {
      case "WorkspaceCreated":
        return {
          wsid: wsidOfSubject(subject)!,
          settings: event.data.settings,
          updatedAt: event.at,
          updatedBy: event.actor,
        };
      case "SettingsChanged":
        if (!view) return null;
        return {
          ...view,
          settings: applySettingsChange(view.settings, event.data.change),
          updatedAt: event.at,
          updatedBy: event.actor,
        };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
