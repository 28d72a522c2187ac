/**
 * Runs services, keeps their health records in the `services` view, and restarts a
 * crashed service with backoff. Stopping is graceful and in reverse start order.
 */
import { hostname } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import type { ServiceHealth, ServiceStatus } from "../../shared/health.js";
import { Buckets, Keys } from "../../shared/subjects.js";
import type { Logger } from "./logger.js";
import type { RunningService, ServiceContext, ServiceDefinition } from "./service.js";

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000] as const;
/** A service that ran this long without crashing starts its backoff again from the beginning. */
const STABLE_MS = 60_000;

export interface SupervisorOptions {
  nc: NatsConnection;
  wsid: string;
  log: Logger;
  heartbeatMs?: number;
  now?: () => Date;
  /**
   * The instance id in health keys. A process that restarts in the same place (plus on its
   * data dir) passes a stable one, so its records are overwritten instead of piling up.
   */
  instance?: string;
}

class Supervised {
  running: RunningService | undefined;
  health: ServiceHealth;
  stopping = false;
  loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(
    readonly def: ServiceDefinition,
    instance: string,
    now: Date,
    intervalMs: number,
  ) {
    this.health = {
      service: def.name,
      instance,
      host: hostname(),
      pid: process.pid,
      status: "starting",
      startedAt: now.toISOString(),
      beatAt: now.toISOString(),
      intervalMs,
      restarts: 0,
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  interrupt(): void {
    this.wake?.();
  }
}

export class Supervisor {
  private readonly services: Supervised[] = [];
  private kv: KV | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeatMs: number;
  private readonly now: () => Date;
  readonly instance: string;

  constructor(private readonly o: SupervisorOptions) {
    this.instance =
      o.instance ??
      randomId()
        .replace(/[^A-Za-z0-9]/g, "")
        .slice(0, 12);
    this.heartbeatMs = o.heartbeatMs ?? 5000;
    this.now = o.now ?? (() => new Date());
  }

  /** Starts every service; resolves once each has either started or failed its first start. */
  async start(defs: readonly ServiceDefinition[]): Promise<void> {
    this.kv = await new Kvm(this.o.nc).open(Buckets.services);
    const firstStarts: Promise<void>[] = [];
    for (const def of defs) {
      const s = new Supervised(def, this.instance, this.now(), this.heartbeatMs);
      this.services.push(s);
      let started!: () => void;
      firstStarts.push(new Promise((r) => (started = r)));
      s.loop = this.run(s, started);
    }
    this.timer = setInterval(() => {
      for (const s of this.services) void this.beat(s);
    }, this.heartbeatMs);
    this.timer.unref();
    await Promise.all(firstStarts);
  }

  /** The current health of every supervised service. */
  health(): ServiceHealth[] {
    return this.services.map((s) => ({ ...s.health }));
  }

  private async beat(s: Supervised, status?: ServiceStatus, lastError?: string): Promise<void> {
    if (status) s.health.status = status;
    if (lastError !== undefined) s.health.lastError = lastError;
    s.health.beatAt = this.now().toISOString();
    try {
      await this.kv?.put(Keys.service(s.def.name, s.health.instance), JSON.stringify(s.health));
    } catch (err) {
      this.o.log.debug({ service: s.def.name, err }, "heartbeat not written");
    }
  }

  private async context(def: ServiceDefinition): Promise<ServiceContext> {
    const nc = this.o.nc;
    const js = jetstream(nc);
    return {
      name: def.name,
      instance: this.instance,
      wsid: this.o.wsid,
      nc,
      js,
      // No API check (one round trip per service start): the first call says it if there is
      // no JetStream.
      jsm: await jetstreamManager(nc, { checkAPI: false }),
      kvm: new Kvm(js),
      log: this.o.log.child({ service: def.name }),
      now: this.now,
    };
  }

  private async run(s: Supervised, started: () => void): Promise<void> {
    let failures = 0;
    while (!s.stopping) {
      const began = Date.now();
      try {
        await this.beat(s, "starting");
        s.running = await s.def.start(await this.context(s.def));
        // It may end before we get to await it below; that is handled there, not unhandled.
        s.running.done.catch(() => undefined);
        await this.beat(s, "running");
        this.o.log.debug({ service: s.def.name, ms: Date.now() - began }, "service running");
        started();
        await s.running.done;
        s.running = undefined;
        if (s.stopping) break;
        throw new Error("service ended by itself");
      } catch (err) {
        s.running = undefined;
        started();
        if (s.stopping) break;
        if (Date.now() - began > STABLE_MS) failures = 0;
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
        failures++;
        s.health.restarts++;
        const message = err instanceof Error ? err.message : String(err);
        this.o.log.error(
          { service: s.def.name, err: message, restartInMs: delay },
          "service crashed; restarting",
        );
        await this.beat(s, "restarting", message);
        await s.sleep(delay);
      }
    }
  }

  /** Crashes a service on purpose (tests, and an operator's "restart service"). */
  async restart(name: string): Promise<void> {
    const s = this.services.find((x) => x.def.name === name);
    await s?.running?.stop();
  }

  /** Graceful stop of every service, last started first; records "stopped". */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of [...this.services].reverse()) {
      s.stopping = true;
      s.interrupt();
      try {
        await s.running?.stop();
      } catch (err) {
        this.o.log.warn({ service: s.def.name, err }, "service did not stop cleanly");
      }
      await s.loop;
      await this.beat(s, "stopped");
    }
  }
}
