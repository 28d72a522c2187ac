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
import { Buckets, docIdOfSubject, Keys, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(DocumentEvents.map((e) => e.type));

/** The live fields: the service's, not its events'. */
export type DocFileFacts = Pick<DocView, "saved" | "disk" | "floor">;

export const docsProjection: Projection<DocView, DocumentEvent> = {
  name: "docs",
  bucket: Buckets.docs,
  canHandle: (e): e is DocumentEvent => types.has(e.type),
  key: (e) => Keys.doc(wsidOfSubject(e.subject)!, docIdOfSubject(e.subject)!),
  evolve(view, { event, seq, subject }: StoredEvent<DocumentEvent>) {
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
