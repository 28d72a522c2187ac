/**
 * Watches the event store (nats-server's JetStream directory) for a full disk, and recovers
 * from one. nats-server 2.9.10 on a full disk stops answering JetStream (`$JS.API.INFO` times
 * out while core NATS still works), says nothing in its log, and stays stuck after space is
 * freed; a server started on a nearly full disk sizes its store to that and refuses with
 * "insufficient resources" from then on. So the watch judges by the file system's free space
 * (statfs, every few seconds), by what the server logs, and by whether JetStream answers; when
 * space is back and JetStream does not answer (or refused for lack of room), it restarts
 * nats-server. While the store is full, commands are refused at once with ERR_DISK_FULL
 * (refuseWhenStoreFull, called by the command server) instead of timing out.
 */
import { EventEmitter } from "node:events";
import { statfs } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { CocalcError } from "../../shared/errors.js";
import {
  STORE_FULL_AFFECTS,
  type StoreLoss,
  type StoreState,
  storeFullSummary,
} from "../../shared/health.js";
import type { Logger } from "./logger.js";
import { scrubStore } from "./store-scrub.js";

/** What nats-server logs when its store cannot take a write. */
const STORE_ERROR =
  /no space left on device|resource limits exceeded|insufficient (storage|resources)|disabling jetstream|error (writing|storing)/i;

/** The part of NatsServer the watch uses (a server it may restart, and whose log it reads). */
export interface WatchedServer {
  restart(): Promise<void>;
  on(event: "line", listener: (line: string) => void): unknown;
  off(event: "line", listener: (line: string) => void): unknown;
}

export interface StoreWatchOptions {
  /** A directory on the store's file system (the JetStream store_dir or its parent). */
  dir: string;
  server: WatchedServer;
  /**
   * The watch's own connection: it probes JetStream and publishes the state. Not one that
   * publishes events: nats-server may stop reading a connection whose publish is stuck on the
   * full store, and what it sends after that waits too.
   */
  nc: NatsConnection;
  /** Connections whose command servers refuse while the store is full. */
  connections: readonly NatsConnection[];
  log: Logger;
  /**
   * Below this many free bytes the store counts as full. Default: 2% of the file system,
   * at most 64 MiB (a 20 MB tmpfs is full below 400 KB, a large disk below 64 MiB).
   */
  minFreeBytes?: number;
  intervalMs?: number;
  /** How long `$JS.API.INFO` may take before JetStream counts as not answering. */
  probeTimeoutMs?: number;
  /**
   * Where the state is published (core NATS), e.g. a workspace's store feed; or asked each
   * time (a host: the store feeds of the workspaces it runs now).
   */
  publishTo?: readonly string[] | (() => readonly string[]);
  /**
   * What the published and answered state shows (a host's workspaces: neither the host's
   * paths nor what other workspaces' durables lost); default all of it.
   */
  shown?: (state: StoreState) => StoreState;
  /** Where the state is answered on request (a page that opens asks), e.g. `ws.<wsid>.read.store`. */
  answerOn?: string;
  now?: () => Date;
}

const RESTART_EVERY_MS = 60_000;

/**
 * The operator's settings: COCALC_STORE_MIN_FREE_MB (below it the store counts as full) and
 * COCALC_STORE_CHECK_MS (how often free space is looked at).
 */
export function storeWatchOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Pick<StoreWatchOptions, "minFreeBytes" | "intervalMs"> {
  const mb = Number(env.COCALC_STORE_MIN_FREE_MB);
  const ms = Number(env.COCALC_STORE_CHECK_MS);
  return {
    ...(env.COCALC_STORE_MIN_FREE_MB && mb >= 0 && { minFreeBytes: Math.round(mb * 1024 * 1024) }),
    ...(env.COCALC_STORE_CHECK_MS && ms >= 50 && { intervalMs: ms }),
  };
}

type Full = Extract<StoreState, { status: "full" }>;

const watches = new WeakMap<NatsConnection, StoreWatch>();

/** Throws ERR_DISK_FULL when a store watch on this connection says the store is full. */
export function refuseWhenStoreFull(nc: NatsConnection): void {
  const state = watches.get(nc)?.state;
  if (state?.status !== "full") return;
  throw new CocalcError("ERR_DISK_FULL", `${storeFullSummary(state)}: ${STORE_FULL_AFFECTS}`, {
    freeBytes: state.freeBytes,
    path: state.path,
  });
}

/**
 * The connection to send a reply on: while the store is full, the watch's own. nats-server may
 * no longer read the services' connection (a publish of theirs is stuck on the full store),
 * so a reply sent there would wait with it.
 */
export function replyConnection(nc: NatsConnection): NatsConnection {
  const watch = watches.get(nc);
  return watch?.state.status === "full" ? watch.nc : nc;
}

/**
 * Records a loss found by a consumer on this connection (consumer.ts) with the store watch of
 * the process, which shows it (the page's store feed) until the process ends.
 */
export function reportStoreLoss(nc: NatsConnection, loss: StoreLoss): void {
  watches.get(nc)?.addLoss(loss);
}

/** The most losses kept (the oldest go first). */
const MAX_LOSSES = 20;

/** Emits "change" (StoreState). Owned by whoever starts nats-server; stop() ends it. */
export class StoreWatch extends EventEmitter {
  state: StoreState;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private storeError: string | undefined;
  private stopped = false;
  private restartedAt = 0;
  private losses: StoreLoss[] = [];
  private scrubbing: Promise<void> | undefined;
  private readonly stopScrub = new AbortController();
  private answering: { unsubscribe(): void } | undefined;
  private readonly intervalMs: number;
  private readonly now: () => Date;
  private readonly onLine = (line: string) => {
    if (!STORE_ERROR.test(line)) return;
    this.storeError = line;
    void this.check();
  };

  get nc(): NatsConnection {
    return this.o.nc;
  }

  constructor(private readonly o: StoreWatchOptions) {
    super();
    this.intervalMs = o.intervalMs ?? 5000;
    this.now = o.now ?? (() => new Date());
    this.state = { status: "ok", at: this.now().toISOString() };
  }

  start(): void {
    for (const nc of this.o.connections) watches.set(nc, this);
    this.o.server.on("line", this.onLine);
    if (this.o.answerOn)
      this.answering = this.o.nc.subscribe(this.o.answerOn, {
        callback: (_err, m) => {
          if (m.reply) m.respond(JSON.stringify(this.shownState()));
        },
      });
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    void this.check();
  }

  /** One check now (a second call while one runs waits for that one). */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async free(): Promise<{ free: number; min: number }> {
    const s = await statfs(this.o.dir);
    const size = s.blocks * s.bsize;
    const min = this.o.minFreeBytes ?? Math.min(64 * 1024 * 1024, Math.floor(size * 0.02));
    return { free: s.bavail * s.bsize, min };
  }

  private async jetstreamAnswers(): Promise<boolean> {
    const nc = this.o.nc;
    if (nc.isClosed()) return false;
    try {
      const m = await nc.request("$JS.API.INFO", "", { timeout: this.o.probeTimeoutMs ?? 2000 });
      const reply = JSON.parse(m.string()) as { error?: { code: number; description: string } };
      return reply.error === undefined;
    } catch {
      return false;
    }
  }

  private async checkOnce(): Promise<void> {
    if (this.stopped) return;
    let space: { free: number; min: number };
    try {
      space = await this.free();
    } catch (err) {
      this.o.log.warn({ err, dir: this.o.dir }, "free space of the store not known");
      return;
    }
    const full = this.state.status === "full";
    if (space.free < space.min) {
      this.setFull(space.free);
      return;
    }
    // Room again (or never short of it): JetStream must answer, and one that was full or
    // refused for lack of room is restarted.
    const answers = await this.jetstreamAnswers();
    if (this.stopped) return;
    if (answers && this.storeError === undefined) {
      if (full) this.setOk();
      return;
    }
    if (!full && this.storeError === undefined) return; // not answering for another reason
    if (!full) this.setFull(space.free);
    // A server that keeps refusing for lack of room right after a restart is not restarted
    // in a loop: once a minute at most.
    if (Date.now() - this.restartedAt < RESTART_EVERY_MS) return;
    this.restartedAt = Date.now();
    this.o.log.warn(
      { free: space.free, serverSaid: this.storeError },
      "space is free again: restarting nats-server so that its store takes events again",
    );
    this.storeError = undefined;
    try {
      await this.o.server.restart();
    } catch (err) {
      this.o.log.error({ err }, "nats-server did not restart after the disk was full");
      return;
    }
    if (await this.jetstreamAnswers()) this.setOk();
  }

  private setFull(freeBytes: number): void {
    const at = this.now().toISOString();
    const was = this.state.status === "full" ? this.state : undefined;
    const state: Full = {
      status: "full",
      at,
      ...(this.losses.length > 0 && { losses: this.losses }),
      freeBytes,
      path: this.o.dir,
      since: was?.since ?? at,
      ...((this.storeError ?? was?.serverSaid) !== undefined && {
        serverSaid: this.storeError ?? was?.serverSaid,
      }),
    };
    this.state = state;
    if (!was)
      this.o.log.error(
        { free: freeBytes, dir: this.o.dir, serverSaid: state.serverSaid },
        `${storeFullSummary(state)}: ${STORE_FULL_AFFECTS}`,
      );
    this.changed();
  }

  /**
   * Reads every stored message once, in the background, and shows the ones the store can no
   * longer read (store-scrub.ts). At start and after nats-server restarts; one at a time.
   */
  scrub(): Promise<void> {
    this.scrubbing ??= (async () => {
      const jsm = await jetstreamManager(this.o.nc, { checkAPI: false });
      await scrubStore({
        js: jetstream(this.o.nc),
        jsm,
        log: this.o.log,
        report: (l) => this.addLoss(l),
        signal: this.stopScrub.signal,
      });
    })()
      .catch((err) => this.o.log.warn({ err }, "store not scrubbed"))
      .finally(() => {
        this.scrubbing = undefined;
      });
    return this.scrubbing;
  }

  /** A loss a consumer found (the same one found again after a restart is kept once). */
  addLoss(loss: StoreLoss): void {
    const same = (l: StoreLoss) =>
      l.stream === loss.stream && l.durable === loss.durable && l.from === loss.from;
    if (this.losses.some(same)) return;
    this.losses = [...this.losses, loss].slice(-MAX_LOSSES);
    this.state = { ...this.state, losses: this.losses };
    this.changed();
  }

  private setOk(): void {
    this.state = {
      status: "ok",
      at: this.now().toISOString(),
      ...(this.losses.length > 0 && { losses: this.losses }),
    };
    this.o.log.info({ dir: this.o.dir }, "the store takes events again");
    this.changed();
  }

  /** Published on every check while full (a page opened meanwhile learns it) and on recovery. */
  private changed(): void {
    this.emit("change", this.state);
    const nc = this.o.nc;
    if (nc.isClosed()) return;
    const to = this.o.publishTo;
    const subjects = typeof to === "function" ? to() : (to ?? []);
    if (subjects.length === 0) return;
    const body = JSON.stringify(this.shownState());
    for (const subject of subjects) nc.publish(subject, body);
  }

  private shownState(): StoreState {
    return this.o.shown ? this.o.shown(this.state) : this.state;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.o.server.off("line", this.onLine);
    this.answering?.unsubscribe();
    this.stopScrub.abort();
    await this.checking;
    await this.scrubbing;
    for (const nc of this.o.connections) if (watches.get(nc) === this) watches.delete(nc);
  }
}
