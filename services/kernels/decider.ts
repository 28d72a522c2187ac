/**
 * The kernel decider: a notebook's kernel is started (each process is a generation), takes
 * executions in order, may die, be restarted, and is shut down. The service records what
 * the process did (ready, died, input asked for, execution finished) as facts.
 */
import type { CommandOf } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type ExecuteCell,
  type InterruptKernel,
  type KernelLifeEvent,
  kernelIdForPath,
  type QueuedExecution,
  type ReplyInput,
  type RestartKernel,
  type ShutdownKernel,
  type StartKernel,
} from "../../shared/kernels.js";

export type KernelCommand =
  | CommandOf<typeof StartKernel>
  | CommandOf<typeof ExecuteCell>
  | CommandOf<typeof InterruptKernel>
  | CommandOf<typeof RestartKernel>
  | CommandOf<typeof ShutdownKernel>
  | CommandOf<typeof ReplyInput>;

/** Events as the decider sees them: type and data. */
export type KernelDecided = {
  [E in KernelLifeEvent as E["type"]]: Pick<E, "type" | "data">;
}[KernelLifeEvent["type"]];

export type KernelAggregate =
  | { status: "none" }
  | {
      status: "running";
      generation: number;
      kernelspec: string;
      queue: QueuedExecution[];
      input?: { executionId: string; password: boolean };
    }
  | { status: "dead"; generation: number; kernelspec: string }
  | { status: "shutdown"; generation: number };

/** What the decider needs to know of a kernelspec (the service looks it up first). */
export type SpecInfo = (name: string) => { displayName: string; language: string };

function aborted(queue: readonly QueuedExecution[]): KernelDecided[] {
  return queue.map((q) => ({
    type: "ExecutionFinished",
    data: { ...q, status: "aborted", executionCount: null },
  }));
}

function notFound(kid: string): CocalcError {
  return new CocalcError("ERR_KERNEL_NOT_FOUND", `no kernel ${kid}: start it first`);
}

/** The decider; `spec` tells the display name and language of a kernelspec. */
export function kernelDecider(
  spec: SpecInfo,
): Decider<KernelCommand, KernelDecided, KernelAggregate> {
  return {
    initialState: () => ({ status: "none" }),

    decide(command, state) {
      const { kid } = command.data;
      switch (command.type) {
        case "StartKernel": {
          const { path, kernelspec } = command.data;
          if (kid !== kernelIdForPath(path)) {
            throw new CocalcError(
              "ERR_KERNEL_INVALID",
              `the kernel of ${path} has id ${kernelIdForPath(path)}, not ${kid}`,
            );
          }
          if (state.status === "running" && state.kernelspec === kernelspec) return [];
          if (state.status === "dead" && state.kernelspec === kernelspec) {
            return [{ type: "KernelRestarted", data: { generation: state.generation + 1 } }];
          }
          const generation = state.status === "none" ? 1 : state.generation + 1;
          return [
            ...(state.status === "running" ? aborted(state.queue) : []),
            {
              type: "KernelStarted",
              data: { generation, path, kernelspec, ...spec(kernelspec) },
            },
          ];
        }
        case "ExecuteCell": {
          if (state.status === "none" || state.status === "shutdown") throw notFound(kid);
          if (state.status === "dead") {
            throw new CocalcError(
              "ERR_KERNEL_NOT_RUNNING",
              `the kernel ${kid} is dead: restart it to run cells`,
            );
          }
          const { executionId, cellId, code } = command.data;
          if (state.queue.some((q) => q.executionId === executionId)) {
            throw new CocalcError(
              "ERR_KERNEL_INVALID",
              `execution ${executionId} is already queued`,
            );
          }
          return [
            {
              type: "ExecutionQueued",
              data: { generation: state.generation, executionId, cellId, code },
            },
          ];
        }
        case "InterruptKernel": {
          if (state.status === "none" || state.status === "shutdown") throw notFound(kid);
          if (state.status === "dead") return [];
          return [{ type: "KernelInterrupted", data: { generation: state.generation } }];
        }
        case "RestartKernel": {
          if (state.status === "none" || state.status === "shutdown") throw notFound(kid);
          return [
            ...(state.status === "running" ? aborted(state.queue) : []),
            { type: "KernelRestarted", data: { generation: state.generation + 1 } },
          ];
        }
        case "ShutdownKernel": {
          if (state.status === "none" || state.status === "shutdown") return [];
          return [
            ...(state.status === "running" ? aborted(state.queue) : []),
            { type: "KernelShutDown", data: { generation: state.generation } },
          ];
        }
        case "ReplyInput": {
          const { executionId, value } = command.data;
          if (state.status !== "running" || state.input?.executionId !== executionId) {
            throw new CocalcError(
              "ERR_KERNEL_INVALID",
              `execution ${executionId} does not wait for input`,
            );
          }
          return [
            {
              type: "InputReplied",
              data: state.input.password ? { executionId, hidden: true } : { executionId, value },
            },
          ];
        }
        default: {
          const never: never = command;
          throw new Error(`unhandled command ${(never as { type: string }).type}`);
        }
      }
    },

    evolve(state, event) {
      switch (event.type) {
        case "KernelStarted":
          return {
            status: "running",
            generation: event.data.generation,
            kernelspec: event.data.kernelspec,
            queue: [],
          };
        case "KernelRestarted":
          return state.status === "running" || state.status === "dead"
            ? {
                status: "running",
                generation: event.data.generation,
                kernelspec: state.kernelspec,
                queue: [],
              }
            : state;
        case "KernelDied":
          return state.status === "running" && state.generation === event.data.generation
            ? { status: "dead", generation: state.generation, kernelspec: state.kernelspec }
            : state;
        case "KernelShutDown":
          return { status: "shutdown", generation: event.data.generation };
        case "ExecutionQueued":
          return state.status === "running" && state.generation === event.data.generation
            ? {
                ...state,
                queue: [
                  ...state.queue,
                  { executionId: event.data.executionId, cellId: event.data.cellId },
                ],
              }
            : state;
        case "ExecutionFinished": {
          if (state.status !== "running") return state;
          const { input, ...rest } = state;
          const queue = state.queue.filter((q) => q.executionId !== event.data.executionId);
          return input && input.executionId !== event.data.executionId
            ? { ...rest, queue, input }
            : { ...rest, queue };
        }
        case "InputRequested":
          return state.status === "running"
            ? {
                ...state,
                input: { executionId: event.data.executionId, password: event.data.password },
              }
            : state;
        case "InputReplied": {
          if (state.status !== "running") return state;
          const { input: _input, ...rest } = state;
          return rest;
        }
        case "KernelReady":
        case "KernelInterrupted":
          return state;
        default: {
          const never: never = event;
          throw new Error(`unhandled event ${(never as { type: string }).type}`);
        }
      }
    },
  };
}
