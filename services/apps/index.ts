/** The apps service: web apps (Jupyter, code-server, any command) plus starts and supervises. */
import type { ServiceDefinition } from "../runtime/service.js";
import { APPS_SERVICE, type AppsServiceOptions, startApps } from "./service.js";

export { APPS_SERVICE, type AppsServiceOptions, appsRegistry } from "./service.js";

export function appsService(opts: AppsServiceOptions = {}): ServiceDefinition {
  return {
    name: APPS_SERVICE,
    durables: [APPS_SERVICE],
    start: (ctx) => startApps(ctx, opts),
  };
}
