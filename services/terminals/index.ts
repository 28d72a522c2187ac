/** The terminals service: persistent terminals on a per-workspace pty host. */
import type { ServiceDefinition } from "../runtime/service.js";
import { startTerminals, TERMINALS_SERVICE, type TerminalsServiceOptions } from "./service.js";

export { ptyHostPid, stopPtyHost } from "./host-client.js";
export { hostFiles } from "./host-protocol.js";
export { type ReplayPosition, TerminalReplay, terminalRegistry } from "./replay.js";
export { TERMINALS_SERVICE, type TerminalsServiceOptions } from "./service.js";

export function terminalsService(opts: TerminalsServiceOptions): ServiceDefinition {
  return {
    name: TERMINALS_SERVICE,
    durables: [opts.durable ?? TERMINALS_SERVICE],
    start: (ctx) => startTerminals(ctx, opts),
  };
}
