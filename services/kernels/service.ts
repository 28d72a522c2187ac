/**
 * The kernels service: lifecycle and execution commands decided on each kernel's `.life`
 * subject (stream WS_KERNEL) and projected into the `kernels` view; the side effects (launch,
 * execute, interrupt, input, stop) on real Jupyter kernels over ZeroMQ; outputs recorded as
 * events; completion and inspection answered as requests. Kernels outlive the service: a
 * new instance finds them by their connection files and connects again.
 */
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname } from "node:path";
import type { KV } from "@nats-io/kv";
import type { Subscription } from "@nats-io/nats-core";
import { EventRegistry, envelope, type StoredEvent } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  ExecutionFinished,
  KernelCommands,
  KernelDied,
  type KernelLifeEvent,
  KernelLifeEvents,
  type KernelView,
} from "../../shared/kernels.js";
import {
  Buckets,
  Keys,
  kernelIdOfSubject,
  kernelSubjects,
  ServiceNames,
  Streams,
  workspaceKernelSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { serveCommands } from "../runtime/commands.js";
import { consumeEvents } from "../runtime/consumer.js";
import { projectionHandler } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import {
  containerKernelspecs,
  type KernelContainer,
  launchContainerKernel,
  removeContainerKernelFiles,
} from "./container.js";
import {
  type KernelAggregate,
  type KernelCommand,
  type KernelDecided,
  kernelDecider,
} from "./decider.js";
import { findKernelspec, type Kernelspec, kernelspecDirs, listKernelspecs } from "./kernelspecs.js";
import { findKernel, launchKernel, logTail, removeKernelFiles } from "./launcher.js";
import { kernelsProjection } from "./projections.js";
import { serveKernelRequests } from "./requests.js";
import type { KernelHost, RunningKernel } from "./running-kernel.js";

/** Loaded with the first kernel: ZeroMQ's addon costs a start-up that has no kernels. */
const runningKernel = () => import("./running-kernel.js").then((m) => m.RunningKernel);

export const KERNELS_SERVICE = ServiceNames.kernels;

export const kernelRegistry = new EventRegistry<KernelLifeEvent>(KernelLifeEvents);

export interface KernelsServiceOptions {
  /** Connection files (0600), process records and logs of the kernels; one per workspace. */
  dir: string;
  /** Where kernelspecs are looked for (default: Jupyter's directories). */
  kernelspecDirs?: string[];
  /** Where a kernel of a notebook whose folder is gone starts (default: the home directory). */
  home?: string;
  /** The durable consumer's name (default: the service's). */
  durable?: string;
  /**
   * A container workspace's: kernelspecs are those inside, kernels run inside as its user
   * and are reached over ipc (`kernelspecDirs` and `home` are then the container's).
   */
  container?: KernelContainer;
}

export async function startKernels(
  ctx: ServiceContext,
  opts: KernelsServiceOptions,
): Promise<RunningService> {
  return new Kernels(ctx, opts).start();
}

class Kernels {
  private readonly running = new Map<string, RunningKernel>();
  private readonly specs = new Map<string, { displayName: string; language: string }>();
  /** Input values on their way from a ReplyInput to the kernel (a password is not stored). */
  private readonly inputs = new Map<string, string>();
  private readonly dirs: string[];
  private readonly home: string;
  private readonly kernelspecs: () => Promise<Kernelspec[]>;
  private readonly durable: string;
  private views!: KV;
  private requests: Subscription | undefined;
  private failure!: (err: unknown) => void;
  private readonly failed: Promise<never>;
  private stopping = false;
  private readonly host: KernelHost;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: KernelsServiceOptions,
  ) {
    this.dirs = opts.kernelspecDirs ?? kernelspecDirs();
    const c = opts.container;
    this.home = c?.home ?? opts.home ?? homedir();
    this.kernelspecs = c ? () => containerKernelspecs(c) : () => listKernelspecs(this.dirs);
    this.durable = opts.durable ?? KERNELS_SERVICE;
    this.failed = new Promise<never>((_, reject) => {
      this.failure = reject;
    });
    this.failed.catch(() => undefined);
    this.host = {
      js: ctx.js,
      wsid: ctx.wsid,
      dir: opts.dir,
      actor: KERNELS_SERVICE,
      log: ctx.log,
      now: ctx.now,
      fail: (err) => this.fail(err),
      gone: (k) => {
        if (this.running.get(k.kid) === k) this.running.delete(k.kid);
      },
      ...(c && { forget: (kid: string) => removeContainerKernelFiles(c, kid) }),
    };
  }

  private fail(err: unknown): void {
    if (this.stopping) return;
    this.ctx.log.error({ err }, "kernels service failed; it will be restarted");
    this.failure(err);
  }

  async start(): Promise<RunningService> {
    const { ctx } = this;
    this.views = await ctx.kvm.open(Buckets.kernels);
    try {
      await this.reconcile();
    } catch (err) {
      await this.teardown();
      throw err;
    }
    const project = await projectionHandler(ctx.kvm, [kernelsProjection]);
    const consumer = await consumeEvents({
      nc: ctx.nc,
      js: ctx.js,
      jsm: ctx.jsm,
      stream: Streams.WS_KERNEL,
      durable: this.durable,
      filterSubject: workspaceKernelSubjects(ctx.wsid).life,
      registry: kernelRegistry,
      log: ctx.log,
      handle: (e) => this.handle(e, project),
      rejected: project,
    });
    const decider = kernelDecider((name) => {
      const s = this.specs.get(name);
      if (!s) throw new CocalcError("ERR_KERNEL_SPEC", `no kernelspec named ${name}`);
      return s;
    });
    const commands = serveCommands<KernelCommand, KernelDecided, KernelAggregate>({
      nc: ctx.nc,
      log: ctx.log,
      subject: workspaceSubjects(ctx.wsid).command(KERNELS_SERVICE),
      commands: KernelCommands,
      store: new KernelAggregates(
        {
          js: ctx.js,
          jsm: ctx.jsm,
          log: ctx.log,
          stream: Streams.WS_KERNEL,
          registry: kernelRegistry,
          events: KernelLifeEvents,
          decider,
        },
        (command, generation) => {
          // Stored: the kernel may run it now, before the consumer hands the event on (which
          // then finds it sent already).
          const k = this.running.get(command.data.kid);
          if (command.type === "ExecuteCell" && k?.generation === generation) {
            const { executionId, cellId, code } = command.data;
            k.execute(executionId, cellId, code);
          }
        },
      ),
      aggregateSubject: (c) => kernelSubjects(ctx.wsid, c.data.kid).life,
      now: ctx.now,
      check: async (c) => {
        if (c.type === "StartKernel") {
          const spec = await findKernelspec(c.data.kernelspec, this.kernelspecs());
          this.specs.set(spec.name, { displayName: spec.displayName, language: spec.language });
        }
        if (c.type === "ReplyInput") this.inputs.set(c.data.executionId, c.data.value);
      },
    });
    this.requests = serveKernelRequests({
      ctx,
      kernelspecs: this.kernelspecs,
      kernel: (kid) => this.running.get(kid),
    });
    return runningService([commands, consumer], () => this.teardown(), this.failed);
  }

  /** Lets go of every kernel; the kernels keep running for the next instance. */
  private async teardown(): Promise<void> {
    this.stopping = true;
    this.requests?.unsubscribe();
    await Promise.all([...this.running.values()].map((k) => k.detach()));
    this.running.clear();
  }

  /** After a (re)start: the view says what should run, the kernels' files what does. */
  private async reconcile(): Promise<void> {
    const { wsid } = this.ctx;
    for await (const key of await this.views.keys(Keys.kernels(wsid))) {
      const e = await this.views.get(key);
      if (e?.operation !== "PUT" || e.length === 0) continue;
      const view = e.json<KernelView>();
      if (view.state === "dead") continue;
      const found = await findKernel(this.opts.dir, view.kid);
      if (found && found.process.generation === view.generation) {
        const fresh = view.state === "starting" || view.state === "restarting";
        this.running.set(
          view.kid,
          (await runningKernel()).attached(this.host, view.kid, found, view.queue, fresh),
        );
        this.ctx.log.info({ kid: view.kid, kernelPid: found.process.pid }, "kernel reattached");
        continue;
      }
      this.ctx.log.warn({ kid: view.kid }, "kernel lost while the service was not running");
      const life = kernelSubjects(wsid, view.kid).life;
      const meta = { actor: KERNELS_SERVICE, at: this.ctx.now() };
      for (const q of view.queue) {
        await publishEvent(
          this.ctx.js,
          life,
          envelope(ExecutionFinished, { ...q, status: "aborted", executionCount: null }, meta),
        );
      }
      await publishEvent(
        this.ctx.js,
        life,
        envelope(
          KernelDied,
          {
            generation: view.generation,
            code: null,
            signal: null,
            reason: "the kernel ended while the kernels service was not running",
            stderr: await logTail(this.opts.dir, view.kid),
          },
          meta,
        ),
      );
    }
  }

  /** The consumer's handler: the side effect first, then the view (a redelivery is a no-op). */
  private async handle(
    stored: StoredEvent<KernelLifeEvent>,
    project: (e: StoredEvent) => Promise<void>,
  ): Promise<void> {
    const { event, seq, subject } = stored;
    const kid = kernelIdOfSubject(subject);
    if (!kid) return;
    const entry = await this.views.get(Keys.kernel(this.ctx.wsid, kid));
    const view =
      entry && entry.operation === "PUT" && entry.length > 0
        ? entry.json<KernelView & { _seq: number }>()
        : undefined;
    if (view && view._seq >= seq) return;
    const kernel = this.running.get(kid);
    switch (event.type) {
      case "KernelStarted":
      case "KernelRestarted": {
        const generation = event.data.generation;
        if (kernel?.generation === generation || (await this.superseded(kid, seq, generation)))
          break;
        const path = event.type === "KernelStarted" ? event.data.path : view?.path;
        const spec = event.type === "KernelStarted" ? event.data.kernelspec : view?.kernelspec;
        await kernel?.stop();
        if (path !== undefined && spec !== undefined)
          await this.launch(kid, generation, path, spec);
        break;
      }
      case "ExecutionQueued": {
        const { executionId, cellId, code, generation } = event.data;
        if (kernel && kernel.generation === generation) {
          kernel.execute(executionId, cellId, code);
        } else if (!(await this.finishedLater(kid, seq, executionId))) {
          // Its kernel died (or never started) after the execution was queued.
          await publishEvent(
            this.ctx.js,
            subject,
            envelope(
              ExecutionFinished,
              { executionId, cellId, status: "aborted", executionCount: null },
              { actor: KERNELS_SERVICE, at: this.ctx.now() },
            ),
          );
        }
        break;
      }
      case "KernelInterrupted":
        if (kernel?.generation === event.data.generation) kernel.interrupt();
        break;
      case "KernelShutDown":
        await kernel?.stop();
        await removeKernelFiles(this.opts.dir, kid);
        if (this.opts.container) await removeContainerKernelFiles(this.opts.container, kid);
        break;
      case "InputReplied": {
        const value = event.data.value ?? this.inputs.get(event.data.executionId) ?? "";
        this.inputs.delete(event.data.executionId);
        kernel?.replyInput(value);
        break;
      }
      default:
        break;
    }
    await project(stored);
  }

  /** True when a later event started another generation or shut the kernel down. */
  private async superseded(kid: string, seq: number, generation: number): Promise<boolean> {
    const life = kernelSubjects(this.ctx.wsid, kid).life;
    const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_KERNEL, life);
    if (last <= seq) return false;
    const later = await readSubject(
      this.ctx.js,
      kernelRegistry,
      Streams.WS_KERNEL,
      life,
      seq,
      last,
    );
    return later.some(({ event: e }) => {
      switch (e.type) {
        case "KernelShutDown":
          return e.data.generation >= generation;
        case "KernelStarted":
        case "KernelRestarted":
          return e.data.generation > generation;
        case "KernelDied":
          return e.data.generation >= generation;
        default:
          return false;
      }
    });
  }

  /** True when a later event finished execution `executionId`. */
  private async finishedLater(kid: string, seq: number, executionId: string): Promise<boolean> {
    const life = kernelSubjects(this.ctx.wsid, kid).life;
    const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_KERNEL, life);
    if (last <= seq) return false;
    const later = await readSubject(
      this.ctx.js,
      kernelRegistry,
      Streams.WS_KERNEL,
      life,
      seq,
      last,
    );
    return later.some(
      ({ event: e }) => e.type === "ExecutionFinished" && e.data.executionId === executionId,
    );
  }

  private async launch(kid: string, generation: number, path: string, name: string) {
    const life = kernelSubjects(this.ctx.wsid, kid).life;
    try {
      const c = this.opts.container;
      const spec = await findKernelspec(name, this.kernelspecs());
      const folder = dirname(path);
      const Kernel = await runningKernel();
      const launched = c
        ? // The folder is a path inside: the kernel goes there, or home when it is not there.
          await launchContainerKernel({
            container: c,
            dir: this.opts.dir,
            kid,
            generation,
            spec,
            cwd: folder,
          })
        : await launchKernel({
            dir: this.opts.dir,
            kid,
            generation,
            spec,
            cwd: (await stat(folder).catch(() => undefined))?.isDirectory() ? folder : this.home,
          });
      this.running.set(kid, Kernel.launched(this.host, kid, launched));
      this.ctx.log.info({ kid, generation, kernelPid: launched.process.pid }, "kernel started");
    } catch (err) {
      this.ctx.log.warn({ kid, err }, "kernel did not start");
      await publishEvent(
        this.ctx.js,
        life,
        envelope(
          KernelDied,
          {
            generation,
            code: null,
            signal: null,
            reason: `the kernel could not start: ${(err as Error).message}`.slice(0, 500),
            stderr: await logTail(this.opts.dir, kid),
          },
          { actor: KERNELS_SERVICE, at: this.ctx.now() },
        ),
      );
    }
  }
}

/** The command path, which tells what an ExecuteCell stored once it is stored. */
class KernelAggregates extends AggregateStore<KernelCommand, KernelDecided, KernelAggregate> {
  constructor(
    o: ConstructorParameters<
      typeof AggregateStore<KernelCommand, KernelDecided, KernelAggregate>
    >[0],
    private readonly stored: (command: KernelCommand, generation: number) => void,
  ) {
    super(o);
  }

  override async execute(subject: string, command: KernelCommand) {
    const r = await super.execute(subject, command);
    if (command.type === "ExecuteCell" && r.seqs.length > 0 && r.state.status === "running")
      this.stored(command, r.state.generation);
    return r;
  }
}
