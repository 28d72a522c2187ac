/** The docs service: collaborative documents as patch streams, kept in step with their files. */
import { homedir } from "node:os";
import { PathResolver } from "../runtime/paths.js";
import type { ServiceDefinition } from "../runtime/service.js";
import { DOCS_SERVICE, type DocsServiceOptions, startDocs } from "./service.js";

export { readText, writeTextAtomic } from "./disk.js";
export { DOCS_SERVICE, type DocsServiceOptions, docsRegistry } from "./service.js";

export function docsService(
  opts: DocsServiceOptions & { home?: string; sandbox?: string } = {},
): ServiceDefinition {
  return {
    name: DOCS_SERVICE,
    durables: [DOCS_SERVICE],
    async start(ctx) {
      const resolver = await PathResolver.create({
        home: opts.home ?? homedir(),
        ...(opts.sandbox !== undefined && { sandbox: opts.sandbox }),
      });
      return startDocs(ctx, resolver, opts);
    },
  };
}
