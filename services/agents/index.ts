/** The agents service: agent chat threads over ACP. */
import type { ServiceDefinition } from "../runtime/service.js";
import { AGENTS_SERVICE, type AgentsServiceOptions, startAgents } from "./service.js";

export { detectAgents } from "./pool.js";
export { bubblewrapAvailable, networkIsolationAvailable } from "./sandbox.js";
export {
  AGENTS_SERVICE,
  type AgentsServiceOptions,
  threadRegistry,
  turnLogRegistry,
} from "./service.js";

export function agentsService(opts: AgentsServiceOptions): ServiceDefinition {
  return {
    name: AGENTS_SERVICE,
    durables: [opts.durable ?? AGENTS_SERVICE],
    start: (ctx) => startAgents(ctx, opts),
  };
}
