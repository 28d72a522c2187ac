import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets, Keys, terminalIdOfSubject, wsidOfSubject } from "../../shared/subjects.js";
import { type TerminalEvent, TerminalEvents, type TerminalView } from "../../shared/terminals.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(TerminalEvents.map((e) => e.type));

/**
 * The `terms` view: one value per terminal, deleted when it is closed. `pid` and `viewers`
 * are live state the service writes beside the projection; evolve keeps them.
 */
export const termsProjection: Projection<TerminalView, TerminalEvent> = {
  name: "terms",
  bucket: Buckets.terms,
  canHandle: (e): e is TerminalEvent => types.has(e.type),
  key: (e) => Keys.terminal(wsidOfSubject(e.subject)!, terminalIdOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<TerminalEvent>) {
    const at = event.at;
    switch (event.type) {
      case "TerminalOpened": {
        const d = event.data;
        return {
          wsid: wsidOfSubject(subject)!,
          tid: terminalIdOfSubject(subject)!,
          title: d.title,
          ...(d.cwd !== undefined && { cwd: d.cwd }),
          ...(d.path !== undefined && { path: d.path }),
          status: "running",
          generation: d.generation,
          cols: d.cols,
          rows: d.rows,
          openedAt: at,
          openedBy: event.actor,
          updatedAt: at,
          ...(view?.pid !== undefined && { pid: view.pid }),
          viewers: view?.viewers ?? [],
        };
      }
      case "TerminalRestarted": {
        if (!view) return null;
        const { exit: _exit, pid: _pid, ...rest } = view;
        return { ...rest, status: "running", generation: event.data.generation, updatedAt: at };
      }
      case "TerminalResized":
        return view && { ...view, cols: event.data.cols, rows: event.data.rows };
      case "TerminalExited": {
        if (!view || view.generation !== event.data.generation) return view;
        const { pid: _pid, ...rest } = view;
        const { code, signal, reason } = event.data;
        return {
          ...rest,
          status: "exited",
          exit: { code, signal, ...(reason !== undefined && { reason }), at },
          updatedAt: at,
        };
      }
      case "TerminalClosed":
        return null;
      case "TerminalCarriedOver": {
        if (view) return view;
        const { generation, title, cwd, path, status, cols, rows, exit, openedAt, openedBy } =
          event.data;
        return {
          wsid: wsidOfSubject(subject)!,
          tid: terminalIdOfSubject(subject)!,
          title,
          ...(cwd !== undefined && { cwd }),
          ...(path !== undefined && { path }),
          status,
          generation,
          cols,
          rows,
          ...(exit !== undefined && { exit }),
          openedAt,
          openedBy,
          updatedAt: at,
          viewers: [],
        };
      }
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
