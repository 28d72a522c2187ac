import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "./logger.js";

/** What a service gets when it starts. It owns nothing in here: the supervisor does. */
export interface ServiceContext {
  name: string;
  instance: string;
  /** The workspace this service instance serves. */
  wsid: string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  log: Logger;
  now(): Date;
}

/** A started service. `done` settles when it ends; it rejects when the service crashed. */
export interface RunningService {
  done: Promise<void>;
  /** Graceful stop: stop consuming, finish the event in hand, then resolve. */
  stop(): Promise<void>;
}

/** A service as the supervisor sees it. */
export interface ServiceDefinition {
  name: string;
  /** Durable consumer names this service owns (the browser may not touch them). */
  durables: readonly string[];
  start(ctx: ServiceContext): Promise<RunningService>;
}

/** A part of a service that runs until stopped: a consumer, a command handler. */
export interface ServicePart {
  done: Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * A service made of parts: it ends when the first part ends (a crash: the other parts are
 * stopped, then `release(false)`), or on stop() (parts stopped in order, then `release(true)`).
 * `failed` rejects when something else of the service broke.
 */
export function runningService(
  parts: readonly ServicePart[],
  release: (graceful: boolean) => Promise<void>,
  failed?: Promise<unknown>,
): RunningService {
  const ends = parts.map((p) => p.done);
  const done = Promise.race(failed ? [...ends, failed] : ends)
    .then(() => undefined)
    .catch(async (err) => {
      for (const p of parts) await p.stop().catch(() => undefined);
      await release(false);
      throw err;
    });
  return {
    done,
    async stop() {
      for (const p of parts) await p.stop();
      await release(true);
    },
  };
}
