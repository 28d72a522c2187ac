/**
 * The `docs` view: one value per document. Path, head and length come from the document's
 * events; what the service sees of the file (the sequence written last, whether the file is
 * there) and how far history reaches back are live fields it writes beside them.
 */
import {
  type DocumentEvent,
  DocumentEvents,
  type DocView,
  lengthChange,
  parsePatch,
} from "../../shared/docs.js";
import type { StoredEvent } from "../../shared/envelope.js";
import {
  isNotebookEvent,
  type NotebookPart,
  type NotebookStreamEvent,
  NotebookStreamEvents,
} from "../../shared/notebook-doc.js";
import { Buckets, docIdOfSubject, Keys, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>([...DocumentEvents, ...NotebookStreamEvents].map((e) => e.type));

/** The live fields: the service's, not its events'. */
export type DocFileFacts = Pick<DocView, "saved" | "disk" | "floor">;

/**
 * A notebook's view: its cells counted, its head moved on by every event. An event stored in
 * parts counts at its last part, which carries what the view needs of it (path, cells).
 */
function notebookView(
  view: DocView | null,
  { event, seq, subject }: StoredEvent<NotebookStreamEvent>,
): DocView | null {
  const opened = (path: string, cells: number): DocView => ({
    path,
    doc: docIdOfSubject(subject)!,
    kind: "notebook",
    head: seq,
    length: cells,
    saved: seq,
    disk: "present",
    floor: seq,
    updatedAt: event.at,
  });
  if (event.type === "NotebookOpened")
    return opened(event.data.path, event.data.notebook.cells.length);
  if (event.type === "NotebookPartStored") {
    const p = (event as NotebookPart).data;
    const last = p.part === p.parts - 1;
    if (last && p.of === "NotebookOpened" && p.path !== undefined)
      return opened(p.path, p.cells ?? 0);
    if (!view) return null;
    const more = last && p.of === "CellsInserted" ? (p.cells ?? 0) : 0;
    return { ...view, head: seq, length: view.length + more, updatedAt: event.at };
  }
  if (!view) return null;
  let length = view.length;
  if (event.type === "CellsInserted") length += event.data.cells.length;
  else if (event.type === "CellSplit") length += 1;
  else if (event.type === "CellsMerged") length -= 1;
  else if (event.type === "CellsDeleted") length -= event.data.ids.length;
  return { ...view, head: seq, length: Math.max(0, length), updatedAt: event.at };
}

export const docsProjection: Projection<DocView, DocumentEvent | NotebookStreamEvent> = {
  name: "docs",
  bucket: Buckets.docs,
  canHandle: (e): e is DocumentEvent | NotebookStreamEvent => types.has(e.type),
  key: (e) => Keys.doc(wsidOfSubject(e.subject)!, docIdOfSubject(e.subject)!),
  evolve(view, stored: StoredEvent<DocumentEvent | NotebookStreamEvent>) {
    if (isNotebookEvent(stored.event))
      return notebookView(view, stored as StoredEvent<NotebookStreamEvent>);
    const { event, seq, subject } = stored as StoredEvent<DocumentEvent>;
    switch (event.type) {
      case "DocumentOpened":
        // Made from the file as it was: on disk at this sequence, history starting here.
        return {
          path: event.data.path,
          doc: docIdOfSubject(subject)!,
          head: seq,
          length: event.data.text.length,
          saved: seq,
          disk: "present",
          floor: seq,
          updatedAt: event.at,
        };
      case "DocumentPatched":
        return (
          view && {
            ...view,
            head: seq,
            length: view.length + lengthChange(parsePatch(event.data.patch)),
            updatedAt: event.at,
          }
        );
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
