/**
 * Moves a workspace's terminal lifecycle out of WS_TERM, which kept it one day with the
 * output, into WS_TERM_LIFE, which keeps it as long as terminals live. The terminals service
 * runs it before it serves; once done it finds nothing to move, and a run cut short anywhere
 * is finished by the next:
 * - each terminal's events still in WS_TERM are copied in order (those an earlier run copied
 *   are known by their event id), then purged from there;
 * - a terminal of the `terms` view whose opening had expired starts its new lifecycle with
 *   TerminalCarriedOver (what the view knew), so that it folds to where the view is and a
 *   command about it is decided on its events alone;
 * - each moved terminal's view is folded again over its new events, so that the sequence it
 *   stores is one of WS_TERM_LIFE;
 * - the service's durable on WS_TERM goes; its durable on WS_TERM_LIFE starts after the moved
 *   events, which the old one had handled.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { fold } from "../../shared/decider.js";
import { envelope, type StoredEvent } from "../../shared/envelope.js";
import {
  Keys,
  Streams,
  terminalIdOfSubject,
  terminalSubjects,
  workspaceTerminalSubjects,
} from "../../shared/subjects.js";
import {
  TerminalCarriedOver,
  type TerminalEvent,
  type TerminalView,
} from "../../shared/terminals.js";
import { ensureDurable } from "../runtime/consumer.js";
import type { Logger } from "../runtime/logger.js";
import { refoldView, type Stored } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { terminalDecider } from "./decider.js";
import { termsProjection } from "./projections.js";
import { terminalRegistry } from "./replay.js";

export interface LifecycleMove {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The `terms` view. */
  terms: KV;
  wsid: string;
  /** The terminals service's durable name (the same on both streams). */
  durable: string;
  /** Who TerminalCarriedOver names as its actor. */
  actor: string;
  log: Logger;
  now(): Date;
}

/** Moves what is left to move; returns the terminals moved. */
export async function moveLifecycle(o: LifecycleMove): Promise<string[]> {
  const filter = workspaceTerminalSubjects(o.wsid).life;
  const [inOld, inNew, views] = await Promise.all([
    subjectsIn(o.jsm, Streams.WS_TERM, filter),
    subjectsIn(o.jsm, Streams.WS_TERM_LIFE, filter),
    terminalViews(o.terms, o.wsid),
  ]);
  const tids = new Set<string>();
  for (const subject of inOld) tids.add(terminalIdOfSubject(subject)!);
  for (const tid of views.keys()) if (!inNew.has(terminalSubjects(o.wsid, tid).life)) tids.add(tid);
  for (const tid of tids) await moveTerminal(o, tid, views.get(tid));

  const lifeDurable = {
    stream: Streams.WS_TERM_LIFE,
    durable: o.durable,
    filterSubject: filter,
  };
  if (await hasDurable(o.jsm, Streams.WS_TERM, o.durable)) {
    const { last_seq } = (await o.jsm.streams.info(Streams.WS_TERM_LIFE)).state;
    await ensureDurable(o.jsm, lifeDurable, o.log, last_seq + 1);
    await o.jsm.consumers.delete(Streams.WS_TERM, o.durable);
  }
  if (tids.size > 0)
    o.log.info({ terminals: tids.size }, "terminal lifecycle moved to its own stream");
  return [...tids];
}

async function moveTerminal(
  o: LifecycleMove,
  tid: string,
  view: Stored<TerminalView> | undefined,
): Promise<void> {
  const life = terminalSubjects(o.wsid, tid).life;
  const old = parsed(o, await messagesOn(o.jsm, Streams.WS_TERM, life));
  const moved: Moved[] = parsed(o, await messagesOn(o.jsm, Streams.WS_TERM_LIFE, life));
  let last = moved.at(-1)?.seq ?? 0;
  const stored = (event: TerminalEvent, seq: number): Moved => ({
    event,
    seq,
    subject: life,
    time: o.now().toISOString(),
  });
  const state = fold(
    terminalDecider,
    old.map((e) => e.event),
  );
  if (moved.length === 0 && view && state.status === "none") {
    const event = carriedOver(o, view);
    last = (await publishEvent(o.js, life, event, { expectLastSubjectSeq: last })).seq;
    moved.push(stored(event, last));
  }
  const have = new Set(moved.map((e) => e.event.id));
  for (const e of old) {
    if (have.has(e.event.id)) continue;
    // As stored: an event is upgraded when read, never rewritten.
    const ack = await o.js.publish(life, e.data, {
      msgID: e.event.id,
      expect: { lastSubjectSequence: last },
    });
    last = ack.seq;
    moved.push(stored(e.event, last));
  }
  await refoldView(o.terms, termsProjection, Keys.terminal(o.wsid, tid), moved);
  if (old.length > 0) await o.jsm.streams.purge(Streams.WS_TERM, { filter: life });
}

/** What the view knew of a terminal, as the event that starts its lifecycle. */
function carriedOver(o: LifecycleMove, v: TerminalView): TerminalEvent {
  return envelope(
    TerminalCarriedOver,
    {
      generation: v.generation,
      title: v.title,
      ...(v.cwd !== undefined && { cwd: v.cwd }),
      ...(v.path !== undefined && { path: v.path }),
      status: v.status,
      cols: v.cols,
      rows: v.rows,
      ...(v.exit !== undefined && { exit: v.exit }),
      openedAt: v.openedAt,
      openedBy: v.openedBy,
    },
    { actor: o.actor, at: o.now() },
  );
}

type Moved = StoredEvent<TerminalEvent>;

function parsed(o: LifecycleMove, messages: StoredMsg[]): (Moved & { data: Uint8Array })[] {
  return messages.flatMap((m) => {
    try {
      const event = terminalRegistry.parse(m.data);
      return [{ event, seq: m.seq, subject: m.subject, time: m.time.toISOString(), data: m.data }];
    } catch (err) {
      o.log.warn({ seq: m.seq, subject: m.subject, err }, "invalid lifecycle event not moved");
      return [];
    }
  });
}

/** The subjects under `filter` that have messages in `stream`. */
async function subjectsIn(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<Set<string>> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return new Set(Object.keys(info.state.subjects ?? {}));
}

/**
 * Every message on `subject`, in order, by direct gets: a consumer's filter must lie within
 * its stream's subjects, and WS_TERM's no longer hold lifecycle.
 */
async function messagesOn(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  for (let seq = 1; ; ) {
    // STREAM.MSG.GET takes `next_by_subj` (nats-server 2.9); nats.js types it for direct gets only.
    const query = { seq, next_by_subj: subject } as unknown as MsgRequest;
    const m = await jsm.streams.getMessage(stream, query).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === NO_MESSAGE) return null;
      throw err;
    });
    if (!m) return out;
    out.push(m);
    seq = m.seq + 1;
  }
}

const NO_MESSAGE = 10037;

async function terminalViews(terms: KV, wsid: string): Promise<Map<string, Stored<TerminalView>>> {
  const views = new Map<string, Stored<TerminalView>>();
  for await (const key of await terms.keys(Keys.terminals(wsid))) {
    const e = await terms.get(key);
    if (e?.operation === "PUT" && e.length > 0) {
      const v = e.json<Stored<TerminalView>>();
      views.set(v.tid, v);
    }
  }
  return views;
}

async function hasDurable(jsm: JetStreamManager, stream: string, name: string): Promise<boolean> {
  try {
    await jsm.consumers.info(stream, name);
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)
      return false;
    throw err;
  }
}
