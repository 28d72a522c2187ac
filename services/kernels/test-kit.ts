/**
 * Driving kernels from Node, the way a notebook page does: commands, requests, the view, and
 * a reader of a kernel's events from its first one. For tests and benchmarks.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { commandReply, type Reply, requestReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import { EventRegistry, type StoredEvent } from "../../shared/envelope.js";
import {
  type KernelEvent,
  KernelEvents,
  type KernelView,
  type Output,
} from "../../shared/kernels.js";
import {
  Buckets,
  Keys,
  kernelSubjects,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { KERNELS_SERVICE } from "./service.js";

const registry = new EventRegistry<KernelEvent>(KernelEvents);

/** Sends a kernels command and returns the reply. */
export function kernelCommand(
  nc: NatsConnection,
  wsid: string,
  type: string,
  data: unknown,
): Promise<CommandReply> {
  return commandReply(
    nc,
    workspaceSubjects(wsid).command(KERNELS_SERVICE),
    { type, data },
    { timeoutMs: 20_000 },
  );
}

/** Sends a kernels request and returns the reply. */
export function kernelRequest<T extends object = Record<string, unknown>>(
  nc: NatsConnection,
  wsid: string,
  body: unknown,
): Promise<Reply<{ result: T }>> {
  return requestReply(nc, workspaceSubjects(wsid).request(KERNELS_SERVICE), body as object, {
    timeoutMs: 20_000,
  });
}

/** A kernel's view record, as the browser reads it (by subject). */
export async function kernelView(
  nc: NatsConnection,
  wsid: string,
  kid: string,
): Promise<KernelView | undefined> {
  const kv = await new Kvm(nc).open(Buckets.kernels, { allow_direct: true });
  const e = await kv.get(Keys.kernel(wsid, kid));
  return e && e.operation === "PUT" && e.length > 0 ? e.json<KernelView>() : undefined;
}

/** A new execution id. */
export function newExecutionId(): string {
  return `x${randomId()}`;
}

/** Every event of one kernel, from its first, as they come. */
export class KernelEventLog {
  readonly events: StoredEvent<KernelEvent>[] = [];
  private stopped = false;
  private messages: { stop(): void } | undefined;
  private readonly reading: Promise<void>;

  constructor(nc: NatsConnection, wsid: string, kid: string) {
    this.reading = (async () => {
      const consumer = await jetstream(nc).consumers.get(Streams.WS_KERNEL, {
        filter_subjects: kernelSubjects(wsid, kid).all,
        deliver_policy: DeliverPolicy.All,
      });
      const messages = await consumer.consume();
      this.messages = messages;
      if (this.stopped) messages.stop();
      for await (const m of messages) {
        this.events.push({
          event: registry.parse(m.data),
          seq: m.seq,
          subject: m.subject,
          time: m.info.timestampNanos ? String(m.info.timestampNanos) : "",
        });
      }
    })();
    this.reading.catch(() => undefined);
  }

  /** Waits until `pick` finds something among the events; returns it. */
  async waitFor<T>(
    what: string,
    pick: (events: StoredEvent<KernelEvent>[]) => T | undefined | false,
    ms = 60_000,
  ): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = pick(this.events);
      if (v) return v;
      if (Date.now() > deadline) {
        const types = this.events.map((e) => e.event.type).slice(-30);
        throw new Error(`timed out waiting for ${what}; last events: ${types.join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The events of one execution. */
  of(executionId: string): KernelEvent[] {
    return this.events
      .map((e) => e.event)
      .filter((e) => (e.data as { executionId?: string }).executionId === executionId);
  }

  /** The execution's finish, once it came. */
  finished(executionId: string, ms?: number) {
    return this.waitFor(
      `execution ${executionId} finished`,
      () =>
        this.of(executionId).find(
          (e): e is Extract<KernelEvent, { type: "ExecutionFinished" }> =>
            e.type === "ExecutionFinished",
        ),
      ms,
    );
  }

  /** The outputs of an execution, in order. */
  outputs(executionId: string): Output[] {
    return this.of(executionId).flatMap((e) => (e.type === "OutputAdded" ? [e.data.output] : []));
  }

  /** The stdout an execution printed so far. */
  stdout(executionId: string): string {
    return this.outputs(executionId)
      .map((o) => (o.output_type === "stream" && o.name === "stdout" ? o.text : ""))
      .join("");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    await this.reading;
  }
}

/**
 * The kernels service in a process of its own (`worker`: the built
 * test/helpers/kernels-worker.js), for tests that kill it; resolves once it runs.
 */
export async function startKernelsWorker(
  worker: string,
  o: { url: string; seed: string; wsid: string; dir: string; kernelspecDirs?: string[] },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [worker], {
    env: {
      ...process.env,
      NATS_URL: o.url,
      KERNEL_WSID: o.wsid,
      KERNEL_DIR: o.dir,
      ...(o.kernelspecDirs && { KERNELSPEC_DIRS: o.kernelspecDirs.join(":") }),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin!.end(o.seed);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("running")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`kernels worker exited with ${code}`)));
  });
  return child;
}

/** The built kernels worker, for startKernelsWorker (from the sources' place in the checkout). */
export const KERNELS_WORKER = new URL("../../dist/test/helpers/kernels-worker.js", import.meta.url)
  .pathname;
/** Debian's python3-ipykernel kernelspec, the real kernel the tests run. */
export const IPYKERNEL_SPEC = "/usr/share/jupyter/kernels/python3/kernel.json";

/** Why tests with the kernels worker and a real ipykernel cannot run here, or undefined. */
export function kernelTestsSkipReason(): string | undefined {
  if (!existsSync(KERNELS_WORKER)) return `no ${KERNELS_WORKER} (npm run build)`;
  if (!existsSync(IPYKERNEL_SPEC)) return `no ${IPYKERNEL_SPEC} (apt install python3-ipykernel)`;
  return undefined;
}
