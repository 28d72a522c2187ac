/**
 * Scheduled prompts: a thread runs one prompt on a schedule (every N minutes, daily at a
 * time, or a cron expression, in a time zone), each run a normal turn. The schedule is part
 * of the thread's events; when it runs next follows from it and the last run alone, so the
 * decider, the view and the page compute the same time.
 */
import { type Static, Type } from "@sinclair/typebox";
import { Cron } from "croner";
import { CocalcError } from "./errors.js";

/** Largest scheduled prompt, in characters (a turn's prompt limit). */
const MAX_SCHEDULED_PROMPT = 100_000;
/** A run due longer ago than this when it is seen was missed (plus was down, or asleep). */
export const SCHEDULE_MISSED_AFTER_MS = 60_000;
/** Missed runs are counted up to this many (a schedule of every minute, down for a year). */
export const MAX_COUNTED_MISSED = 10_000;

export const ScheduleWhenSchema = Type.Union([
  Type.Object(
    { kind: Type.Literal("every"), minutes: Type.Integer({ minimum: 1, maximum: 366 * 24 * 60 }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("daily"),
      /** HH:MM, 24-hour clock, in the schedule's time zone. */
      time: Type.String({ pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$" }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("cron"),
      /** Five fields (minute hour day-of-month month day-of-week), or @hourly, @daily… */
      expression: Type.String({ minLength: 1, maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
]);
export type ScheduleWhen = Static<typeof ScheduleWhenSchema>;

export const MissedRunPolicies = ["run-once", "skip"] as const;
export type MissedRunPolicy = (typeof MissedRunPolicies)[number];

export const ScheduleSchema = Type.Object(
  {
    prompt: Type.String({ minLength: 1, maxLength: MAX_SCHEDULED_PROMPT }),
    when: ScheduleWhenSchema,
    /** IANA name ("Europe/Berlin", "UTC"): daily times and cron fields are read in it. */
    timeZone: Type.String({ minLength: 1, maxLength: 100 }),
    /** Runs missed while the service was not running: one run when it is back, or none. */
    missed: Type.Union(MissedRunPolicies.map((p) => Type.Literal(p))),
    paused: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type Schedule = Static<typeof ScheduleSchema>;

/** A schedule as the thread holds it: who set it, since when, and its last run. */
export interface ThreadSchedule {
  schedule: Schedule;
  /** The account that set it: its runs are its turns (its API keys). */
  by: string;
  /** When it was set: "every N minutes" counts from here; nothing before it runs. */
  since: string;
  /** The due time of the last run (or skipped run). */
  lastDue?: string;
}

function zoneOk(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    return true;
  } catch {
    return false;
  }
}

function cronOf(when: Exclude<ScheduleWhen, { kind: "every" }>, timeZone: string): Cron {
  const pattern =
    when.kind === "daily"
      ? `${Number(when.time.slice(3))} ${Number(when.time.slice(0, 2))} * * *`
      : when.expression.trim();
  return new Cron(pattern, { timezone: timeZone, paused: true, mode: "5-part" });
}

/**
 * Refuses what the schema cannot: an unknown time zone, a cron expression that does not
 * parse or never runs. Returns the schedule.
 */
export function checkSchedule(s: Schedule): Schedule {
  if (s.prompt.trim() === "") throw new CocalcError("ERR_AGENT_SCHEDULE", "the prompt is empty");
  if (!zoneOk(s.timeZone)) {
    throw new CocalcError("ERR_AGENT_SCHEDULE", `unknown time zone ${JSON.stringify(s.timeZone)}`);
  }
  if (s.when.kind === "every") return s;
  let cron: Cron;
  try {
    cron = cronOf(s.when, s.timeZone);
  } catch (err) {
    throw new CocalcError(
      "ERR_AGENT_SCHEDULE",
      `the cron expression ${JSON.stringify(s.when.kind === "cron" ? s.when.expression : s.when.time)} is not valid: ${(err as Error).message} (five fields: minute hour day-of-month month day-of-week, e.g. "30 9 * * 1-5")`,
    );
  }
  if (cron.nextRun(new Date()) === null) {
    throw new CocalcError("ERR_AGENT_SCHEDULE", "the cron expression never runs");
  }
  return s;
}

/** The first run time of `when` after `after`; `since` anchors "every N minutes". */
export function runAfter(
  when: ScheduleWhen,
  timeZone: string,
  since: Date,
  after: Date,
): Date | undefined {
  if (when.kind === "every") {
    const step = when.minutes * 60_000;
    const k = Math.max(0, Math.floor((after.getTime() - since.getTime()) / step)) + 1;
    return new Date(since.getTime() + k * step);
  }
  return cronOf(when, timeZone).nextRun(after) ?? undefined;
}

/** When the thread's schedule runs next: none while it is paused. */
export function nextRun(t: ThreadSchedule): Date | undefined {
  if (t.schedule.paused) return undefined;
  const since = new Date(t.since);
  const last = t.lastDue ? new Date(t.lastDue) : since;
  return runAfter(t.schedule.when, t.schedule.timeZone, since, last > since ? last : since);
}

/**
 * What is due at `now`: the latest run time not after it and how many run times since the
 * last run it stands for (1 when none was missed), or nothing when the next run is ahead.
 */
export function dueAt(t: ThreadSchedule, now: Date): { due: Date; count: number } | undefined {
  const next = nextRun(t);
  if (!next || next > now) return undefined;
  const since = new Date(t.since);
  const { when, timeZone } = t.schedule;
  if (when.kind === "every") {
    const step = when.minutes * 60_000;
    const latest = since.getTime() + Math.floor((now.getTime() - since.getTime()) / step) * step;
    return { due: new Date(latest), count: Math.round((latest - next.getTime()) / step) + 1 };
  }
  const cron = cronOf(when, timeZone);
  const latest = cron.previousRuns(1, new Date(now.getTime() + 1))[0] ?? next;
  if (latest <= next) return { due: next, count: 1 };
  // Counted, up to a bound: the number is only said, not acted on.
  let count = 1;
  for (let at: Date | null = next; count < MAX_COUNTED_MISSED; count++) {
    at = cron.nextRun(at);
    if (!at || at >= latest) break;
  }
  return { due: latest, count: count + 1 };
}

/** True when a run due at `due` seen at `now` was missed (not merely a moment late). */
export function wasMissed(due: Date, now: Date): boolean {
  return now.getTime() - due.getTime() > SCHEDULE_MISSED_AFTER_MS;
}

/** "every 15 minutes", "daily at 09:30", "cron 0 * * * *" — for lists and headers. */
export function describeWhen(when: ScheduleWhen): string {
  if (when.kind === "daily") return `daily at ${when.time}`;
  if (when.kind === "cron") return `cron ${when.expression}`;
  const m = when.minutes;
  if (m % (24 * 60) === 0) return m === 24 * 60 ? "every day" : `every ${m / (24 * 60)} days`;
  if (m % 60 === 0) return m === 60 ? "every hour" : `every ${m / 60} hours`;
  return m === 1 ? "every minute" : `every ${m} minutes`;
}
