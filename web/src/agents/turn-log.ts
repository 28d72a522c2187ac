/**
 * One turn's log in the page: replayed from its first event with an ordered consumer, then
 * followed live until the log is closed, and folded into a store. A turn that is opened
 * mid-turn (a reload, a second tab) gets every event from the first; a finished one is read
 * from its snapshot (view `turn-logs`, the log folded once closed) when it has one. Only turns
 * on screen hold a log: stop() releases it.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { batch, createSignal } from "solid-js";
import { createStore, produce } from "solid-js/store";
import { type TurnLogEvent, TurnLogEvents, turnIdentifiers } from "../../../shared/agents.js";
import { EventRegistry } from "../../../shared/envelope.js";
import {
  applyLogEvent,
  emptyLog,
  type LogModel,
  parseLogSnapshot,
  textOf,
} from "../../../shared/turn-log-model.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { backoffMs, delay, messageOf } from "../lib/delay.js";
import { openReader } from "../lib/stream-reader.js";
import { openView } from "../lib/views.js";

const registry = new EventRegistry<TurnLogEvent>(TurnLogEvents);

export interface TurnLog {
  readonly model: LogModel;
  readonly problem: () => string | undefined;
  /** Every event stored so far has been applied. */
  readonly caughtUp: () => boolean;
  /** Where the log came from: its snapshot (a closed turn) or its events. */
  readonly source: () => "snapshot" | "events" | undefined;
  /** The end of the newest message chunk applied (measurements read it). */
  readonly tail: () => string;
  stop(): void;
}

/** Hook for measurements: called with each batch of events as it reaches the store. */
export type TurnLogProbe = (events: TurnLogEvent[]) => void;

export function openTurnLog(
  conn: WorkspaceConnection,
  thread: string,
  turn: string,
  probe?: TurnLogProbe,
): TurnLog {
  const ids = turnIdentifiers(conn.wsid, thread, turn);
  const [model, setModel] = createStore<LogModel>(emptyLog());
  const [problem, setProblem] = createSignal<string>();
  const [caughtUp, setCaughtUp] = createSignal(false);
  const [source, setSource] = createSignal<"snapshot" | "events">();
  const [tail, setTail] = createSignal("");
  const stopping = new AbortController();
  let lastSeq = 0;
  let current: { stop(): void } | undefined;
  let pending: TurnLogEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A stored backlog is folded into this plain model, outside the store, and handed to the
   * store in one step once it is all here: a store update per event costs far more than the
   * fold. Live events after that go to the store in batches.
   */
  let backlog: LogModel | undefined = emptyLog();

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const events = pending;
    pending = [];
    const newest = newestChunk(events);
    if (newest !== undefined) setTail(newest.slice(-60));
    if (backlog) {
      for (const e of events) applyLogEvent(backlog, e);
      setModel("count", backlog.count);
    } else {
      batch(() => {
        setModel(
          produce((m) => {
            for (const e of events) applyLogEvent(m, e);
          }),
        );
      });
    }
    probe?.(events);
  };

  /** Everything stored has arrived: the backlog goes to the store, later events follow live. */
  const caughtUpNow = () => {
    flush();
    if (backlog) {
      const whole = backlog;
      backlog = undefined;
      batch(() => {
        setModel(whole);
        setCaughtUp(true);
      });
    } else setCaughtUp(true);
  };

  /** The closed log's snapshot, when there is one: the whole turn in one read. */
  async function fromSnapshot(nc: NatsConnection): Promise<boolean> {
    const kv = await openView(nc, ids.snapshotBucket, conn.jsDomain);
    const e = await kv.get(ids.snapshotKey);
    const snapshot =
      e?.operation === "PUT" && e.length > 0 ? parseLogSnapshot(e.string()) : undefined;
    if (!snapshot || stopping.signal.aborted) return false;
    lastSeq = snapshot.seq;
    backlog = undefined;
    batch(() => {
      setModel(snapshot.model);
      setSource("snapshot");
      const last = snapshot.model.items.findLast((i) => i.kind === "message");
      setTail(last?.kind === "message" ? last.text.slice(-60) : "");
      setCaughtUp(true);
    });
    return true;
  }

  async function once(): Promise<boolean> {
    const nc = await conn.ready(stopping.signal);
    if (!nc || stopping.signal.aborted) return true;
    // Unreadable or missing: the log is replayed, which says what went wrong, if anything.
    if (lastSeq === 0 && (await fromSnapshot(nc).catch(() => false))) return true;
    if (stopping.signal.aborted) return true;
    setSource("events");
    // One request creates the reader (an ordered consumer would first ask for the stream's
    // info): a tab that opens a turn waits one round trip less before the log flows.
    const reader = await openReader(nc, {
      ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
      ...(conn.readers && { slots: conn.readers }),
      ...(conn.makeReader && { make: conn.makeReader }),
      stream: ids.logStream,
      filter: ids.logSubject,
      from: lastSeq > 0 ? { seq: lastSeq + 1 } : { all: true },
      batch: 10_000,
      prefix: "log",
    });
    const messages = reader.messages;
    const release = () => reader.release();
    stopping.signal.addEventListener("abort", release, { once: true });
    current = messages;
    if (stopping.signal.aborted) messages.stop();
    setProblem(undefined);
    // An empty log (a turn that has not started) is caught up at once; asked alongside the
    // first messages, not before them.
    void reader
      .pending()
      .then((n) => {
        if (n === 0 && lastSeq === 0) caughtUpNow();
      })
      .catch(() => undefined);
    for await (const m of messages) {
      // Nothing is acknowledged, so nothing is sent again: a gap (a message lost on the way)
      // means reading on from the last event applied, with a new consumer.
      if (!reader.inOrder(m)) {
        messages.stop();
        release();
        return false;
      }
      lastSeq = m.seq;
      let event: TurnLogEvent;
      try {
        event = registry.parse(m.data);
      } catch (err) {
        setProblem(`an event of this turn could not be read: ${messageOf(err)}`);
        continue;
      }
      pending.push(event);
      if (m.info.pending === 0) {
        caughtUpNow();
      } else if (pending.length >= 5000) flush();
      // A backlog is applied in a few large steps (each step renders the turn again); live
      // updates within a frame or two.
      else timer ??= setTimeout(flush, m.info.pending > 200 ? 250 : 32);
      if (event.type === "LogClosed") {
        caughtUpNow();
        messages.stop();
        release();
        return true;
      }
    }
    flush();
    release();
    return stopping.signal.aborted;
  }

  async function run() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        if (await once()) return;
        failures = 0;
      } catch (err) {
        if (stopping.signal.aborted) return;
        failures++;
        setProblem(messageOf(err));
      } finally {
        current = undefined;
      }
      await delay(Math.max(200, backoffMs(failures)), stopping.signal);
    }
  }

  const offReconnect = conn.onReconnect(() => current?.stop());
  void run();

  return {
    model,
    problem,
    caughtUp,
    source,
    tail,
    stop() {
      stopping.abort();
      offReconnect();
      current?.stop();
      clearTimeout(timer);
    },
  };
}

/** The text of the newest message chunk among `events`, if any. */
function newestChunk(events: readonly TurnLogEvent[]): string | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type !== "AgentUpdate") continue;
    const u = e.data.update as { sessionUpdate: string; content?: unknown };
    if (u.sessionUpdate === "agent_message_chunk") return textOf(u.content);
  }
  return undefined;
}
