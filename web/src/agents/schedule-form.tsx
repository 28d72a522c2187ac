/**
 * A thread's scheduled prompt: what it asks, when (every N minutes or hours, daily at a
 * time, or a cron expression, in a time zone) and what happens to runs missed while the
 * agents were not running. The next run times show as it is typed, and what the service
 * would refuse shows before it is sent. Each run is a normal turn of the thread.
 */
import { createMemo, createSignal, For, Show } from "solid-js";
import {
  checkSchedule,
  describeWhen,
  type MissedRunPolicy,
  runAfter,
  type Schedule,
  type ScheduleWhen,
} from "../../../shared/agent-schedule.js";
import type { ScheduleView } from "../../../shared/agents.js";
import { useAgents } from "./agents-store.js";

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
const zones = (() => {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
})();

/** A run time in the schedule's zone ("Tue 8 Dec, 09:30"), and in the reader's when it differs. */
export function formatRun(iso: string, timeZone: string): string {
  const fmt = (zone: string) =>
    new Intl.DateTimeFormat(undefined, {
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
      timeZone: zone,
    }).format(new Date(iso));
  const there = fmt(timeZone);
  const here = fmt(localZone());
  return there === here ? there : `${there} (${timeZone}; ${here} here)`;
}

/** "next Tue 8 Dec, 09:30", "paused", with the last skipped run if there was one. */
export function scheduleSummary(s: ScheduleView): string {
  const when = describeWhen(s.schedule.when);
  const next = s.next ? `next ${formatRun(s.next, s.schedule.timeZone)}` : "paused";
  const skipped =
    s.last?.skipped === "busy"
      ? " · last run time skipped: the run before it had not ended"
      : s.last?.skipped === "missed"
        ? ` · ${s.last.count} missed run${s.last.count === 1 ? "" : "s"} skipped`
        : "";
  return `${when} · ${next}${skipped}`;
}

type Kind = ScheduleWhen["kind"];

export function ScheduleForm(props: { onDone: () => void }) {
  const agents = useAgents();
  const current = () => agents.selected()?.schedule;
  const s = current()?.schedule;
  const w = s?.when;
  const [prompt, setPrompt] = createSignal(s?.prompt ?? "");
  const [kind, setKind] = createSignal<Kind>(w?.kind ?? "every");
  const everyHours = w?.kind === "every" && w.minutes % 60 === 0;
  const [every, setEvery] = createSignal(
    w?.kind === "every" ? String(everyHours ? w.minutes / 60 : w.minutes) : "60",
  );
  const [unit, setUnit] = createSignal<"minutes" | "hours">(
    w?.kind === "every" && !everyHours ? "minutes" : "hours",
  );
  const [time, setTime] = createSignal(w?.kind === "daily" ? w.time : "09:00");
  const [cron, setCron] = createSignal(w?.kind === "cron" ? w.expression : "0 9 * * 1-5");
  const [zone, setZone] = createSignal(s?.timeZone ?? localZone());
  const [missed, setMissed] = createSignal<MissedRunPolicy>(s?.missed ?? "run-once");
  const [busy, setBusy] = createSignal(false);

  const when = (): ScheduleWhen | string => {
    if (kind() === "daily") return { kind: "daily", time: time() };
    if (kind() === "cron") return { kind: "cron", expression: cron().trim() };
    const n = Number(every());
    const minutes = unit() === "hours" ? n * 60 : n;
    if (!Number.isInteger(minutes) || minutes < 1)
      return "the interval is a whole number, 1 or more";
    if (minutes > 366 * 24 * 60) return "the interval is at most a year";
    return { kind: "every", minutes };
  };
  /** The schedule as typed, or what is wrong with it. */
  const typed = createMemo((): Schedule | string => {
    const at = when();
    if (typeof at === "string") return at;
    const schedule: Schedule = {
      prompt: prompt(),
      when: at,
      timeZone: zone().trim(),
      missed: missed(),
      paused: current()?.schedule.paused ?? false,
    };
    try {
      return checkSchedule(schedule);
    } catch (err) {
      return (err as Error).message;
    }
  });
  /** The next three run times if it were saved now. */
  const preview = createMemo(() => {
    const t = typed();
    if (typeof t === "string") return [];
    const now = new Date();
    const runs: string[] = [];
    let after = now;
    for (let i = 0; i < 3; i++) {
      const next = runAfter(t.when, t.timeZone, now, after);
      if (!next) break;
      runs.push(formatRun(next.toISOString(), t.timeZone));
      after = next;
    }
    return runs;
  });

  const act = async (f: () => Promise<{ ok: boolean }>) => {
    setBusy(true);
    try {
      if ((await f()).ok) props.onDone();
    } finally {
      setBusy(false);
    }
  };
  const save = (e: Event) => {
    e.preventDefault();
    const t = typed();
    if (typeof t !== "string") void act(() => agents.setSchedule(t));
  };
  const pause = (paused: boolean) => {
    const c = current();
    if (c) void act(() => agents.setSchedule({ ...c.schedule, paused }));
  };

  return (
    <form class="agents-settings agents-schedule" data-testid="schedule-form" onSubmit={save}>
      <label class="wide">
        Prompt (each run is a turn of this thread, with its settings and keys)
        <textarea
          data-testid="schedule-prompt"
          value={prompt()}
          placeholder="Look at the failing tests and fix what you can."
          onInput={(e) => setPrompt(e.currentTarget.value)}
        />
      </label>
      <label>
        Runs
        <select
          data-testid="schedule-kind"
          value={kind()}
          onChange={(e) => setKind(e.currentTarget.value as Kind)}
        >
          <option value="every">every …</option>
          <option value="daily">daily at …</option>
          <option value="cron">on a cron expression</option>
        </select>
      </label>
      <Show when={kind() === "every"}>
        <label>
          Every
          <span class="agents-schedule-every">
            <input
              type="number"
              min="1"
              data-testid="schedule-every"
              value={every()}
              onInput={(e) => setEvery(e.currentTarget.value)}
            />
            <select
              data-testid="schedule-unit"
              value={unit()}
              onChange={(e) => setUnit(e.currentTarget.value as "minutes" | "hours")}
            >
              <option value="minutes">minutes</option>
              <option value="hours">hours</option>
            </select>
          </span>
        </label>
      </Show>
      <Show when={kind() === "daily"}>
        <label>
          At
          <input
            type="time"
            data-testid="schedule-time"
            value={time()}
            onInput={(e) => setTime(e.currentTarget.value)}
          />
        </label>
      </Show>
      <Show when={kind() === "cron"}>
        <label>
          Cron expression (minute hour day month weekday)
          <input
            data-testid="schedule-cron"
            value={cron()}
            spellcheck={false}
            onInput={(e) => setCron(e.currentTarget.value)}
          />
        </label>
      </Show>
      <label>
        Time zone
        <input
          data-testid="schedule-zone"
          list="agents-time-zones"
          value={zone()}
          onInput={(e) => setZone(e.currentTarget.value)}
        />
        <datalist id="agents-time-zones">
          <For each={zones}>{(z) => <option value={z} />}</For>
        </datalist>
      </label>
      <label>
        Runs missed while the agents were not running
        <select
          data-testid="schedule-missed"
          value={missed()}
          onChange={(e) => setMissed(e.currentTarget.value as MissedRunPolicy)}
        >
          <option value="run-once">run once when they are back</option>
          <option value="skip">skip them</option>
        </select>
      </label>
      <p class="wide" data-testid="schedule-preview" aria-live="polite">
        <Show
          when={typeof typed() !== "string"}
          fallback={<span class="agents-schedule-error">{typed() as string}</span>}
        >
          <Show when={current()?.schedule.paused}>
            <strong>Paused.</strong>{" "}
          </Show>
          Next runs: {preview().join(" · ")}
        </Show>
      </p>
      <div class="agents-settings-actions wide">
        <button
          type="submit"
          class="button primary"
          data-testid="schedule-save"
          disabled={busy() || typeof typed() === "string"}
        >
          {current() ? "Save schedule" : "Schedule"}
        </button>
        <Show when={current()}>
          {(c) => (
            <>
              <button
                type="button"
                class="button"
                data-testid="schedule-pause"
                disabled={busy()}
                onClick={() => pause(!c().schedule.paused)}
              >
                {c().schedule.paused ? "Resume" : "Pause"}
              </button>
              <button
                type="button"
                class="button"
                data-testid="schedule-remove"
                disabled={busy()}
                onClick={() => void act(() => agents.removeSchedule())}
              >
                Remove schedule
              </button>
            </>
          )}
        </Show>
        <button type="button" class="button" onClick={props.onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
