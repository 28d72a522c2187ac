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
import { isNotebookEvent, type NotebookEvent, NotebookEvents } from "../../shared/notebook-doc.js";
import { Buckets, docIdOfSubject, Keys, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>([...DocumentEvents, ...NotebookEvents].map((e) => e.type));

/** The live fields: the service's, not its events'. */
export type DocFileFacts = Pick<DocView, "saved" | "disk" | "floor">;

/** A notebook's view: its cells counted, its head moved on by every event. */
function notebookView(
  view: DocView | null,
  { event, seq, subject }: StoredEvent<NotebookEvent>,
): DocView | null {
  if (event.type === "NotebookOpened")
    return {
      path: event.data.path,
      doc: docIdOfSubject(subject)!,
      kind: "notebook",
      head: seq,
      length: event.data.notebook.cells.length,
      saved: seq,
      disk: "present",
      floor: seq,
      updatedAt: event.at,
    };
  if (!view) return null;
  let length = view.length;
  if (event.type === "CellsInserted") length += event.data.cells.length;
  else if (event.type === "CellSplit") length += 1;
  else if (event.type === "CellsMerged") length -= 1;
  else if (event.type === "CellsDeleted") length -= event.data.ids.length;
  return { ...view, head: seq, length: Math.max(0, length), updatedAt: event.at };
}

export const docsProjection: Projection<DocView, DocumentEvent | NotebookEvent> = {
  name: "docs",
  bucket: Buckets.docs,
  canHandle: (e): e is DocumentEvent | NotebookEvent => types.has(e.type),
  key: (e) => Keys.doc(wsidOfSubject(e.subject)!, docIdOfSubject(e.subject)!),
  evolve(view, stored: StoredEvent<DocumentEvent | NotebookEvent>) {
    if (isNotebookEvent(stored.event))
      return notebookView(view, stored as StoredEvent<NotebookEvent>);
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
