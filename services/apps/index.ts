/** The apps service: web apps (Jupyter, code-server, any command) plus starts and supervises. */
import type { ServiceDefinition } from "../runtime/service.js";
import { APPS_SERVICE, type AppsServiceOptions, startApps } from "./service.js";

export type { AppRunner } from "./runner.js";
export { APPS_SERVICE, type AppsServiceOptions, appsRegistry } from "./service.js";

export function appsService(
  opts: AppsServiceOptions & { durable?: string } = {},
): ServiceDefinition {
  const durable = opts.durable ?? APPS_SERVICE;
  return {
    name: APPS_SERVICE,
    durables: [durable],
    start: (ctx) => startApps(ctx, { ...opts, durable }),
  };
}
