/** One fs request, answered by the file operations (in the service, or in its worker). */
import type { FsRequest } from "../../shared/files.js";
import type { FileOperations } from "./operations.js";
import { replaceInFile } from "./search.js";

export async function answer(ops: FileOperations, r: FsRequest): Promise<unknown> {
  switch (r.op) {
    case "info":
      return ops.info();
    case "list":
      return ops.list(r);
    case "stat":
      return ops.stat(r.path);
    case "resolve":
      return ops.resolve(r.path);
    case "exists":
      return ops.exists(r);
    case "read":
      return ops.read(r);
    case "write":
      return ops.write(r);
    case "mkdir":
      return ops.mkdir(r);
    case "rename":
      return ops.rename(r.from, r.to);
    case "move":
      return ops.move(r);
    case "copy":
      return ops.copy(r);
    case "delete":
      return ops.delete(r);
    case "watch":
      return ops.watch(r);
    case "unwatch":
      return ops.unwatch(r);
    case "search":
      return ops.searches.search(r);
    case "search-more":
      return ops.searches.more(r);
    case "search-stop":
      return ops.searches.stopSearch(r);
    case "find-files":
      return ops.searches.findFiles(r);
    case "replace":
      return replaceInFile(ops, r);
    default: {
      const never: never = r;
      throw new Error(`unhandled fs op ${(never as { op: string }).op}`);
    }
  }
}
