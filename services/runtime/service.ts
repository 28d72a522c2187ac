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
