/** The forwards service: maintained port forwards of remote sessions. */
import type { ServiceDefinition } from "../runtime/service.js";
import { FORWARDS_SERVICE, type ForwardsServiceOptions, startForwards } from "./service.js";

export { forwardArgv } from "./process.js";
export {
  checkPortFree,
  FORWARDS_SERVICE,
  type ForwardsServiceOptions,
  forwardsRegistry,
} from "./service.js";

export function forwardsService(opts: ForwardsServiceOptions = {}): ServiceDefinition {
  return {
    name: FORWARDS_SERVICE,
    durables: [FORWARDS_SERVICE],
    start: (ctx) => startForwards(ctx, opts),
  };
}
