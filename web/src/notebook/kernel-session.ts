/**
 * The kernel side of one notebook's page: the notebook's kernel (one per path, shared by every
 * tab) as the `kernels` view shows it, and the commands that start it, queue cells on it,
 * interrupt, restart, change its kernelspec and answer its input requests. Outputs are not
 * read here: the docs service writes them into the notebook, so the page draws them from the
 * notebook like every other change (and a page opened later finds them there).
 */
import { type Accessor, createMemo, createSignal } from "solid-js";
import { randomId } from "../../../shared/base64url.js";
import { requestReply } from "../../../shared/command-client.js";
import {
  type KernelResults,
  type KernelspecInfo,
  type KernelView,
  kernelIdForPath,
} from "../../../shared/kernels.js";
import { Buckets, Keys, ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import { requestSender, sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";

/** What the page says of the kernel: none started yet, or the view's state. */
export type PageKernelState = "none" | KernelView["state"];

/** A cell's place in the kernel's queue: running now, or waiting its turn. */
export type CellRun = "running" | "queued";

export interface PageKernel {
  readonly state: Accessor<PageKernelState>;
  /** The kernel as its view has it (undefined: none started). */
  readonly view: Accessor<KernelView | undefined>;
  /** Why the kernel's state is not known now (its view could not be read). */
  readonly problem: Accessor<string | undefined>;
  /** Whether cell `id` runs now or waits in the queue. */
  cellRun(id: string): CellRun | undefined;
  run(ids: string[]): Promise<void>;
  interrupt(): Promise<void>;
  restart(): Promise<void>;
  /**
   * Starts the notebook's kernel with another kernelspec (the queue is dropped); once it is
   * taken, the notebook's metadata names it (saved in the file, seen by every tab, started
   * by the next open).
   */
  choose(spec: KernelspecInfo): Promise<void>;
  /** Answers the running cell's input request. */
  reply(value: string): Promise<void>;
  /** The kernelspecs on the machine, like `jupyter kernelspec list`. */
  kernelspecs(): Promise<KernelspecInfo[]>;
  /** Completion at `cursorPos` of `code`, from the running kernel (undefined: none runs). */
  complete(code: string, cursorPos: number): Promise<KernelResults["complete"] | undefined>;
  /** Shift-Tab: what the kernel knows of the name at `cursorPos`. */
  inspect(code: string, cursorPos: number): Promise<KernelResults["inspect"] | undefined>;
  stop(): void;
}

export interface PageKernelContext {
  conn: WorkspaceConnection;
  path: string;
  /** The text of cell `id` as the page shows it (what runs is what the user sees). */
  text(id: string): string;
  /** Whether cell `id` is a code cell (only those run). */
  isCode(id: string): boolean;
  /** The kernelspec the notebook names (metadata.kernelspec.name), or python3. */
  kernelspec(): string;
  /** Makes the notebook's metadata name `spec` (a structure change). */
  name(spec: KernelspecInfo): Promise<void>;
  tell(message: string): void;
}

export function createPageKernel(ctx: PageKernelContext): PageKernel {
  const { conn } = ctx;
  const kid = kernelIdForPath(ctx.path);
  const [view, setView] = createSignal<KernelView>();
  const [problem, setProblem] = createSignal<string>();
  const stopWatch = watchKv(conn, Buckets.kernels, Keys.kernel(conn.wsid, kid), {
    reset: () => setView(undefined),
    entry: (e) => setView(e.operation === "PUT" ? e.json<KernelView>() : undefined),
    problem: setProblem,
  });
  const runs = createMemo(() => {
    const m = new Map<string, CellRun>();
    for (const [i, q] of (view()?.queue ?? []).entries())
      if (!m.has(q.cellId)) m.set(q.cellId, i === 0 ? "running" : "queued");
    return m;
  });

  /** Sends a command; its refusal is told to the page. Resolves to whether it was taken. */
  const command = async (type: string, data: object): Promise<boolean> => {
    const r = await sendCommand(conn, ServiceNames.kernels, type, data);
    if (!r.ok) ctx.tell(r.error.message);
    return r.ok;
  };
  const request = async <T>(body: object): Promise<T> => {
    const r = await requestReply<{ result: T }>(
      requestSender(conn),
      workspaceSubjects(conn.wsid).request(ServiceNames.kernels),
      body,
      { timeoutMs: 15_000 },
    );
    if (!r.ok) throw new Error(r.error.message);
    return r.result;
  };
  const start = (kernelspec: string) => command("StartKernel", { kid, path: ctx.path, kernelspec });
  /** A restart was sent and its view has not come yet: the page does not refuse to run. */
  let restartSent: number | undefined;
  const running = () => {
    const s = view()?.state;
    return s !== undefined && s !== "dead";
  };

  return {
    state: () => view()?.state ?? "none",
    view,
    problem,
    cellRun: (id) => runs().get(id),
    async run(ids) {
      const code = ids.filter((id) => ctx.isCode(id));
      if (code.length === 0) return;
      const v = view();
      if (v?.state === "dead" && restartSent !== v.generation) {
        ctx.tell(
          `The kernel died (${v.died?.reason ?? "no reason given"}): restart it to run cells.`,
        );
        return;
      }
      if (!v && !(await start(ctx.kernelspec()))) return;
      for (const id of code) {
        const ok = await command("ExecuteCell", {
          kid,
          executionId: randomId(),
          cellId: id,
          code: ctx.text(id),
        });
        if (!ok) return;
      }
    },
    async interrupt() {
      if (!view()) return ctx.tell("No kernel runs for this notebook.");
      await command("InterruptKernel", { kid });
    },
    async restart() {
      if (!view()) {
        await start(ctx.kernelspec());
        return;
      }
      const generation = view()?.generation;
      if (await command("RestartKernel", { kid })) restartSent = generation;
    },
    async choose(spec) {
      if (await start(spec.name)) await ctx.name(spec);
    },
    async reply(value) {
      const input = view()?.input;
      if (!input) return;
      await command("ReplyInput", { kid, executionId: input.executionId, value });
    },
    async kernelspecs() {
      return (await request<KernelResults["kernelspecs"]>({ op: "kernelspecs" })).kernelspecs;
    },
    async complete(code, cursorPos) {
      if (!running()) return undefined;
      return request<KernelResults["complete"]>({ op: "complete", kid, code, cursorPos });
    },
    async inspect(code, cursorPos) {
      if (!running()) return undefined;
      return request<KernelResults["inspect"]>({
        op: "inspect",
        kid,
        code,
        cursorPos,
        detailLevel: 0,
      });
    },
    stop() {
      stopWatch();
    },
  };
}
