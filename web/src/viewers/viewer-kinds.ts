/** Which viewer shows a file instead of the text editor, by its extension. */
import { extensionOf } from "../../../shared/paths.js";

export type ViewerKind = "pdf" | "table";

const KINDS: Record<string, ViewerKind> = {
  pdf: "pdf",
  csv: "table",
  tsv: "table",
};

export function viewerOf(path: string): ViewerKind | undefined {
  const ext = extensionOf(path);
  return Object.hasOwn(KINDS, ext) ? KINDS[ext] : undefined;
}
