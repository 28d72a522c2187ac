/**
 * A kernel's outputs into its notebook, whether a page is open or not: a durable consumer of
 * the workspace's kernel outputs (WS_KERNEL `ws.<wsid>.kernel.*.out`, as the kernels service
 * records them) turns each into a change of the notebook document, so every tab replays it,
 * its history has it, and the `.ipynb` on disk is written with it.
 *
 * - ExecutionStarted: the cell's outputs are cleared and its count set (`In [n]`).
 * - OutputAdded: appended (OutputsAppended: only the new output travels, a stream continues
 *   the stream before it), so a cell that prints for an hour costs what it printed, not the
 *   square of it. A cell's outputs are kept to OUTPUTS_CAP: past it the start of its text is
 *   dropped and the cell says how much was.
 * - OutputCleared: cleared now, or (`wait`) at the cell's next output.
 * - DisplayUpdated: every output added with that display id gets the new data. Which outputs
 *   show a display is kept in the notebook (a cell's `displays`, never written to the file),
 *   so an update finds them whenever they were made: before a restart of this service too.
 *
 * Exactly once: the notebook event of a kernel event is named by the kernel and its stream
 * sequence, so a kernel event handled again (redelivered after a crash before its ack) is
 * stored once (JetStream's duplicate window). A notebook that cannot be opened (deleted,
 * invalid) and a cell that is gone are logged and skipped, never retried forever.
 *
 */
import type { KV } from "@nats-io/kv";
import { EventRegistry, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type KernelOutputEvent,
  KernelOutputEvents,
  KernelStarted,
  type KernelView,
} from "../../shared/kernels.js";
import { outputForFile } from "../../shared/notebook.js";
import {
  Buckets,
  Keys,
  kernelIdOfSubject,
  kernelSubjects,
  Streams,
} from "../../shared/subjects.js";
import { consumeEvents } from "../runtime/consumer.js";
import type { RunningService, ServiceContext } from "../runtime/service.js";
import { readSubjectMessages } from "../runtime/stream-read.js";
import type { NotebookDecision } from "./notebook-decider.js";
import type { KernelCell, NotebookDocs } from "./notebooks.js";

/** The durable of the kernel outputs beside the docs service's own `durable`. */
export function kernelOutputsDurable(durable: string): string {
  return `${durable}-kernel-outputs`;
}

/** Most bytes of a cell's outputs (JSON) the notebook keeps from a kernel. */
export const OUTPUTS_CAP = 256 * 1024;

const registry = new EventRegistry<KernelOutputEvent>(KernelOutputEvents);

type Output = Record<string, unknown>;

/**
 * Outputs over the cap, with the displays they show ([index, key]): capped by capOutputs,
 * each kept display at its output's new index.
 */
export function capShown(
  list: Output[],
  displays: readonly [number, string][],
  cap = OUTPUTS_CAP,
): { outputs: Output[]; displays: [number, string][] } {
  const outputs = capOutputs(list, cap);
  if (outputs === list) return { outputs, displays: displays.slice() };
  // Capped: a note first, then the last outputs of `list`.
  const from = list.length - (outputs.length - 1);
  return {
    outputs,
    displays: displays.filter(([i]) => i >= from).map(([i, k]) => [i - from + 1, k]),
  };
}

/** Outputs over the cap: the newest kept, the start of the stream text dropped, said so. */
export function capOutputs(list: Output[], cap = OUTPUTS_CAP): Output[] {
  let size = JSON.stringify(list).length;
  if (size <= cap) return list;
  const out = list.slice();
  let dropped = 0;
  // Whole outputs first, oldest first, while more than the last one is left.
  while (out.length > 1 && size > cap) {
    const gone = JSON.stringify(out.shift()).length + 1;
    dropped += gone;
    size -= gone;
  }
  const last = out[0];
  if (size > cap && last?.output_type === "stream") {
    const text = Array.isArray(last.text) ? last.text.join("") : String(last.text ?? "");
    const keep = text.slice(text.length - Math.floor(cap / 2));
    dropped += text.length - keep.length;
    out[0] = { ...last, text: [keep] };
  }
  const note = {
    output_type: "stream",
    name: "stderr",
    text: [`[${dropped} bytes of earlier output dropped: a cell keeps its last ${cap} bytes]\n`],
  };
  return [note, ...out];
}

export interface KernelOutputsOptions {
  ctx: ServiceContext;
  notebooks: NotebookDocs;
  durable: string;
}

export async function followKernelOutputs(o: KernelOutputsOptions): Promise<RunningService> {
  const { ctx, notebooks } = o;
  const kernels: KV = await ctx.kvm.open(Buckets.kernels);
  /** kid → the notebook's path. */
  const paths = new Map<string, string>();
  /** Cells whose outputs go at their next output (clear_output(wait=True)). */
  const clearAtNext = new Set<string>();

  async function pathOf(kid: string): Promise<string | undefined> {
    const known = paths.get(kid);
    if (known) return known;
    const e = await kernels.get(Keys.kernel(ctx.wsid, kid)).catch(() => null);
    let path = e?.operation === "PUT" && e.length > 0 ? e.json<KernelView>().path : undefined;
    if (!path) {
      // Shut down since (it left the view): its first KernelStarted names the path.
      const life = kernelSubjects(ctx.wsid, kid).life;
      const first = await readSubjectMessages(ctx.js, Streams.WS_KERNEL, life, 0, 1_000_000_000)
        .then((ms) => ms[0])
        .catch(() => undefined);
      const data = first && JSON.parse(new TextDecoder().decode(first.data));
      if (data?.type === KernelStarted.type) path = data.data?.path;
    }
    if (path) paths.set(kid, path);
    return path;
  }

  const parse = (text: string) => JSON.parse(text) as Output[];

  async function handle({ event, subject, seq }: StoredEvent<KernelOutputEvent>): Promise<void> {
    const kid = kernelIdOfSubject(subject);
    if (!kid) return;
    const path = await pathOf(kid);
    if (!path) {
      ctx.log.warn({ kid, seq }, "kernel output of an unknown notebook skipped");
      return;
    }
    const idParts: [string, string] = [kid, String(seq)];
    const cellKey = (cell: string) => `${kid} ${cell}`;
    const skipped = (err: unknown) => {
      if (!(err instanceof CocalcError) || err.code === "ERR_COMMAND_CONFLICT") throw err;
      ctx.log.warn({ kid, path, code: err.code, reason: err.message }, "kernel output skipped");
    };
    const apply = async (cell: string, decide: (c: KernelCell) => NotebookDecision | undefined) => {
      try {
        const ok = await notebooks.kernelOutputs(path, cell, decide, idParts);
        if (!ok) ctx.log.info({ kid, cell, path }, "kernel output for a cell that is gone");
      } catch (err) {
        skipped(err);
      }
    };
    switch (event.type) {
      case "ExecutionStarted": {
        const { cellId, executionCount } = event.data;
        clearAtNext.delete(cellKey(cellId));
        await apply(cellId, () => ({
          type: "OutputsSet",
          data: { id: cellId, outputs: "[]", execution_count: executionCount },
        }));
        return;
      }
      case "OutputAdded": {
        const { cellId, output, displayId } = event.data;
        const file = outputForFile(output as Parameters<typeof outputForFile>[0]);
        const clear = clearAtNext.delete(cellKey(cellId));
        await apply(cellId, (c) => {
          const now = clear ? [] : parse(c.outputs);
          const merges =
            file.output_type === "stream" &&
            now.at(-1)?.output_type === "stream" &&
            now.at(-1)?.name === file.name;
          const display = displayId === undefined ? undefined : `${kid}/${displayId}`;
          const next = JSON.stringify(now).length + JSON.stringify(file).length;
          if (clear || next > OUTPUTS_CAP) {
            const all = merges ? parse(appendText(now, file)) : [...now, file];
            const shown: [number, string][] = [
              ...(clear ? [] : c.displays),
              ...(display === undefined ? [] : [[all.length - 1, display] as [number, string]]),
            ];
            const capped = capShown(all, shown);
            return {
              type: "OutputsSet",
              data: {
                id: cellId,
                outputs: JSON.stringify(capped.outputs),
                execution_count: c.count,
                ...(capped.displays.length > 0 && { displays: capped.displays }),
              },
            };
          }
          return {
            type: "OutputsAppended",
            data: {
              id: cellId,
              outputs: JSON.stringify([file]),
              ...(display !== undefined && { display }),
            },
          };
        });
        return;
      }
      case "OutputCleared": {
        const { cellId, wait } = event.data;
        if (wait) {
          clearAtNext.add(cellKey(cellId));
          return;
        }
        await apply(cellId, (c) =>
          c.outputs === "[]"
            ? undefined
            : { type: "OutputsSet", data: { id: cellId, outputs: "[]", execution_count: c.count } },
        );
        return;
      }
      case "DisplayUpdated": {
        const { displayId, data, metadata } = event.data;
        const key = `${kid}/${displayId}`;
        const fresh = outputForFile({ output_type: "display_data", data, metadata });
        const updated = await notebooks
          .kernelCells(
            path,
            (cells) =>
              cells.flatMap((c): NotebookDecision[] => {
                const at = c.displays.filter(([, k]) => k === key).map(([i]) => i);
                if (at.length === 0) return [];
                const now = parse(c.outputs);
                for (const i of at) {
                  const was = now[i];
                  if (was?.output_type !== "display_data" && was?.output_type !== "execute_result")
                    continue;
                  now[i] = { ...was, data: fresh.data, metadata: fresh.metadata };
                }
                return [
                  {
                    type: "OutputsSet",
                    data: {
                      id: c.id,
                      outputs: JSON.stringify(now),
                      execution_count: c.count,
                      displays: c.displays.slice(),
                    },
                  },
                ];
              }),
            idParts,
          )
          .catch(skipped);
        if (updated === 0) ctx.log.info({ kid, displayId }, "update of a display no cell shows");
        return;
      }
      default: {
        const never: never = event;
        throw new Error(`unhandled kernel output ${(never as { type: string }).type}`);
      }
    }
  }

  return consumeEvents({
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    stream: Streams.WS_KERNEL,
    durable: o.durable,
    filterSubject: `ws.${ctx.wsid}.kernel.*.out`,
    registry,
    log: ctx.log,
    handle,
  });
}

/** `now` with a stream output continued by `more` (same stream), as JSON text. */
function appendText(now: Output[], more: Output): string {
  const last = now.at(-1)!;
  const text = (o: Output) => (Array.isArray(o.text) ? o.text.join("") : String(o.text ?? ""));
  const joined = outputForFile({
    output_type: "stream",
    name: last.name as "stdout" | "stderr",
    text: text(last) + text(more),
  });
  return JSON.stringify([...now.slice(0, -1), joined]);
}
