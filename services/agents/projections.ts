import type { KV } from "@nats-io/kv";
import { nextRun } from "../../shared/agent-schedule.js";
import {
  type ScheduleView,
  type ThreadEvent,
  ThreadEvents,
  type ThreadView,
  type TurnView,
  threadIdentifiers,
  turnIdentifiers,
} from "../../shared/agents.js";
import type { StoredEvent } from "../../shared/envelope.js";
import { withRejection } from "../../shared/rejections.js";
import { Buckets } from "../../shared/subjects.js";
import type { Projection } from "../runtime/projection.js";

const types = new Set<string>(ThreadEvents.map((e) => e.type));

/** `ws.<wsid>.chat.<room>.<thread>` → its parts. */
export function threadOfSubject(
  subject: string,
): { wsid: string; room: string; thread: string } | undefined {
  const p = subject.split(".");
  if (p.length !== 5 || p[0] !== "ws" || p[2] !== "chat") return undefined;
  return { wsid: p[1]!, room: p[3]!, thread: p[4]! };
}

function parts(e: StoredEvent) {
  const t = threadOfSubject(e.subject);
  if (!t) throw new Error(`not a thread subject: ${e.subject}`);
  return t;
}

/** The `threads` view: one value per thread. */
export const threadsProjection: Projection<ThreadView, ThreadEvent> = {
  name: "threads",
  bucket: Buckets.threads,
  canHandle: (e): e is ThreadEvent => types.has(e.type),
  key: (e) => {
    const { wsid, room, thread } = parts(e);
    return threadIdentifiers(wsid, room, thread).key;
  },
  rejected: withRejection,
  evolve(view, stored) {
    const { event } = stored;
    const at = event.at;
    if (event.type === "ThreadCreated") {
      if (view) return view;
      const { wsid, room, thread } = parts(stored);
      return {
        wsid,
        room,
        thread,
        title: event.data.title,
        settings: event.data.settings,
        queue: [],
        turnCount: 0,
        createdAt: at,
        updatedAt: at,
      };
    }
    if (!view) return null;
    const end = (turn: string): ThreadView => {
      const { running, ...rest } = view;
      return {
        ...rest,
        ...(running !== undefined && running !== turn && { running }),
        queue: view.queue.filter((t) => t !== turn),
        updatedAt: at,
      };
    };
    switch (event.type) {
      case "ThreadArchived": {
        const { archived: _a, ...rest } = view;
        return { ...rest, ...(event.data.archived && { archived: true }), updatedAt: at };
      }
      case "ThreadDeleted":
        return null;
      case "ThreadSettingsChanged":
        return {
          ...view,
          settings: { ...view.settings, ...event.data.change },
          ...(event.data.title !== undefined && { title: event.data.title }),
          updatedAt: at,
        };
      case "TurnSubmitted": {
        const run = event.data.scheduled;
        return {
          ...view,
          ...(run &&
            view.schedule && {
              schedule: scheduleView({
                ...view.schedule,
                lastDue: run.due,
                last: { due: run.due, count: run.count, turn: event.data.turn },
              }),
            }),
          queue: event.data.interrupts
            ? [event.data.turn, ...view.queue]
            : [...view.queue, event.data.turn],
          turnCount: Math.max(view.turnCount, event.data.index),
          updatedAt: at,
        };
      }
      case "TurnQueued":
        return view;
      case "TurnStarted":
        return {
          ...view,
          running: event.data.turn,
          queue: view.queue.filter((t) => t !== event.data.turn),
          updatedAt: at,
        };
      case "SessionAssigned":
        return { ...view, sessionId: event.data.sessionId, updatedAt: at };
      case "TurnFinished":
      case "TurnFailed":
        return end(event.data.turn);
      case "TurnInterrupted":
        return view.running === event.data.turn ? view : end(event.data.turn);
      case "FilesReverted":
        return view;
      case "ScheduleSet": {
        const { schedule, since, by } = event.data;
        // The last run stays shown; runs count from `since`, which is after it.
        return {
          ...view,
          schedule: scheduleView({ ...view.schedule, schedule, since, by }),
          updatedAt: at,
        };
      }
      case "ScheduleRemoved": {
        const { schedule: _s, ...rest } = view;
        return { ...rest, updatedAt: at };
      }
      case "ScheduledRunSkipped": {
        if (!view.schedule) return view;
        const { due, count, reason } = event.data;
        return {
          ...view,
          schedule: scheduleView({
            ...view.schedule,
            lastDue: due,
            last: { due, count, skipped: reason },
          }),
          updatedAt: at,
        };
      }
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

/** The schedule with its next run time, computed from it. */
function scheduleView(s: Omit<ScheduleView, "next">): ScheduleView {
  const { next: _n, ...rest } = s as ScheduleView;
  const next = nextRun(rest);
  return { ...rest, ...(next && { next: next.toISOString() }) };
}

type TurnEvent = Extract<ThreadEvent, { data: { turn: string } }>;

/** The `turns` view: one value per turn. The service adds live fields (heartbeat, usage). */
export const turnsProjection: Projection<TurnView, TurnEvent> = {
  name: "turns",
  bucket: Buckets.turns,
  canHandle: (e): e is TurnEvent =>
    types.has(e.type) && typeof (e.data as { turn?: unknown })?.turn === "string",
  key: (e) => {
    const { wsid, thread } = parts(e);
    return turnIdentifiers(wsid, thread, e.event.data.turn).key;
  },
  evolve(view, stored) {
    const { event } = stored;
    const at = event.at;
    if (event.type === "TurnSubmitted") {
      if (view) return view;
      const { wsid, room, thread } = parts(stored);
      return {
        wsid,
        room,
        thread,
        turn: event.data.turn,
        index: event.data.index,
        prompt: event.data.prompt,
        images: event.data.images,
        ...(event.data.interrupts !== undefined && { interrupts: event.data.interrupts }),
        ...(event.data.scheduled && { scheduled: event.data.scheduled }),
        status: "starting",
        submittedAt: at,
        by: event.actor,
      };
    }
    if (!view) return null;
    switch (event.type) {
      case "TurnQueued":
        return view.status === "starting" ? { ...view, status: "queued" } : view;
      case "TurnStarted":
        return { ...view, status: "running", startedAt: at, heartbeatAt: at };
      case "TurnFinished": {
        const { stopping: _s, ...rest } = view;
        return {
          ...rest,
          status: event.data.stopReason === "cancelled" ? "cancelled" : "finished",
          stopReason: event.data.stopReason,
          endedAt: at,
        };
      }
      case "TurnFailed": {
        const { stopping: _s, ...rest } = view;
        return {
          ...rest,
          status: "failed",
          failure: { code: event.data.code, reason: event.data.reason },
          endedAt: at,
        };
      }
      case "TurnInterrupted":
        if (view.status === "running") return { ...view, stopping: true };
        if (view.status === "queued" || view.status === "starting") {
          return { ...view, status: "cancelled", endedAt: at };
        }
        return view;
      case "FilesReverted": {
        const reverted = new Set([...(view.reverted ?? []), ...event.data.paths]);
        return { ...view, reverted: [...reverted] };
      }
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

/** A turn's record in the `turns` view, if it has one. */
export async function readTurnView(turns: KV, key: string): Promise<TurnView | undefined> {
  const e = await turns.get(key);
  return e?.operation === "PUT" && e.length > 0 ? e.json<TurnView>() : undefined;
}
