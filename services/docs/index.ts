/** The docs service: collaborative documents as patch streams, kept in step with their files. */
import { homedir } from "node:os";
import { PathResolver } from "../runtime/paths.js";
import type { ServiceDefinition } from "../runtime/service.js";
import { type DocFiles, localFiles } from "./files.js";
import { kernelOutputsDurable } from "./kernel-outputs.js";
import { DOCS_SERVICE, type DocsServiceOptions, startDocs } from "./service.js";
import { workspaceFiles } from "./workspace-files.js";

export { readText, writeTextAtomic } from "./disk.js";
export type { DocFiles } from "./files.js";
export { DOCS_SERVICE, type DocsServiceOptions, docsRegistry } from "./service.js";

export function docsService(
  opts: DocsServiceOptions & {
    home?: string;
    sandbox?: string;
    /**
     * A container workspace (launchpad): every file access goes through the workspace's fs
     * service, as the workspace user, with the paths inside the container (`home` is its home
     * there; `sandbox` is ignored, the fs service's applies).
     */
    container?: { home: string };
  } = {},
): ServiceDefinition {
  const durable = opts.durable ?? DOCS_SERVICE;
  return {
    name: DOCS_SERVICE,
    durables: [durable, kernelOutputsDurable(durable)],
    async start(ctx) {
      let files: DocFiles;
      if (opts.container) {
        files = workspaceFiles({
          nc: ctx.nc,
          wsid: ctx.wsid,
          home: opts.container.home,
          log: ctx.log,
        });
      } else {
        const resolver = await PathResolver.create({
          home: opts.home ?? homedir(),
          ...(opts.sandbox !== undefined && { sandbox: opts.sandbox }),
        });
        files = localFiles(resolver);
      }
      try {
        return await startDocs(ctx, files, opts);
      } catch (err) {
        await files.close();
        throw err;
      }
    },
  };
}
