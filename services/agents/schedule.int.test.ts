/**
 * Scheduled prompts against a real nats-server and the scripted agent, on a clock the test
 * moves: a run time becomes a normal turn; runs missed while the service was down run once or
 * are skipped, as the schedule says; a paused schedule does not run.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Schedule } from "../../shared/agent-schedule.js";
import {
  defaultThreadSettings,
  newThreadId,
  roomIdForPath,
  type ThreadView,
  type TurnView,
  turnEnded,
} from "../../shared/agents.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { agentsService } from "./index.js";
import { agentCommand, followLog, messagesOf, threadView, turnView } from "./test-kit.js";

const AGENT = new URL("../../test/fixtures/scripted-agent.mjs", import.meta.url).pathname;
const room = roomIdForPath("/tmp/schedule-test.chat");
const W = TEST_WSID;
const MIN = 60_000;

describe("scheduled prompts", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor | undefined;
  // The service's clock: moved by the tests.
  let clock = Date.parse("2026-12-07T10:00:00.000Z");

  async function start() {
    supervisor = new Supervisor({
      nc: t.nc,
      wsid: W,
      log: testLog,
      heartbeatMs: 500,
      now: () => new Date(clock),
    });
    await supervisor.start([
      agentsService({
        dataDir: join(home, "data"),
        home,
        initTimeoutMs: 3000,
        sessionTimeoutMs: 5000,
        scheduleCheckMs: 100,
      }),
    ]);
  }
  async function stop() {
    await supervisor?.stop();
    supervisor = undefined;
  }

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["agents"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-schedule-home-"));
    await mkdir(join(home, "work"));
    await start();
  });
  afterAll(async () => {
    await stop();
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  async function newThread(): Promise<string> {
    const thread = newThreadId();
    const r = await agentCommand(t.nc, W, "CreateThread", {
      room,
      thread,
      title: "scheduled",
      settings: {
        ...defaultThreadSettings(join(home, "work")),
        agent: "custom",
        command: `${process.execPath} ${AGENT}`,
        mode: "full-access",
      },
    });
    expect(r).toMatchObject({ ok: true });
    return thread;
  }

  const schedule = (s: Partial<Schedule> = {}): Schedule => ({
    prompt: "say tick",
    when: { kind: "every", minutes: 15 },
    timeZone: "UTC",
    missed: "run-once",
    paused: false,
    ...s,
  });

  async function setSchedule(thread: string, s: Schedule) {
    const r = await agentCommand(t.nc, W, "SetSchedule", { room, thread, schedule: s });
    expect(r).toMatchObject({ ok: true });
    return until("the schedule in the view", async () => {
      const v = await threadView(t.nc, W, room, thread);
      return v?.schedule && JSON.stringify(v.schedule.schedule) === JSON.stringify(s)
        ? v
        : undefined;
    });
  }

  const view = async (thread: string) => (await threadView(t.nc, W, room, thread)) as ThreadView;

  async function ended(thread: string, turn: string): Promise<TurnView> {
    return until(`turn ${turn} ended`, async () => {
      const v = await turnView(t.nc, W, thread, turn);
      return v && turnEnded(v.status) ? v : undefined;
    });
  }

  it("a run time becomes a turn of the schedule's setter, runs the prompt, and the next run is shown", async () => {
    const thread = await newThread();
    const v = await setSchedule(thread, schedule());
    expect(v.schedule?.since).toBe(new Date(clock).toISOString());
    const first = new Date(clock + 15 * MIN).toISOString();
    expect(v.schedule?.next).toBe(first);
    // Not yet due: nothing runs.
    clock += 14 * MIN;
    await new Promise((r) => setTimeout(r, 400));
    expect((await view(thread)).turnCount).toBe(0);

    clock += MIN;
    const ran = await until("the scheduled run", async () => {
      const tv = await view(thread);
      return tv.schedule?.last?.turn ? tv : undefined;
    });
    expect(ran.schedule?.last).toMatchObject({ due: first, count: 1 });
    expect(ran.schedule?.next).toBe(new Date(Date.parse(first) + 15 * MIN).toISOString());
    const turn = ran.schedule!.last!.turn!;
    const done = await ended(thread, turn);
    expect(done).toMatchObject({ status: "finished", prompt: "say tick", index: 1 });
    expect(done.scheduled).toEqual({ due: first, count: 1 });
    expect(done.by).toBe(v.schedule?.by);
    expect(messagesOf(await followLog(t.nc, W, thread, turn))).toContain("tick");
    // Only one turn for that run time, however many checks passed.
    await new Promise((r) => setTimeout(r, 400));
    expect((await view(thread)).turnCount).toBe(1);

    await expect(
      agentCommand(t.nc, W, "SetSchedule", {
        room,
        thread,
        schedule: schedule({ when: { kind: "cron", expression: "0 25 * * *" } }),
      }),
    ).resolves.toMatchObject({ ok: false, error: { code: "ERR_AGENT_SCHEDULE" } });
    await agentCommand(t.nc, W, "RemoveSchedule", { room, thread });
    await until("the schedule removed", async () =>
      (await view(thread)).schedule ? undefined : true,
    );
  });

  it("runs missed while the service was down: run once when it is back, or skipped; a paused schedule runs not at all", async () => {
    const once = await newThread();
    const skip = await newThread();
    const paused = await newThread();
    const since = clock;
    await setSchedule(once, schedule());
    await setSchedule(
      skip,
      schedule({ missed: "skip", when: { kind: "cron", expression: "0 * * * *" } }),
    );
    await setSchedule(paused, schedule({ paused: true }));
    expect((await view(paused)).schedule?.next).toBeUndefined();

    await stop();
    clock += 3 * 60 * MIN + 5 * MIN;
    await start();

    const ran = await until("the missed run, once", async () => {
      const tv = await view(once);
      return tv.schedule?.last?.turn ? tv : undefined;
    });
    // Every 15 minutes for 3 h 5 min: 12 run times, the latest at 3 h.
    expect(ran.schedule?.last).toMatchObject({
      due: new Date(since + 180 * MIN).toISOString(),
      count: 12,
    });
    const done = await ended(once, ran.schedule!.last!.turn!);
    expect(done.status).toBe("finished");

    const skipped = await until("the missed runs skipped", async () => {
      const tv = await view(skip);
      return tv.schedule?.last?.skipped ? tv : undefined;
    });
    expect(skipped.schedule?.last).toMatchObject({ skipped: "missed", count: 3 });
    expect(skipped.turnCount).toBe(0);
    expect(Date.parse(skipped.schedule!.next!)).toBeGreaterThan(clock);

    await new Promise((r) => setTimeout(r, 400));
    expect((await view(once)).turnCount).toBe(1);
    expect((await view(paused)).turnCount).toBe(0);
    expect((await view(paused)).schedule?.last).toBeUndefined();
  });
});
