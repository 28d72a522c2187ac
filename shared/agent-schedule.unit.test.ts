import { describe, expect, it } from "vitest";
import {
  checkSchedule,
  describeWhen,
  dueAt,
  nextRun,
  runAfter,
  type Schedule,
  type ThreadSchedule,
  wasMissed,
} from "./agent-schedule.js";
import { CocalcError } from "./errors.js";

const base: Schedule = {
  prompt: "check the build",
  when: { kind: "every", minutes: 15 },
  timeZone: "UTC",
  missed: "run-once",
  paused: false,
};
const since = "2026-12-07T10:02:00.000Z";
const at = (iso: string) => new Date(iso);
const t = (s: Partial<Schedule>, lastDue?: string): ThreadSchedule => ({
  schedule: { ...base, ...s },
  by: "user",
  since,
  ...(lastDue && { lastDue }),
});

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof CocalcError ? err.code : "thrown";
  }
  return undefined;
}

describe("scheduled prompts", () => {
  it("every N minutes counts from when it was set, then from the last run", () => {
    expect(nextRun(t({}))?.toISOString()).toBe("2026-12-07T10:17:00.000Z");
    expect(nextRun(t({}, "2026-12-07T10:17:00.000Z"))?.toISOString()).toBe(
      "2026-12-07T10:32:00.000Z",
    );
    expect(nextRun(t({ paused: true }))).toBeUndefined();
  });

  it("daily at a time is read in the schedule's time zone, across a change of summer time", () => {
    const oslo = t({ when: { kind: "daily", time: "09:30" }, timeZone: "Europe/Oslo" });
    // 09:30 in Oslo is 08:30 UTC in winter.
    expect(nextRun(oslo)?.toISOString()).toBe("2026-12-08T08:30:00.000Z");
    const when = { kind: "daily", time: "09:30" } as const;
    const march = runAfter(when, "Europe/Oslo", at(since), at("2027-03-27T12:00:00.000Z"));
    // Summer time from 28 March: 09:30 is 07:30 UTC.
    expect(march?.toISOString()).toBe("2027-03-28T07:30:00.000Z");
  });

  it("a cron expression runs at its times in the time zone", () => {
    const weekdays = t({ when: { kind: "cron", expression: "0 9 * * 1-5" }, timeZone: "UTC" });
    // 7 Dec 2026 is a Monday; since is 10:02, so the next is Tuesday 09:00.
    expect(nextRun(weekdays)?.toISOString()).toBe("2026-12-08T09:00:00.000Z");
    const hourly = t({ when: { kind: "cron", expression: "@hourly" } });
    expect(nextRun(hourly)?.toISOString()).toBe("2026-12-07T11:00:00.000Z");
  });

  it("refuses what cannot run, in words", () => {
    const bad = (s: Partial<Schedule>) => codeOf(() => checkSchedule({ ...base, ...s }));
    expect(bad({})).toBeUndefined();
    expect(bad({ prompt: "   " })).toBe("ERR_AGENT_SCHEDULE");
    expect(bad({ timeZone: "Mars/Olympus" })).toBe("ERR_AGENT_SCHEDULE");
    expect(bad({ when: { kind: "cron", expression: "every tuesday" } })).toBe("ERR_AGENT_SCHEDULE");
    // Six fields (seconds) are not taken: at most one run a minute.
    expect(bad({ when: { kind: "cron", expression: "*/5 * * * * *" } })).toBe("ERR_AGENT_SCHEDULE");
    expect(bad({ when: { kind: "cron", expression: "0 0 31 2 *" } })).toBe("ERR_AGENT_SCHEDULE");
    expect(() =>
      checkSchedule({ ...base, when: { kind: "cron", expression: "61 * * * *" } }),
    ).toThrow(/"61 \* \* \* \*" is not valid: .*five fields/);
  });

  it("what is due: nothing before the next run; after a gap, the latest run time and how many it stands for", () => {
    expect(dueAt(t({}), at("2026-12-07T10:16:59.000Z"))).toBeUndefined();
    expect(dueAt(t({}), at("2026-12-07T10:17:00.000Z"))).toEqual({
      due: at("2026-12-07T10:17:00.000Z"),
      count: 1,
    });
    // Down from 10:10 to 11:40: 10:17, 10:32, 10:47, 11:02, 11:17, 11:32.
    expect(dueAt(t({}), at("2026-12-07T11:40:00.000Z"))).toEqual({
      due: at("2026-12-07T11:32:00.000Z"),
      count: 6,
    });
    const hourly = t({ when: { kind: "cron", expression: "0 * * * *" } });
    expect(dueAt(hourly, at("2026-12-07T14:30:00.000Z"))).toEqual({
      due: at("2026-12-07T14:00:00.000Z"),
      count: 4,
    });
    expect(dueAt(hourly, at("2026-12-07T11:00:00.000Z"))).toEqual({
      due: at("2026-12-07T11:00:00.000Z"),
      count: 1,
    });
    expect(wasMissed(at("2026-12-07T11:00:00.000Z"), at("2026-12-07T11:00:30.000Z"))).toBe(false);
    expect(wasMissed(at("2026-12-07T11:00:00.000Z"), at("2026-12-07T11:02:00.000Z"))).toBe(true);
  });

  it("says when in words", () => {
    expect(describeWhen({ kind: "every", minutes: 1 })).toBe("every minute");
    expect(describeWhen({ kind: "every", minutes: 90 })).toBe("every 90 minutes");
    expect(describeWhen({ kind: "every", minutes: 120 })).toBe("every 2 hours");
    expect(describeWhen({ kind: "daily", time: "07:05" })).toBe("daily at 07:05");
    expect(describeWhen({ kind: "cron", expression: "0 9 * * 1-5" })).toBe("cron 0 9 * * 1-5");
  });
});
