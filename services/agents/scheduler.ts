/**
 * Runs the threads' scheduled prompts. Each thread with a schedule has a timer for its next
 * run time (from the `threads` view, which the service keeps); when it comes, the run is a
 * command on the thread, decided like any other: a turn of the schedule's setter, or a skip.
 * A run time already past by more than a minute when it is seen was missed (the service was
 * down, the machine slept): the schedule says whether it runs once or is skipped.
 */
import type { KV } from "@nats-io/kv";
import { dueAt, nextRun, type ThreadSchedule, wasMissed } from "../../shared/agent-schedule.js";
import {
  scheduledTurnId,
  type ThreadEvent,
  type ThreadView,
  threadIdentifiers,
  workspaceThreadIdentifiers,
} from "../../shared/agents.js";
import type { StoredEvent } from "../../shared/envelope.js";
import type { ServiceContext } from "../runtime/service.js";
import { threadOfSubject } from "./projections.js";
import type { ServiceThreads } from "./threads.js";

/** Timers are set at most this far ahead (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 6 * 60 * 60_000;
const DEFAULT_CHECK_MS = 30_000;

/** Events after which a thread's schedule is looked at again. */
const CHANGES = new Set<ThreadEvent["type"]>([
  "ScheduleSet",
  "ScheduleRemoved",
  "ScheduledRunSkipped",
  "ThreadDeleted",
]);

interface Armed {
  room: string;
  schedule: ThreadSchedule;
  timer?: NodeJS.Timeout;
}

export class Scheduler {
  private readonly armed = new Map<string, Armed>();
  /** Threads a run of which is being decided. */
  private readonly deciding = new Set<string>();
  private readonly check: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly d: {
      ctx: ServiceContext;
      threads: ServiceThreads;
      threadViews: KV;
      checkMs?: number;
    },
  ) {
    this.check = setInterval(() => this.checkAll(), d.checkMs ?? DEFAULT_CHECK_MS);
    this.check.unref();
  }

  /** Arms every schedule the workspace's threads have (at start: missed runs are seen here). */
  async resume(): Promise<void> {
    const ws = workspaceThreadIdentifiers(this.d.ctx.wsid);
    for await (const key of await this.d.threadViews.keys(ws.keys)) {
      const v = await this.view(key);
      if (v?.schedule) this.arm(v.room, v.thread, v.schedule);
    }
  }

  /** What an event of a thread means for its schedule (after the views have it). */
  react({ event, subject }: StoredEvent<ThreadEvent>): void {
    const t = threadOfSubject(subject);
    if (!t || this.stopped) return;
    const relevant =
      CHANGES.has(event.type) || (event.type === "TurnSubmitted" && event.data.scheduled);
    if (!relevant) return;
    void this.view(threadIdentifiers(t.wsid, t.room, t.thread).key)
      .then((v) => this.arm(t.room, t.thread, v?.schedule))
      .catch((err) => this.d.ctx.log.warn({ err, thread: t.thread }, "schedule not re-read"));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.check);
    for (const a of this.armed.values()) clearTimeout(a.timer);
    this.armed.clear();
  }

  private async view(key: string): Promise<ThreadView | undefined> {
    const e = await this.d.threadViews.get(key);
    return e?.operation === "PUT" && e.length > 0 ? e.json<ThreadView>() : undefined;
  }

  private disarm(thread: string): void {
    clearTimeout(this.armed.get(thread)?.timer);
    this.armed.delete(thread);
  }

  private arm(room: string, thread: string, schedule: ThreadSchedule | undefined): void {
    const prior = this.armed.get(thread);
    clearTimeout(prior?.timer);
    const next = schedule && nextRun(schedule);
    if (this.stopped || !schedule || !next) {
      this.disarm(thread);
      return;
    }
    const a: Armed = { room, schedule };
    this.armed.set(thread, a);
    const wait = Math.min(Math.max(0, next.getTime() - this.d.ctx.now().getTime()), MAX_TIMER_MS);
    a.timer = setTimeout(() => void this.fire(thread), wait);
    a.timer.unref();
  }

  private checkAll(): void {
    for (const thread of this.armed.keys()) void this.fire(thread);
  }

  /** Runs (or skips) what is due of the thread's schedule; otherwise sets its timer again. */
  private async fire(thread: string): Promise<void> {
    const a = this.armed.get(thread);
    if (!a || this.deciding.has(thread) || this.stopped) return;
    const { room, schedule: s } = a;
    const now = this.d.ctx.now();
    const due = dueAt(s, now);
    if (!due) {
      this.arm(room, thread, s);
      return;
    }
    this.deciding.add(thread);
    const at = due.due.toISOString();
    try {
      const skip = wasMissed(due.due, now) && s.schedule.missed === "skip";
      const state = skip
        ? await this.d.threads.execute(room, thread, "SkipSchedule", { due: at, count: due.count })
        : await this.d.threads.execute(
            room,
            thread,
            "RunSchedule",
            { turn: scheduledTurnId(thread, at), due: at, count: due.count },
            s.by,
          );
      this.d.ctx.log.info({ thread, due: at, count: due.count, skip }, "scheduled run");
      this.deciding.delete(thread);
      // The thread as decided (its view may not have it yet): the run after this one.
      if (this.armed.get(thread) === a) {
        this.arm(room, thread, state.status === "active" ? state.schedule : undefined);
      }
    } catch (err) {
      // Tried again at the next check.
      this.d.ctx.log.warn({ err, thread, due: at }, "scheduled run not decided");
    } finally {
      this.deciding.delete(thread);
    }
  }
}
