import type { StoredEvent } from "../../shared/envelope.js";
import { type KernelLifeEvent, KernelLifeEvents, type KernelView } from "../../shared/kernels.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets, Keys, kernelIdOfSubject, wsidOfSubject } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(KernelLifeEvents.map((e) => e.type));

/** Busy while an execution is queued, once the kernel is up; starting states stay until then. */
function settled(view: KernelView): KernelView {
  if (view.state !== "idle" && view.state !== "busy") return view;
  return { ...view, state: view.queue.length > 0 ? "busy" : "idle" };
}

/**
 * The `kernels` view: one value per notebook kernel, deleted when it is shut down. Its state
 * is what the process does: starting or restarting until it answered, then idle or busy
 * (an execution queued), or dead.
 */
export const kernelsProjection: Projection<KernelView, KernelLifeEvent> = {
  name: "kernels",
  bucket: Buckets.kernels,
  canHandle: (e): e is KernelLifeEvent => types.has(e.type),
  key: (e) => Keys.kernel(wsidOfSubject(e.subject)!, kernelIdOfSubject(e.subject)!),
  rejected: withRejection,
  evolve(view, { event, subject }: StoredEvent<KernelLifeEvent>) {
    const at = event.at;
    switch (event.type) {
      case "KernelStarted": {
        const d = event.data;
        return {
          wsid: wsidOfSubject(subject)!,
          kid: kernelIdOfSubject(subject)!,
          path: d.path,
          kernelspec: d.kernelspec,
          displayName: d.displayName,
          language: d.language,
          generation: d.generation,
          state: "starting",
          queue: [],
          startedAt: at,
          startedBy: event.actor,
          updatedAt: at,
        };
      }
      case "KernelRestarted": {
        if (!view) return null;
        const { died: _d, pid: _p, input: _i, implementation: _m, ...rest } = view;
        return {
          ...rest,
          generation: event.data.generation,
          state: "restarting",
          queue: [],
          updatedAt: at,
        };
      }
      case "KernelReady": {
        if (!view || view.generation !== event.data.generation) return view;
        return settled({
          ...view,
          state: "idle",
          pid: event.data.pid,
          ...(event.data.implementation !== undefined && {
            implementation: event.data.implementation,
          }),
          updatedAt: at,
        });
      }
      case "KernelDied": {
        if (!view || view.generation !== event.data.generation) return view;
        const { pid: _p, input: _i, ...rest } = view;
        const { code, signal, reason, stderr } = event.data;
        return {
          ...rest,
          state: "dead",
          queue: [],
          died: { code, signal, reason, stderr, at },
          updatedAt: at,
        };
      }
      case "KernelShutDown":
        return null;
      case "ExecutionQueued": {
        if (!view || view.generation !== event.data.generation) return view;
        const { executionId, cellId } = event.data;
        return settled({ ...view, queue: [...view.queue, { executionId, cellId }], updatedAt: at });
      }
      case "ExecutionFinished": {
        if (!view) return view;
        const { input, ...rest } = view;
        const queue = view.queue.filter((q) => q.executionId !== event.data.executionId);
        return settled({
          ...rest,
          ...(input && input.executionId !== event.data.executionId && { input }),
          queue,
          updatedAt: at,
        });
      }
      case "InputRequested": {
        if (!view) return view;
        const { executionId, cellId, prompt, password } = event.data;
        return { ...view, input: { executionId, cellId, prompt, password }, updatedAt: at };
      }
      case "InputReplied": {
        if (!view) return view;
        const { input: _i, ...rest } = view;
        return { ...rest, updatedAt: at };
      }
      case "KernelInterrupted":
        return view;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
