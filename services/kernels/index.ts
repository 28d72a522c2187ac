/** The kernels service: Jupyter kernels of notebooks, their executions and outputs as events. */
import type { ServiceDefinition } from "../runtime/service.js";
import { KERNELS_SERVICE, type KernelsServiceOptions, startKernels } from "./service.js";

export type { KernelContainer } from "./container.js";
export { listKernelspecs } from "./kernelspecs.js";
export { stopKernels } from "./launcher.js";
export { KERNELS_SERVICE, type KernelsServiceOptions, kernelRegistry } from "./service.js";

export function kernelsService(opts: KernelsServiceOptions): ServiceDefinition {
  return {
    name: KERNELS_SERVICE,
    durables: [opts.durable ?? KERNELS_SERVICE],
    start: (ctx) => startKernels(ctx, opts),
  };
}
