/**
 * How the docs service reaches the files of its documents. plus: this machine's disk, through
 * the path resolver (`localFiles`); a container workspace: its fs service, whose worker acts
 * as the workspace user, with the paths seen inside (`workspaceFiles`, workspace-files.ts).
 * The service does nothing on disk except through one of these.
 */
import type { PathResolver } from "../runtime/paths.js";
import { type DiskRead, readText, watchFile, writeTextAtomic } from "./disk.js";

export interface DocFiles {
  /** Where the files are, for the service's ready log. */
  readonly where: Record<string, unknown>;
  /**
   * The canonical path of what a person named (`~/x`, `x`, `/etc/x`): every symlink
   * followed, also for a file that does not exist (yet); refused where the sandbox ends.
   */
  real(input: string): Promise<string>;
  /** A canonical path as people see it (`~/…` inside home). */
  display(path: string): string;
  /**
   * The file as a document's text, or why it cannot be one; `maxBytes` (default: a text
   * document's limit, DOC_MAX_BYTES) is the largest file read.
   */
  read(path: string, maxBytes?: number): Promise<DiskRead>;
  /** Writes the whole text so that no reader sees half of it; the file keeps its mode. */
  write(path: string, text: string): Promise<void>;
  /** Calls `changed` whenever the file may have changed; resolves to what ends the watch. */
  watch(path: string, changed: () => void): Promise<() => void>;
  /** Ends what is still open (the service stops). */
  close(): Promise<void>;
}

/** The files of this machine's disk, reached through `resolver` (plus). */
export function localFiles(resolver: PathResolver): DocFiles {
  return {
    where: { sandbox: resolver.sandbox },
    real: (input) => resolver.real(input),
    display: (path) => resolver.display(path),
    read: (path, maxBytes) => readText(path, maxBytes),
    write: writeTextAtomic,
    watch: async (path, changed) => watchFile(path, changed),
    close: async () => undefined,
  };
}
