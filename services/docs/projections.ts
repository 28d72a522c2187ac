/** The `docs` view of a document, from what the service knows of it. */
import type { DocView } from "../../shared/docs.js";

export interface DocFacts {
  path: string;
  doc: string;
  head: number;
  length: number;
  saved: number;
  /** The text on disk as last seen; undefined: the file is missing. */
  disk: string | undefined;
  floor: number;
}

export function docView(f: DocFacts, now: Date): DocView {
  return {
    path: f.path,
    doc: f.doc,
    head: f.head,
    length: f.length,
    saved: f.saved,
    disk: f.disk === undefined ? "deleted" : "present",
    floor: f.floor,
    updatedAt: now.toISOString(),
  };
}
