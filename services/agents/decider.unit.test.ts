import { describe, expect, it } from "vitest";
import {
  defaultThreadSettings,
  roomIdForPath,
  shellQuote,
  splitCommand,
  threadIdentifiers,
  turnIdentifiers,
} from "../../shared/agents.js";
import { given } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import { type ThreadCommand, type ThreadDecided, threadDecider } from "./decider.js";

const at = "2026-01-01T00:00:00.000Z";
const room = roomIdForPath("/home/u/a.chat");
const thread = "hthread0001";
const settings = defaultThreadSettings("/home/u");
const cmd = <T extends ThreadCommand["type"]>(type: T, data: unknown) =>
  ({ type, data: { room, thread, ...(data as object) }, actor: "user", at }) as ThreadCommand;
const created: ThreadDecided = { type: "ThreadCreated", data: { title: "t", settings } };
const submitted = (turn: string, index: number): ThreadDecided => ({
  type: "TurnSubmitted",
  data: { turn, index, prompt: "hi", images: [] },
});

function codeOf(err: unknown): string | undefined {
  return err instanceof CocalcError ? err.code : undefined;
}

describe("thread decider", () => {
  it("creates a thread once", () => {
    const c = cmd("CreateThread", { title: "t", settings });
    expect(given(threadDecider, []).when(c).events).toEqual([created]);
    expect(given(threadDecider, [created]).when(c).events).toEqual([]);
  });

  it("archives and takes back a thread once; deletes it only while no turn runs or waits, then knows it no more", () => {
    const archive = (archived: boolean) => cmd("ArchiveThread", { archived });
    const archived: ThreadDecided = { type: "ThreadArchived", data: { archived: true } };
    expect(given(threadDecider, [created]).when(archive(true)).events).toEqual([archived]);
    expect(given(threadDecider, [created, archived]).when(archive(true)).events).toEqual([]);
    expect(given(threadDecider, [created]).when(archive(false)).events).toEqual([]);
    expect(given(threadDecider, [created, archived]).when(archive(false)).events).toEqual([
      { type: "ThreadArchived", data: { archived: false } },
    ]);
    const del = cmd("DeleteThread", {});
    const deleted: ThreadDecided = { type: "ThreadDeleted", data: {} };
    expect(codeOf(given(threadDecider, []).when(del).error)).toBe("ERR_AGENT_THREAD_NOT_FOUND");
    const waiting = [created, submitted("t1", 1)];
    expect(codeOf(given(threadDecider, waiting).when(del).error)).toBe("ERR_AGENT_THREAD_BUSY");
    const running: ThreadDecided[] = [...waiting, { type: "TurnStarted", data: { turn: "t1" } }];
    expect(codeOf(given(threadDecider, running).when(del).error)).toBe("ERR_AGENT_THREAD_BUSY");
    const done: ThreadDecided[] = [
      ...running,
      { type: "TurnFinished", data: { turn: "t1", stopReason: "end_turn" } },
    ];
    expect(given(threadDecider, done).when(del).events).toEqual([deleted]);
    const after = [...done, deleted];
    for (const c of [
      del,
      archive(true),
      cmd("SubmitTurn", { turn: "t2", prompt: "hi" }),
      cmd("CreateThread", { title: "t", settings }),
    ])
      expect(codeOf(given(threadDecider, after).when(c).error), c.type).toBe(
        "ERR_AGENT_THREAD_NOT_FOUND",
      );
  });

  it("refuses a custom agent without a command", () => {
    const c = cmd("CreateThread", { title: "t", settings: { ...settings, agent: "custom" } });
    expect(codeOf(given(threadDecider, []).when(c).error)).toBe("ERR_AGENT_SETTINGS");
  });

  it("refuses secret-looking names in the environment, on create and on change, changing nothing", () => {
    for (const name of [
      "OPENAI_API_KEY",
      "GH_TOKEN",
      "MY_SECRET_THING",
      "db_password",
      "key_Token",
    ]) {
      const c = cmd("CreateThread", {
        title: "t",
        settings: { ...settings, env: { FOO: "1", [name]: "sk-123" } },
      });
      const r = given(threadDecider, []).when(c);
      expect(codeOf(r.error), name).toBe("ERR_AGENT_ENV_SECRET");
      expect((r.error as Error).message).toContain(name);
      expect((r.error as Error).message).toMatch(/API key/);
      expect(r.events).toBeUndefined();
      const change = cmd("ChangeThreadSettings", { change: { env: { [name]: "sk-123" } } });
      const r2 = given(threadDecider, [created]).when(change);
      expect(codeOf(r2.error), name).toBe("ERR_AGENT_ENV_SECRET");
      expect(r2.events).toBeUndefined();
    }
    // Ordinary names pass; so does a change that leaves the environment alone.
    // An empty value blanks an inherited variable and holds no secret.
    const blank = { ...settings, env: { OPENAI_API_KEY: "" } };
    expect(
      given(threadDecider, []).when(cmd("CreateThread", { title: "t", settings: blank })).events,
    ).toHaveLength(1);
    const fine = {
      ...settings,
      env: { RUST_LOG: "debug", KEYBOARD: "us", TOKENIZERS_PARALLELISM: "0" },
    };
    expect(
      given(threadDecider, []).when(cmd("CreateThread", { title: "t", settings: fine })).events,
    ).toHaveLength(1);
    const old: ThreadDecided = {
      type: "ThreadCreated",
      data: { title: "t", settings: { ...settings, env: { OLD_API_KEY: "x" } } },
    };
    expect(
      given(threadDecider, [old]).when(cmd("ChangeThreadSettings", { title: "renamed" })).events,
    ).toHaveLength(1);
  });

  it("refuses turns on an unknown thread and empty prompts", () => {
    const c = cmd("SubmitTurn", { turn: "uturn00001", prompt: "hi" });
    expect(codeOf(given(threadDecider, []).when(c).error)).toBe("ERR_AGENT_THREAD_NOT_FOUND");
    const empty = cmd("SubmitTurn", { turn: "uturn00001", prompt: "  " });
    expect(codeOf(given(threadDecider, [created]).when(empty).error)).toBe("ERR_AGENT_PROMPT");
  });

  it("records a revert only for an ended turn", () => {
    const started: ThreadDecided = { type: "TurnStarted", data: { turn: "uturn00001" } };
    const finished: ThreadDecided = {
      type: "TurnFinished",
      data: { turn: "uturn00001", stopReason: "end_turn" },
    };
    const c = {
      type: "RecordRevert",
      data: { turn: "uturn00001", paths: ["/home/u/a.txt"], forced: false },
      actor: "agents",
      at,
    } as ThreadCommand;
    const running = [created, submitted("uturn00001", 1), started];
    expect(codeOf(given(threadDecider, running).when(c).error)).toBe("ERR_AGENT_TURN_NOT_FOUND");
    expect(given(threadDecider, [...running, finished]).when(c).events).toEqual([
      {
        type: "FilesReverted",
        data: { turn: "uturn00001", paths: ["/home/u/a.txt"], forced: false },
      },
    ]);
  });

  it("queues a turn submitted while another runs or waits, in order", () => {
    const first = cmd("SubmitTurn", { turn: "uturn00001", prompt: "hi" });
    expect(given(threadDecider, [created]).when(first).events).toEqual([
      submitted("uturn00001", 1),
    ]);
    const second = cmd("SubmitTurn", { turn: "uturn00002", prompt: "hi" });
    expect(given(threadDecider, [created, submitted("uturn00001", 1)]).when(second).events).toEqual(
      [submitted("uturn00002", 2), { type: "TurnQueued", data: { turn: "uturn00002", ahead: 1 } }],
    );
    // The same turn id again is the same turn (a retried submit).
    expect(given(threadDecider, [created, submitted("uturn00001", 1)]).when(first).events).toEqual(
      [],
    );
  });

  it("starts only the head of the queue, one at a time", () => {
    const history = [created, submitted("uturn00001", 1), submitted("uturn00002", 2)];
    const start2 = {
      type: "StartTurn",
      data: { turn: "uturn00002" },
      actor: "agents",
      at,
    } as const;
    expect(codeOf(given(threadDecider, history).when(start2).error)).toBe("ERR_COMMAND_REJECTED");
    const start1 = { ...start2, data: { turn: "uturn00001" } };
    expect(given(threadDecider, history).when(start1).events).toEqual([
      { type: "TurnStarted", data: { turn: "uturn00001" } },
    ]);
    const running = [...history, { type: "TurnStarted", data: { turn: "uturn00001" } } as const];
    expect(codeOf(given(threadDecider, running).when(start2).error)).toBe("ERR_COMMAND_REJECTED");
    const finished = [
      ...running,
      { type: "TurnFinished", data: { turn: "uturn00001", stopReason: "end_turn" } } as const,
    ];
    expect(given(threadDecider, finished).when(start2).events).toHaveLength(1);
  });

  it("assigns the session once; a replacement must name the one it replaces", () => {
    const assign = (sessionId: string, replaces?: string) =>
      ({
        type: "AssignSession",
        data: { sessionId, agent: "codex", ...(replaces && { replaces }) },
        actor: "agents",
        at,
      }) as const;
    const one: ThreadDecided = {
      type: "SessionAssigned",
      data: { sessionId: "s1", agent: "codex" },
    };
    expect(given(threadDecider, [created]).when(assign("s1")).events).toEqual([one]);
    expect(given(threadDecider, [created, one]).when(assign("s1")).events).toEqual([]);
    expect(codeOf(given(threadDecider, [created, one]).when(assign("s2")).error)).toBe(
      "ERR_COMMAND_REJECTED",
    );
    expect(given(threadDecider, [created, one]).when(assign("s2", "s1")).events).toHaveLength(1);
  });

  it("interrupts a queued turn at once and a running one once", () => {
    const history = [
      created,
      submitted("uturn00001", 1),
      { type: "TurnStarted", data: { turn: "uturn00001" } } as const,
      submitted("uturn00002", 2),
    ];
    const stop = (turn: string) => cmd("InterruptTurn", { turn });
    expect(given(threadDecider, history).when(stop("uturn00002")).events).toEqual([
      { type: "TurnInterrupted", data: { turn: "uturn00002" } },
    ]);
    const stopped = [
      ...history,
      { type: "TurnInterrupted", data: { turn: "uturn00001" } } as const,
    ];
    expect(given(threadDecider, stopped).when(stop("uturn00001")).events).toEqual([]);
    expect(codeOf(given(threadDecider, history).when(stop("unosuchturn")).error)).toBe(
      "ERR_AGENT_TURN_NOT_FOUND",
    );
  });
});

describe("scheduled prompts in the thread decider", () => {
  const schedule = {
    prompt: "check the build",
    when: { kind: "every", minutes: 15 },
    timeZone: "UTC",
    missed: "run-once",
    paused: false,
  } as const;
  const set: ThreadDecided = {
    type: "ScheduleSet",
    data: { schedule, since: at, by: "user" },
  };
  const due = "2026-01-01T00:15:00.000Z";
  const run = (turn: string, when = due, c = 1, now = due) =>
    ({
      type: "RunSchedule",
      data: { turn, due: when, count: c },
      actor: "acct1",
      at: now,
    }) as ThreadCommand;

  it("is set, checked, kept when set the same again, and removed", () => {
    const r = given(threadDecider, [created]).when(cmd("SetSchedule", { schedule }));
    expect(r.events).toEqual([set]);
    expect(
      given(threadDecider, [created, set]).when(cmd("SetSchedule", { schedule })).events,
    ).toEqual([]);
    const bad = cmd("SetSchedule", { schedule: { ...schedule, timeZone: "Nowhere/City" } });
    expect(codeOf(given(threadDecider, [created]).when(bad).error)).toBe("ERR_AGENT_SCHEDULE");
    expect(codeOf(given(threadDecider, []).when(cmd("SetSchedule", { schedule })).error)).toBe(
      "ERR_AGENT_THREAD_NOT_FOUND",
    );
    const rm = cmd("RemoveSchedule", {});
    expect(given(threadDecider, [created, set]).when(rm).events).toEqual([
      { type: "ScheduleRemoved", data: {} },
    ]);
    expect(given(threadDecider, [created]).when(rm).events).toEqual([]);
  });

  it("a run time becomes a turn once, queued behind a running turn; not before it is due, not when paused or removed", () => {
    const first = given(threadDecider, [created, set]).when(run("tsched001"));
    const submittedRun: ThreadDecided = {
      type: "TurnSubmitted",
      data: {
        turn: "tsched001",
        index: 1,
        prompt: "check the build",
        images: [],
        scheduled: { due, count: 1 },
      },
    };
    expect(first.events).toEqual([submittedRun]);
    // Sent again (the same run time): nothing more.
    expect(
      given(threadDecider, [created, set, submittedRun]).when(run("tsched001")).events,
    ).toEqual([]);
    expect(
      given(threadDecider, [created, set, submittedRun]).when(run("tsched009")).events,
    ).toEqual([]);
    const early = run("tsched002", due, 1, "2026-01-01T00:10:00.000Z");
    expect(codeOf(given(threadDecider, [created, set]).when(early).error)).toBe(
      "ERR_COMMAND_REJECTED",
    );
    const paused: ThreadDecided = {
      type: "ScheduleSet",
      data: { schedule: { ...schedule, paused: true }, since: at, by: "user" },
    };
    expect(given(threadDecider, [created, set, paused]).when(run("tsched003")).events).toEqual([]);
    const removed: ThreadDecided = { type: "ScheduleRemoved", data: {} };
    expect(given(threadDecider, [created, set, removed]).when(run("tsched003")).events).toEqual([]);
    const busy = [
      created,
      set,
      submitted("tuser0001", 1),
      { type: "TurnStarted", data: { turn: "tuser0001" } },
    ] as ThreadDecided[];
    expect(given(threadDecider, busy).when(run("tsched004")).events).toEqual([
      {
        type: "TurnSubmitted",
        data: { ...submittedRun.data, turn: "tsched004", index: 2 } as never,
      },
      { type: "TurnQueued", data: { turn: "tsched004", ahead: 1 } },
    ]);
  });

  it("a run time while the schedule's last run has not ended is skipped as busy; missed ones are skipped when asked", () => {
    const firstRun: ThreadDecided = {
      type: "TurnSubmitted",
      data: {
        turn: "tsched001",
        index: 1,
        prompt: "check the build",
        images: [],
        scheduled: { due, count: 1 },
      },
    };
    const next = "2026-01-01T00:30:00.000Z";
    const still = [
      created,
      set,
      firstRun,
      { type: "TurnStarted", data: { turn: "tsched001" } },
    ] as ThreadDecided[];
    expect(given(threadDecider, still).when(run("tsched002", next, 1, next)).events).toEqual([
      { type: "ScheduledRunSkipped", data: { due: next, count: 1, reason: "busy" } },
    ]);
    const ended = [
      ...still,
      { type: "TurnFinished", data: { turn: "tsched001", stopReason: "end_turn" } },
    ] as ThreadDecided[];
    expect(
      given(threadDecider, ended).when(run("tsched002", next, 1, next)).events?.[0]?.type,
    ).toBe("TurnSubmitted");
    const skip = {
      type: "SkipSchedule",
      data: { due: "2026-01-01T01:00:00.000Z", count: 4 },
      actor: "agents",
      at: "2026-01-01T01:05:00.000Z",
    } as ThreadCommand;
    const skipped: ThreadDecided = {
      type: "ScheduledRunSkipped",
      data: { due: "2026-01-01T01:00:00.000Z", count: 4, reason: "missed" },
    };
    expect(given(threadDecider, [created, set]).when(skip).events).toEqual([skipped]);
    // The skipped run time is taken: a run for it is not made afterwards.
    const late = run("tsched005", "2026-01-01T01:00:00.000Z", 1, "2026-01-01T01:05:00.000Z");
    expect(given(threadDecider, [created, set, skipped]).when(late).events).toEqual([]);
  });
});

describe("agent identifiers", () => {
  it("derives distinct log subjects per turn, inside WS_AGENT_LOG", () => {
    const a = turnIdentifiers("w1", thread, "uturn00001");
    const b = turnIdentifiers("w1", thread, "uturn00002");
    expect(a.logSubject).toBe(`ws.w1.agent.${thread}.uturn00001.log`);
    expect(a.logSubject).not.toBe(b.logSubject);
    expect(a.key).toBe(`w1.${thread}.uturn00001`);
    expect(a.logStream).toBe("WS_AGENT_LOG");
    expect(threadIdentifiers("w1", room, thread).subject).toBe(`ws.w1.chat.${room}.${thread}`);
    expect(() => turnIdentifiers("w1", thread, "bad.turn")).toThrow(CocalcError);
  });

  it("send now: the running turn is interrupted and the new one goes before the queue", () => {
    const started: ThreadDecided = { type: "TurnStarted", data: { turn: "tturn0001" } };
    const queued: ThreadDecided = { type: "TurnQueued", data: { turn: "tturn0002", ahead: 1 } };
    const history = [
      created,
      submitted("tturn0001", 1),
      started,
      submitted("tturn0002", 2),
      queued,
    ];
    const now = cmd("SubmitTurn", { turn: "tturn0003", prompt: "stop that", now: true });
    const r = given(threadDecider, history).when(now);
    expect(r.events).toEqual([
      {
        type: "TurnSubmitted",
        data: {
          turn: "tturn0003",
          index: 3,
          prompt: "stop that",
          images: [],
          interrupts: "tturn0001",
        },
      },
      { type: "TurnQueued", data: { turn: "tturn0003", ahead: 1 } },
      { type: "TurnInterrupted", data: { turn: "tturn0001" } },
    ]);
    const after = [...history, ...(r.events ?? [])].reduce(
      (s, e) => threadDecider.evolve(s, e),
      threadDecider.initialState(),
    );
    expect(after.status === "active" && after.queue).toEqual(["tturn0003", "tturn0002"]);
    // Nothing running: an ordinary submit.
    const idle = given(threadDecider, [created]).when(
      cmd("SubmitTurn", { turn: "tturn0004", prompt: "hi", now: true }),
    );
    expect(idle.events).toEqual([
      { type: "TurnSubmitted", data: { turn: "tturn0004", index: 1, prompt: "hi", images: [] } },
    ]);
  });

  it("splits command lines without expanding anything", () => {
    expect(splitCommand(`node "/a b/agent.js" --x 'y z' \\$HOME`)).toEqual([
      "node",
      "/a b/agent.js",
      "--x",
      "y z",
      "$HOME",
    ]);
    expect(() => splitCommand(`node "x`)).toThrow(CocalcError);
  });

  it("quotes command lines as a shell reads them back", () => {
    expect(shellQuote(["bash", "-c", "touch /usr/probe"])).toBe("bash -c 'touch /usr/probe'");
    const argv = ["printf", "%s", "it's", "", "$HOME", "a\nb"];
    expect(shellQuote(argv)).toBe(`printf %s 'it'\\''s' '' '$HOME' 'a\nb'`);
    expect(splitCommand(shellQuote(["node", "/a b/x.js", "y z"]))).toEqual([
      "node",
      "/a b/x.js",
      "y z",
    ]);
  });
});
