/** The agents service: agent chat threads over ACP. */
import type { ServiceDefinition } from "../runtime/service.js";
import type { AgentsServiceOptions } from "./options.js";
import { startAgents } from "./service.js";
import { AGENTS_SERVICE } from "./threads.js";

export type { AgentsServiceOptions } from "./options.js";
export { detectAgents } from "./pool.js";
export { bubblewrapAvailable, networkIsolationAvailable } from "./sandbox.js";
export { AGENTS_SERVICE, threadRegistry } from "./threads.js";
export { turnLogRegistry } from "./turn-log.js";

export function agentsService(opts: AgentsServiceOptions): ServiceDefinition {
  return {
    name: AGENTS_SERVICE,
    durables: [opts.durable ?? AGENTS_SERVICE],
    start: (ctx) => startAgents(ctx, opts),
  };
}
