/**
 * A turn's log (stream WS_AGENT_LOG): every ACP update and notice of the turn as an event on
 * its log subject, in order, so a browser that opens mid-turn replays from the first event.
 * Once closed, the log is folded as the page folds it and stored (view `turn-logs`): a tab
 * that opens a finished turn reads that one value instead of replaying every update.
 */
import {
  type TurnLogEvent,
  TurnLogEvents,
  type TurnStatus,
  turnIdentifiers,
} from "../../shared/agents.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import {
  applyLogEvent,
  emptyLog,
  type LogSnapshot,
  MAX_LOG_SNAPSHOT_BYTES,
} from "../../shared/turn-log-model.js";
import { publishEvent } from "../runtime/publish.js";
import type { ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubjectMessages } from "../runtime/stream-read.js";
import type { LogData, TurnLogSink } from "./acp-client.js";
import { AGENTS_SERVICE } from "./threads.js";

export const turnLogRegistry = new EventRegistry<TurnLogEvent>(TurnLogEvents);

/** Snapshots being stored, by key (`<wsid>.<thread>.<turn>`). */
const storing = new Map<string, Promise<void>>();

/** Resolves once every snapshot being stored of a thread's turns is (a deletion waits). */
export async function snapshotsStored(wsid: string, thread: string): Promise<void> {
  const prefix = `${wsid}.${thread}.`;
  await Promise.all([...storing].filter(([k]) => k.startsWith(prefix)).map(([, p]) => p));
}

/** The largest update stored as is; bigger ones keep their kind and lose their content. */
const MAX_UPDATE_BYTES = 900 * 1024;

/** A session update as the log stores it. */
export function loggedUpdate(
  update: { sessionUpdate: string } & Record<string, unknown>,
): { sessionUpdate: string } & Record<string, unknown> {
  if (JSON.stringify(update).length > MAX_UPDATE_BYTES) {
    return { sessionUpdate: update.sessionUpdate, truncated: true };
  }
  return update;
}

/** A turn's log: events published in order, pipelined; close() waits for all of them. */
export class TurnLog implements TurnLogSink {
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  count = 0;
  /** Files the log has a FileWritten record of. */
  readonly written = new Set<string>();
  /** The turn ran a command (through the client, or a tool of the agent's of kind execute). */
  ranCommand = false;

  readonly subject: string;
  private readonly ids: ReturnType<typeof turnIdentifiers>;

  constructor(
    private readonly ctx: ServiceContext,
    thread: string,
    turn: string,
  ) {
    this.ids = turnIdentifiers(ctx.wsid, thread, turn);
    this.subject = this.ids.logSubject;
  }

  append<T extends TurnLogEvent["type"]>(type: T, data: LogData<T>): void {
    if (this.closed) return;
    const ev = envelope({ type, v: 1 }, data, { actor: AGENTS_SERVICE, at: new Date() });
    try {
      turnLogRegistry.check(ev);
    } catch (err) {
      this.ctx.log.warn({ type, err }, "turn log event not valid; skipped");
      return;
    }
    this.count++;
    if (type === "FileWritten") this.written.add((data as { path: string }).path);
    if (type === "CommandStarted") this.ranCommand = true;
    if (type === "AgentUpdate") {
      const u = (data as { update: { sessionUpdate: string; kind?: unknown } }).update;
      if (u.sessionUpdate === "tool_call" && u.kind === "execute") this.ranCommand = true;
    }
    const p = publishEvent(this.ctx.js, this.subject, ev, { timeoutMs: 30_000 }).then(
      () => {
        this.inflight.delete(p);
      },
      (err: unknown) => {
        this.inflight.delete(p);
        this.ctx.log.warn({ subject: this.subject, err }, "turn log event lost");
      },
    );
    this.inflight.add(p);
  }

  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(status: TurnStatus): Promise<void> {
    await this.flush();
    this.append("LogClosed", { status });
    this.closed = true;
    await this.flush();
    // Not waited for: the turn has ended; until it is stored, a tab replays the log.
    const key = this.ids.snapshotKey;
    const p = this.snapshot()
      .catch((err: unknown) => {
        this.ctx.log.warn({ subject: this.subject, err }, "turn log snapshot not stored");
      })
      .finally(() => {
        if (storing.get(key) === p) storing.delete(key);
      });
    storing.set(key, p);
  }

  /** Folds the stored log, as the page does, into its snapshot (view `turn-logs`). */
  private async snapshot(): Promise<void> {
    const { logStream, snapshotBucket, snapshotKey } = this.ids;
    const last = await lastSubjectSeq(this.ctx.jsm, logStream, this.subject);
    const messages = await readSubjectMessages(this.ctx.js, logStream, this.subject, 0, last);
    const model = emptyLog();
    for (const m of messages) {
      let event: TurnLogEvent;
      try {
        event = turnLogRegistry.parse(m.data);
      } catch {
        return; // A replay says which event could not be read: that log is replayed.
      }
      applyLogEvent(model, event);
    }
    if (model.closed === undefined) return;
    const snapshot: LogSnapshot = { v: 1, seq: last, model };
    const value = JSON.stringify(snapshot);
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_LOG_SNAPSHOT_BYTES) {
      this.ctx.log.info({ subject: this.subject, bytes }, "turn log too large to snapshot");
      return;
    }
    const kv = await this.ctx.kvm.open(snapshotBucket);
    await kv.put(snapshotKey, value);
  }
}
