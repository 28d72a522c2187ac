import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  type ThreadSettings,
  type TurnView,
  threadIdentifiers,
  turnEnded,
  turnIdentifiers,
} from "../../shared/agents.js";
import { answerOf, applyLogEvent, emptyLog } from "../../shared/turn-log-model.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { lastSubjectSeq } from "../runtime/stream-read.js";
import { Supervisor } from "../runtime/supervisor.js";
import { agentsService } from "./index.js";
import type { AgentsServiceOptions } from "./options.js";
import { bubblewrapAvailable } from "./sandbox.js";
import {
  agentCommand,
  agentRequest,
  followLog,
  logSnapshot,
  messagesOf,
  threadView,
  turnView,
} from "./test-kit.js";

const AGENT = new URL("../../test/fixtures/scripted-agent.mjs", import.meta.url).pathname;
const room = roomIdForPath("/tmp/agents-test.chat");
const W = TEST_WSID;

describe("agents service", () => {
  let t: TestNats;
  let home: string;
  let work: string;
  let supervisor: Supervisor;
  const options = (): AgentsServiceOptions => ({
    dataDir: join(home, "data"),
    home,
    initTimeoutMs: 3000,
    sessionTimeoutMs: 5000,
    permissionTimeoutMs: 1500,
  });

  async function startService(opts: AgentsServiceOptions = options()) {
    supervisor = new Supervisor({ nc: t.nc, wsid: W, log: testLog, heartbeatMs: 500 });
    await supervisor.start([agentsService(opts)]);
  }

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["agents"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-agents-home-"));
    work = join(home, "work");
    await mkdir(work);
    await startService();
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  function settings(change: Partial<ThreadSettings> = {}): ThreadSettings {
    return {
      ...defaultThreadSettings(work),
      agent: "custom",
      command: `${process.execPath} ${AGENT}`,
      mode: "full-access",
      ...change,
    };
  }

  async function newThread(change: Partial<ThreadSettings> = {}): Promise<string> {
    const thread = newThreadId();
    const r = await agentCommand(t.nc, W, "CreateThread", {
      room,
      thread,
      title: "test",
      settings: settings(change),
    });
    expect(r).toMatchObject({ ok: true });
    return thread;
  }

  async function submit(thread: string, prompt: string): Promise<string> {
    const turn = newTurnId();
    const r = await agentCommand(t.nc, W, "SubmitTurn", { room, thread, turn, prompt });
    expect(r).toMatchObject({ ok: true });
    return turn;
  }

  async function ended(thread: string, turn: string, ms = 30_000): Promise<TurnView> {
    return until(
      `turn ${turn} ended`,
      async () => {
        const v = await turnView(t.nc, W, thread, turn);
        return v && turnEnded(v.status) ? v : undefined;
      },
      ms,
    );
  }

  async function status(thread: string, turn: string, wanted: TurnView["status"]) {
    return until(`turn ${turn} ${wanted}`, async () => {
      const v = await turnView(t.nc, W, thread, turn);
      return v?.status === wanted ? v : undefined;
    });
  }

  it("two turns back to back: one persisted session, distinct logs, no cross-talk", async () => {
    const thread = await newThread();
    const one = await submit(thread, "session\nsay ALPHA");
    const two = await submit(thread, "session\nsay BETA");
    expect((await ended(thread, one)).status).toBe("finished");
    expect((await ended(thread, two)).status).toBe("finished");
    const view = await threadView(t.nc, W, room, thread);
    expect(view?.sessionId).toMatch(/^scripted-/);
    const a = turnIdentifiers(W, thread, one);
    const b = turnIdentifiers(W, thread, two);
    expect(a.logSubject).not.toBe(b.logSubject);
    const logA = messagesOf(await followLog(t.nc, W, thread, one));
    const logB = messagesOf(await followLog(t.nc, W, thread, two));
    expect(logA).toContain(`session ${view!.sessionId}`);
    expect(logB).toContain(`session ${view!.sessionId}`);
    expect(logA).toContain("ALPHA");
    expect(logA).not.toContain("BETA");
    expect(logB).toContain("BETA");
    expect(logB).not.toContain("ALPHA");
  });

  it("a closed turn's log is stored folded as the page folds its replay; a running one has none", async () => {
    const thread = await newThread();
    const turn = await submit(
      thread,
      "think planning\nplan look|write\nread notes.txt\nusage 10 100\nslow 20 20\nsay done",
    );
    await status(thread, turn, "running");
    expect(await logSnapshot(t.nc, W, thread, turn)).toBeUndefined();
    expect((await ended(thread, turn)).status).toBe("finished");
    const snapshot = await until("snapshot stored", () => logSnapshot(t.nc, W, thread, turn));
    const replayed = await followLog(t.nc, W, thread, turn);
    const folded = emptyLog();
    for (const e of replayed) applyLogEvent(folded, e.event);
    expect(snapshot.model).toEqual(folded);
    expect(snapshot.model.closed).toBe("finished");
    expect(snapshot.seq).toBe(replayed.at(-1)!.seq);
    expect(answerOf(snapshot.model)).toContain("chunk 20 done");
    expect(snapshot.model.items.map((i) => i.kind)).toEqual(
      expect.arrayContaining(["thought", "plan", "tool", "message"]),
    );
  });

  it("a subscriber that joins mid-turn gets every event from the first; two clients see finished", async () => {
    const thread = await newThread();
    const turn = await submit(thread, "think planning\nslow 30 40\nsay done");
    const ids = turnIdentifiers(W, thread, turn);
    await until("a few events stored", async () => {
      const info = await t.jsm.streams.info(ids.logStream, { subjects_filter: ids.logSubject });
      return (info.state.subjects?.[ids.logSubject] ?? 0) >= 6;
    });
    const second = await t.connect("second client");
    const [late, other] = await Promise.all([
      followLog(t.nc, W, thread, turn),
      followLog(second, W, thread, turn),
    ]);
    const finished = await ended(thread, turn);
    expect(finished.status).toBe("finished");
    const all = await followLog(t.nc, W, thread, turn);
    expect(late.map((e) => e.event.id)).toEqual(all.map((e) => e.event.id));
    expect(other.map((e) => e.event.id)).toEqual(all.map((e) => e.event.id));
    expect(messagesOf(late)).toContain("chunk 1 chunk 2");
    expect(messagesOf(late)).toContain("chunk 30 done");
    // Both clients read the same view.
    expect((await turnView(second, W, thread, turn))?.status).toBe("finished");
  });

  it("an agent killed mid-turn: the turn fails with the reason, the next turn works", async () => {
    const thread = await newThread();
    const first = await submit(thread, "session\nslow 200 50");
    await status(thread, first, "running");
    const sessionId = await until(
      "session",
      async () => (await threadView(t.nc, W, room, thread))?.sessionId,
    );
    const pid = Number(/^scripted-(\d+)-/.exec(sessionId)![1]);
    await until(
      "the agent said something",
      async () =>
        (await lastSubjectSeq(
          t.jsm,
          "WS_AGENT_LOG",
          turnIdentifiers(W, thread, first).logSubject,
        )) > 0,
    );
    process.kill(pid, "SIGKILL");
    const failed = await ended(thread, first);
    expect(failed.status).toBe("failed");
    expect(failed.failure?.code).toBe("ERR_AGENT_CRASHED");
    expect(failed.failure?.reason).toMatch(/SIGKILL/);
    const next = await submit(thread, "session\nsay again");
    const ok = await ended(thread, next);
    expect(ok.status).toBe("finished");
    // A new process loaded the thread's session: the id stays.
    expect(messagesOf(await followLog(t.nc, W, thread, next))).toContain(
      `session ${sessionId} loaded`,
    );
    expect((await threadView(t.nc, W, room, thread))?.sessionId).toBe(sessionId);

    const crash = await submit(thread, "say before\ncrash");
    const crashed = await ended(thread, crash);
    expect(crashed.failure?.code).toBe("ERR_AGENT_CRASHED");
    expect(crashed.failure?.reason).toContain("scripted agent crashed on purpose");
  });

  it("stop: the running turn ends cancelled; a queued turn is cancelled too", async () => {
    const thread = await newThread();
    const turn = await submit(thread, "slow 500 100");
    const queued = await submit(thread, "say never");
    expect((await status(thread, queued, "queued")).status).toBe("queued");
    await status(thread, turn, "running");
    await until(
      "streaming",
      async () =>
        (await lastSubjectSeq(t.jsm, "WS_AGENT_LOG", turnIdentifiers(W, thread, turn).logSubject)) >
        0,
    );
    const r1 = await agentCommand(t.nc, W, "InterruptTurn", { room, thread, turn: queued });
    expect(r1).toMatchObject({ ok: true });
    // How fast a stop lands is measured by the agent-log benchmark, not asserted here.
    const r2 = await agentCommand(t.nc, W, "InterruptTurn", { room, thread, turn });
    expect(r2).toMatchObject({ ok: true });
    const v = await ended(thread, turn);
    expect(v.status).toBe("cancelled");
    expect((await turnView(t.nc, W, thread, queued))?.status).toBe("cancelled");
    const log = await followLog(t.nc, W, thread, turn);
    expect(log.at(-1)?.event).toMatchObject({ type: "LogClosed", data: { status: "cancelled" } });

    // An agent that hangs before the turn even starts does not hold up a stop either.
    const hung = await newThread({ command: `${process.execPath} ${AGENT} --no-init` });
    const waiting = await submit(hung, "say hi");
    await status(hung, waiting, "running");
    expect(
      await agentCommand(t.nc, W, "InterruptTurn", { room, thread: hung, turn: waiting }),
    ).toMatchObject({ ok: true });
    // Cancelled, not failed: the stop did not wait for initialize's time limit (3 s here).
    expect((await ended(hung, waiting)).status).toBe("cancelled");
  });

  it("three turns submitted at once run one after another, in order", async () => {
    const thread = await newThread();
    const turns = [newTurnId(), newTurnId(), newTurnId()];
    await Promise.all(
      turns.map((turn, i) =>
        agentCommand(t.nc, W, "SubmitTurn", { room, thread, turn, prompt: `slow 3 30\nsay T${i}` }),
      ),
    );
    const views = [];
    for (const turn of turns) views.push(await ended(thread, turn));
    const byIndex = [...views].sort((a, b) => a.index - b.index);
    for (let i = 0; i < byIndex.length; i++) {
      expect(byIndex[i]!.status).toBe("finished");
      if (i > 0) expect(byIndex[i - 1]!.endedAt! <= byIndex[i]!.startedAt!).toBe(true);
    }
    expect(byIndex.map((v) => v.index)).toEqual([1, 2, 3]);
  });

  it("three threads run at once", async () => {
    const threads = await Promise.all([newThread(), newThread(), newThread()]);
    const turns = await Promise.all(threads.map((th) => submit(th, "slow 40 50")));
    await until("all three running at once", async () => {
      const vs = await Promise.all(threads.map((th, i) => turnView(t.nc, W, th, turns[i]!)));
      return vs.every((v) => v?.status === "running");
    });
    for (let i = 0; i < 3; i++)
      expect((await ended(threads[i]!, turns[i]!)).status).toBe("finished");
  });

  const BWRAP = bubblewrapAvailable();
  if (!BWRAP) console.warn("skipping the sandbox mode tests: bwrap cannot create namespaces here");

  it.skipIf(!BWRAP)("read-only mode refuses writes", async () => {
    const thread = await newThread({ mode: "read-only" });
    const target = join(work, "ro.txt");
    const turn = await submit(thread, `write ${target} hello`);
    expect((await ended(thread, turn)).status).toBe("finished");
    const text = messagesOf(await followLog(t.nc, W, thread, turn));
    expect(text).toContain("write refused: ERR_AGENT_READ_ONLY");
    expect(existsSync(target)).toBe(false);
  });

  it.skipIf(!BWRAP)(
    "workspace-write: writes only under the working directory; commands cannot write outside",
    async () => {
      const outside = await mkdtemp(join(tmpdir(), "cocalc-agents-outside-"));
      try {
        const thread = await newThread({ mode: "workspace-write" });
        const inside = join(work, "inside.txt");
        const turn = await submit(
          thread,
          `write ${inside} inside\nwrite ${join(outside, "x.txt")} nope`,
        );
        expect((await ended(thread, turn)).status).toBe("finished");
        const log = await followLog(t.nc, W, thread, turn);
        expect(messagesOf(log)).toContain("write refused: ERR_AGENT_OUTSIDE_WORKDIR");
        expect(await readFile(inside, "utf8")).toBe("inside\n");
        expect(existsSync(join(outside, "x.txt"))).toBe(false);
        const written = log.find((e) => e.event.type === "FileWritten");
        expect(written?.event.data).toMatchObject({
          path: inside,
          before: null,
          after: "inside\n",
        });

        // Each write records before and after: the turn's edit can be reverted.
        await writeFile(join(work, "edit.txt"), "old text\n");
        const edit = await submit(thread, `write ${join(work, "edit.txt")} new text`);
        await ended(thread, edit);
        expect(await readFile(join(work, "edit.txt"), "utf8")).toBe("new text\n");
        expect(
          await agentRequest(t.nc, W, {
            op: "revert",
            thread,
            turn: edit,
            path: join(work, "edit.txt"),
          }),
        ).toMatchObject({ ok: true });
        expect(await readFile(join(work, "edit.txt"), "utf8")).toBe("old text\n");
        // Changed since: not reverted again.
        expect(
          await agentRequest(t.nc, W, {
            op: "revert",
            thread,
            turn: edit,
            path: join(work, "edit.txt"),
          }),
        ).toMatchObject({ ok: false, error: { code: "ERR_COMMAND_REJECTED" } });

        const run = await submit(
          thread,
          `run echo in > ${join(work, "cmd.txt")}\nrun echo out > ${join(outside, "cmd.txt")}`,
        );
        expect((await ended(thread, run)).status).toBe("finished");
        const text = messagesOf(await followLog(t.nc, W, thread, run));
        expect(await readFile(join(work, "cmd.txt"), "utf8")).toBe("in\n");
        expect(existsSync(join(outside, "cmd.txt"))).toBe(false);
        expect(text).toMatch(/exit 0 .*exit [1-9]/s);

        // The agent process itself is confined too: writing on its own outside fails.
        const self = await submit(
          thread,
          `selfwrite ${join(work, "self.txt")}\nselfwrite ${join(outside, "self.txt")}`,
        );
        expect((await ended(thread, self)).status).toBe("finished");
        const said = messagesOf(await followLog(t.nc, W, thread, self));
        expect(said).toContain(`selfwrite ok ${join(work, "self.txt")}`);
        expect(said).toContain(`selfwrite failed ${join(outside, "self.txt")}`);
        expect(existsSync(join(outside, "self.txt"))).toBe(false);
      } finally {
        await rm(outside, { recursive: true, force: true });
      }
    },
  );

  it("revert a turn: every file it wrote, newest first; refused and nothing changed when a file changed since, unless confirmed", async () => {
    const thread = await newThread();
    const a = join(work, "revert-a.txt");
    const b = join(work, "revert-b.txt");
    const c = join(work, "revert-c.txt");
    await writeFile(a, "a before\n");
    await writeFile(c, "c before\n");
    const turn = await submit(thread, `write ${a} a one\nwrite ${b} b new\nwrite ${a} a two`);
    expect((await ended(thread, turn)).status).toBe("finished");
    const other = await submit(thread, `write ${c} c after`);
    await ended(thread, other);

    // Not ended, unknown, no writes: clear errors.
    expect(
      await agentRequest(t.nc, W, { op: "revertTurn", thread, turn: newTurnId() }),
    ).toMatchObject({ ok: false, error: { code: "ERR_AGENT_TURN_NOT_FOUND" } });
    const quiet = await submit(thread, "say nothing written");
    await ended(thread, quiet);
    expect(await agentRequest(t.nc, W, { op: "revertTurn", thread, turn: quiet })).toMatchObject({
      ok: false,
      error: { code: "ERR_AGENT_REQUEST", message: expect.stringContaining("wrote no files") },
    });

    // b changed after the turn wrote it: refused, and a is left as the turn wrote it too.
    await writeFile(b, "b edited by the user\n");
    const refused = await agentRequest(t.nc, W, { op: "revertTurn", thread, turn });
    expect(refused).toMatchObject({
      ok: false,
      error: { code: "ERR_AGENT_REVERT_CONFLICT", message: expect.stringContaining(b) },
    });
    expect(await readFile(a, "utf8")).toBe("a two\n");
    expect(await readFile(b, "utf8")).toBe("b edited by the user\n");
    expect((await turnView(t.nc, W, thread, turn))?.reverted).toBeUndefined();

    // Confirmed: every file back as before the turn, the newest write first; the other
    // turn's file is untouched; the revert is an event on the thread, projected on the turn.
    const done = await agentRequest<{ reverted: string[] }>(t.nc, W, {
      op: "revertTurn",
      thread,
      turn,
      force: true,
    });
    expect(done).toMatchObject({ ok: true, result: { reverted: [a, b] } });
    expect(await readFile(a, "utf8")).toBe("a before\n");
    expect(existsSync(b)).toBe(false);
    expect(await readFile(c, "utf8")).toBe("c after\n");
    await until(
      "the turn view lists the reverted files",
      async () => {
        const v = await turnView(t.nc, W, thread, turn);
        return v?.reverted?.length === 2 ? v : undefined;
      },
      10_000,
    );
    expect((await turnView(t.nc, W, thread, turn))?.reverted?.sort()).toEqual([a, b].sort());

    // Unchanged since: reverted without asking.
    const again = await submit(thread, `write ${a} a three`);
    await ended(thread, again);
    expect(await agentRequest(t.nc, W, { op: "revertTurn", thread, turn: again })).toMatchObject({
      ok: true,
      result: { reverted: [a] },
    });
    expect(await readFile(a, "utf8")).toBe("a before\n");
  });

  it("files a turn's commands create, change or delete are recorded and put back by reverting the turn; what was not kept is listed with why", async () => {
    const thread = await newThread();
    const dir = join(work, "by-command");
    await mkdir(dir, { recursive: true });
    const kept = join(dir, "kept.txt");
    const gone = join(dir, "gone.txt");
    const made = join(dir, "made.txt");
    const big = join(dir, "big.txt");
    await writeFile(kept, "old\n");
    await writeFile(gone, "bye\n");
    const turn = await submit(
      thread,
      `run cd ${dir} && echo more >> kept.txt && rm gone.txt && echo new > made.txt && head -c 300000 /dev/zero | tr '\\0' a > big.txt`,
    );
    expect((await ended(thread, turn)).status).toBe("finished");
    const log = await followLog(t.nc, W, thread, turn);
    const writes = log.flatMap(({ event: e }) => (e.type === "FileWritten" ? [e.data] : []));
    expect(writes).toEqual(
      expect.arrayContaining([
        { path: kept, before: "old\n", after: "old\nmore\n", truncated: false, byCommand: true },
        { path: made, before: null, after: "new\n", truncated: false, byCommand: true },
        {
          path: gone,
          before: "bye\n",
          after: "",
          truncated: false,
          byCommand: true,
          deleted: true,
        },
      ]),
    );
    const untracked = log.find(({ event: e }) => e.type === "FilesChangedUntracked")?.event;
    expect(untracked?.data).toEqual({
      files: [{ path: big, change: "created", why: "too-large" }],
      more: 0,
      partial: false,
    });

    const done = await agentRequest<{ reverted: string[] }>(t.nc, W, {
      op: "revertTurn",
      thread,
      turn,
    });
    expect(done).toMatchObject({ ok: true });
    expect(await readFile(kept, "utf8")).toBe("old\n");
    expect(await readFile(gone, "utf8")).toBe("bye\n");
    expect(existsSync(made)).toBe(false);
    // Not kept: left as the turn made it.
    expect(existsSync(big)).toBe(true);

    // A turn that runs no command: a file someone else changes meanwhile is not its doing.
    const quiet = await submit(thread, "slow 20 50\nsay done");
    await status(thread, quiet, "running");
    await writeFile(join(dir, "by-the-user.txt"), "mine\n");
    expect((await ended(thread, quiet)).status).toBe("finished");
    const quietLog = await followLog(t.nc, W, thread, quiet);
    expect(quietLog.filter(({ event: e }) => e.type === "FileWritten")).toEqual([]);
  });

  it("edits an agent makes with its own tools (diff content) are recorded and revertible, per file and per turn; a file changed after the agent is a conflict", async () => {
    const thread = await newThread();
    const x = join(work, "tool-x.txt");
    const y = join(work, "tool-y.txt");
    const z = join(work, "tool-z.txt");
    await writeFile(x, "alpha\nbeta\ngamma\n");
    const turn = await submit(
      thread,
      `edit ${x} beta BETA\ncreate ${y} made by a tool\nwrite ${z} through the client`,
    );
    expect((await ended(thread, turn)).status).toBe("finished");
    expect(await readFile(x, "utf8")).toBe("alpha\nBETA\ngamma\n");
    const log = await followLog(t.nc, W, thread, turn);
    const writes = log.flatMap((e) => (e.event.type === "FileWritten" ? [e.event.data] : []));
    expect(writes.map((w) => [w.path, w.before, w.after, w.toolCallId !== undefined])).toEqual([
      [x, "alpha\nbeta\ngamma\n", "alpha\nBETA\ngamma\n", true],
      [y, null, "made by a tool\n", true],
      // Written through the client (and reported as a diff too): recorded once.
      [z, null, "through the client\n", false],
    ]);

    // y changed after the agent: the turn's revert says so and changes nothing.
    await writeFile(y, "the user's y\n");
    expect(await agentRequest(t.nc, W, { op: "revertTurn", thread, turn })).toMatchObject({
      ok: false,
      error: { code: "ERR_AGENT_REVERT_CONFLICT", message: expect.stringContaining(y) },
    });
    expect(await readFile(x, "utf8")).toBe("alpha\nBETA\ngamma\n");
    expect(await agentRequest(t.nc, W, { op: "revert", thread, turn, path: y })).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining("changed after") },
    });
    expect(await readFile(y, "utf8")).toBe("the user's y\n");
    // One file: put back.
    expect(await agentRequest(t.nc, W, { op: "revert", thread, turn, path: x })).toMatchObject({
      ok: true,
    });
    expect(await readFile(x, "utf8")).toBe("alpha\nbeta\ngamma\n");
  });

  it.skipIf(!BWRAP)(
    "a lying agent's diff is not recorded where its mode does not let it write: a revert cannot write for it",
    async () => {
      const inside = join(work, "lies");
      await mkdir(inside, { recursive: true });
      const outsideFile = join(work, "outside-lie.txt");
      await writeFile(outsideFile, "keep\nsafe line\n");
      const insideFile = join(inside, "inside-lie.txt");
      await writeFile(insideFile, "keep\nsafe line\n");
      const cases = [
        {
          mode: "workspace-write" as const,
          path: outsideFile,
          why: /outside the working directory/,
        },
        { mode: "read-only" as const, path: insideFile, why: /read-only/ },
      ];
      for (const c of cases) {
        const thread = await newThread({ mode: c.mode, cwd: inside });
        const turn = await submit(thread, `fakeedit ${c.path} evil safe line`);
        expect((await ended(thread, turn)).status).toBe("finished");
        const log = await followLog(t.nc, W, thread, turn);
        expect(log.some((e) => e.event.type === "FileWritten")).toBe(false);
        const notice = log.find(
          (e) => e.event.type === "AgentNotice" && /cannot be reverted/.test(e.event.data.text),
        );
        expect(notice?.event.type === "AgentNotice" && notice.event.data.text).toMatch(c.why);
        expect(await agentRequest(t.nc, W, { op: "revertTurn", thread, turn })).toMatchObject({
          ok: false,
          error: { message: expect.stringContaining("wrote no files") },
        });
        expect(await readFile(c.path, "utf8")).toBe("keep\nsafe line\n");
      }
    },
  );

  it("the session's modes, config options and slash commands show in the thread's view; the thread's choices are applied and kept", async () => {
    const thread = await newThread({
      model: "large",
      sessionMode: "code",
      options: { effort: "high" },
    });
    const turn = await submit(thread, "config");
    expect((await ended(thread, turn)).status).toBe("finished");
    const log = await followLog(t.nc, W, thread, turn);
    expect(messagesOf(log)).toContain("mode code model large effort high");
    // The offer (commands, the agent's default mode) and the thread's mode applied to it are
    // projected one after the other: wait for both.
    const view = await until("the session's offer shows with the thread's mode", async () => {
      const v = await threadView(t.nc, W, room, thread);
      return v?.session?.commands?.length && v.session.modes?.current === "code" ? v : undefined;
    });
    expect(view.session?.modes?.available.map((m) => m.id)).toEqual(["ask", "code"]);
    expect(
      view.session?.options?.map((o) => [o.id, o.current, o.values.map((v) => v.value)]),
    ).toEqual([
      ["model", "large", ["small", "large"]],
      ["effort", "high", ["low", "high"]],
    ]);
    expect(view.session?.commands).toEqual([
      { name: "review", description: "Review the changes", hint: "what to look at" },
      { name: "init", description: "Write an AGENTS.md" },
    ]);
    // A change of the thread's choice reaches the session at the next turn; a value the
    // agent refuses is said, and the turn goes on.
    expect(
      await agentCommand(t.nc, W, "ChangeThreadSettings", {
        room,
        thread,
        change: { sessionMode: "ask", options: { effort: "extreme" } },
      }),
    ).toMatchObject({ ok: true });
    const next = await submit(thread, "config");
    expect((await ended(thread, next)).status).toBe("finished");
    const later = await followLog(t.nc, W, thread, next);
    expect(messagesOf(later)).toContain("mode ask model large effort high");
    expect(
      later.some(
        (e) =>
          e.event.type === "AgentNotice" &&
          /Reasoning effort extreme was not accepted/.test(e.event.data.text),
      ),
    ).toBe(true);
  });

  it("send now: the running turn is stopped and the new prompt runs next, before the queue", async () => {
    const thread = await newThread();
    const running = await submit(thread, "slow 200 100");
    await status(thread, running, "running");
    const queued = await submit(thread, "say queued");
    const now = newTurnId();
    expect(
      await agentCommand(t.nc, W, "SubmitTurn", {
        room,
        thread,
        turn: now,
        prompt: "say now",
        now: true,
      }),
    ).toMatchObject({ ok: true });
    expect((await ended(thread, running)).status).toBe("cancelled");
    const nowView = await ended(thread, now);
    expect(nowView).toMatchObject({ status: "finished", interrupts: running });
    const queuedView = await ended(thread, queued);
    expect(queuedView.status).toBe("finished");
    // Ran in that order: the one sent now before the one that waited.
    expect(Date.parse(nowView.endedAt!)).toBeLessThanOrEqual(Date.parse(queuedView.startedAt!));
    expect(messagesOf(await followLog(t.nc, W, thread, now))).toContain("now");
  });

  it("permission requests are relayed, answered, and time out", async () => {
    const thread = await newThread();
    const turn = await submit(thread, "ask");
    const request = await until("a permission request", async () => {
      const log = await followLog(t.nc, W, thread, turn, undefined, 300).catch(() => []);
      const r = log.find((e) => e.event.type === "PermissionRequested");
      return r?.event.type === "PermissionRequested" ? r.event.data.request : undefined;
    });
    const wrong = await agentRequest(t.nc, W, {
      op: "answer",
      thread,
      turn,
      request: "pnotarequest1",
      optionId: "allow",
    });
    expect(wrong).toMatchObject({ ok: false, error: { code: "ERR_AGENT_NOT_WAITING" } });
    expect(
      await agentRequest(t.nc, W, { op: "answer", thread, turn, request, optionId: "allow" }),
    ).toMatchObject({ ok: true });
    await ended(thread, turn);
    expect(messagesOf(await followLog(t.nc, W, thread, turn))).toContain("permission: allow");

    const timeout = await submit(thread, "ask");
    await ended(thread, timeout);
    const log = await followLog(t.nc, W, thread, timeout);
    expect(messagesOf(log)).toContain("permission: cancelled");
    expect(
      log.some((e) => e.event.type === "PermissionAnswered" && e.event.data.by === "timeout"),
    ).toBe(true);
  });

  it("bad input gets a clear error or a clear failure on the turn; nothing is stuck", async () => {
    const unknown = await agentCommand(t.nc, W, "SubmitTurn", {
      room,
      thread: newThreadId(),
      turn: newTurnId(),
      prompt: "hi",
    });
    expect(unknown).toMatchObject({ ok: false, error: { code: "ERR_AGENT_THREAD_NOT_FOUND" } });
    const thread = await newThread();
    const empty = await agentCommand(t.nc, W, "SubmitTurn", {
      room,
      thread,
      turn: newTurnId(),
      prompt: " ",
    });
    expect(empty).toMatchObject({ ok: false, error: { code: "ERR_AGENT_PROMPT" } });
    const malformed = await agentCommand(t.nc, W, "SubmitTurn", {
      room,
      thread,
      turn: "x",
      prompt: 5,
    });
    expect(malformed).toMatchObject({ ok: false, error: { code: "ERR_COMMAND_INVALID" } });
    expect(await agentCommand(t.nc, W, "", "{not json")).toMatchObject({
      ok: false,
      error: { code: "ERR_COMMAND_INVALID" },
    });
    expect(await agentRequest(t.nc, W, "{nope")).toMatchObject({
      ok: false,
      error: { code: "ERR_AGENT_REQUEST" },
    });

    const cases: [Partial<ThreadSettings>, string][] = [
      [{ command: `${process.execPath} ${AGENT} --garbage-init` }, "ERR_AGENT_PROTOCOL"],
      [{ command: `${process.execPath} ${AGENT} --no-init` }, "ERR_AGENT_TIMEOUT"],
      [{ command: "/nonexistent/agent-binary" }, "ERR_AGENT_START"],
      [{ cwd: join(home, "missing-dir") }, "ERR_AGENT_SETTINGS"],
    ];
    for (const [change, code] of cases) {
      const th = await newThread(change);
      const turn = await submit(th, "say hi");
      const second = await submit(th, "say again");
      const v = await ended(th, turn);
      expect(v.status).toBe("failed");
      expect(v.failure?.code).toBe(code);
      // The queue goes on: the next turn ends too (the same way), nothing hangs.
      expect((await ended(th, second)).status).toBe("failed");
      const ok = await agentCommand(t.nc, W, "ChangeThreadSettings", {
        room,
        thread: th,
        change: settings(),
      });
      expect(ok).toMatchObject({ ok: true });
      expect((await ended(th, await submit(th, "say fine"))).status).toBe("finished");
    }
    const garbage = await newThread();
    const g = await submit(garbage, "say x\ngarbage\nslow 20 50");
    const gv = await ended(garbage, g);
    expect(gv.failure?.code).toBe("ERR_AGENT_PROTOCOL");
    expect(gv.failure?.reason).toContain("not JSON");
  });

  it("API keys: stored 0600, names only over the wire, passed by environment", async () => {
    const r = await agentRequest<{ names: string[] }>(t.nc, W, {
      op: "setKey",
      name: "OPENAI_API_KEY",
      value: "sk-secret-value",
    });
    expect(r).toMatchObject({ ok: true, result: { names: ["OPENAI_API_KEY"] } });
    expect(JSON.stringify(r)).not.toContain("sk-secret-value");
    const { statSync } = await import("node:fs");
    expect(statSync(join(home, "data", "agent-keys.json")).mode & 0o777).toBe(0o600);
    const thread = await newThread();
    const turn = await submit(thread, "env OPENAI_API_KEY");
    await ended(thread, turn);
    expect(messagesOf(await followLog(t.nc, W, thread, turn))).toContain(
      "env OPENAI_API_KEY=sk-secret-value",
    );
    await agentRequest(t.nc, W, { op: "setKey", name: "OPENAI_API_KEY", value: "" });
  });

  it("archive and delete: an archived thread is kept and marked; a running one is refused deletion; a deleted one leaves no record, turn, log or event, and the others keep theirs", async () => {
    const keep = await newThread();
    const kept = await submit(keep, "say KEPT");
    const gone = await newThread();
    const first = await submit(gone, "say GONE");
    expect((await ended(keep, kept)).status).toBe("finished");
    expect((await ended(gone, first)).status).toBe("finished");

    expect(
      await agentCommand(t.nc, W, "ArchiveThread", { room, thread: keep, archived: true }),
    ).toMatchObject({ ok: true });
    await until("archived", async () => (await threadView(t.nc, W, room, keep))?.archived);
    expect(
      await agentCommand(t.nc, W, "ArchiveThread", { room, thread: keep, archived: false }),
    ).toMatchObject({ ok: true });
    await until("taken back", async () => {
      const v = await threadView(t.nc, W, room, keep);
      return v && v.archived === undefined ? true : undefined;
    });

    // A turn runs: refused, with the reason; nothing changes.
    const running = await submit(gone, "slow 200 50");
    await status(gone, running, "running");
    const busy = await agentCommand(t.nc, W, "DeleteThread", { room, thread: gone });
    expect(busy).toMatchObject({ ok: false, error: { code: "ERR_AGENT_THREAD_BUSY" } });
    expect(await threadView(t.nc, W, room, gone)).toBeDefined();
    expect(
      await agentCommand(t.nc, W, "InterruptTurn", { room, thread: gone, turn: running }),
    ).toMatchObject({ ok: true });
    await ended(gone, running);

    const ids = threadIdentifiers(W, room, gone);
    /** How many messages `stream` holds on subjects matching `filter`. */
    const held = async (stream: string, filter: string) => {
      const info = await t.jsm.streams.info(stream, { subjects_filter: filter });
      return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
    };
    expect(await held("WS_AGENT_LOG", ids.logsFilter)).toBeGreaterThan(0);
    expect(await held("WS_CHAT", ids.subject)).toBeGreaterThan(0);
    await until(
      "its snapshots stored",
      async () =>
        (await logSnapshot(t.nc, W, gone, first)) && (await logSnapshot(t.nc, W, gone, running)),
    );
    expect(await agentCommand(t.nc, W, "DeleteThread", { room, thread: gone })).toMatchObject({
      ok: true,
    });
    await until("its events purged", async () =>
      (await held("WS_CHAT", ids.subject)) === 0 ? true : undefined,
    );
    expect(await threadView(t.nc, W, room, gone)).toBeUndefined();
    expect(await turnView(t.nc, W, gone, first)).toBeUndefined();
    expect(await turnView(t.nc, W, gone, running)).toBeUndefined();
    expect(await held("WS_AGENT_LOG", ids.logsFilter)).toBe(0);
    expect(await logSnapshot(t.nc, W, gone, first)).toBeUndefined();
    expect(await logSnapshot(t.nc, W, gone, running)).toBeUndefined();
    expect(await logSnapshot(t.nc, W, keep, kept)).toBeDefined();
    // Its id is not taken again, and nothing else can be done with it.
    expect(
      await agentCommand(t.nc, W, "SubmitTurn", {
        room,
        thread: gone,
        turn: newTurnId(),
        prompt: "x",
      }),
    ).toMatchObject({ ok: false, error: { code: "ERR_AGENT_THREAD_NOT_FOUND" } });
    // The other thread keeps all it had.
    expect((await turnView(t.nc, W, keep, kept))?.status).toBe("finished");
    expect(messagesOf(await followLog(t.nc, W, keep, kept))).toContain("KEPT");
  });

  it("the queue survives a restart of the service; a cut turn is marked failed", async () => {
    const thread = await newThread();
    const running = await submit(thread, "slow 400 50");
    const a = await submit(thread, "say A");
    const b = await submit(thread, "say B");
    const started = await status(thread, running, "running");
    // A heartbeat while it runs.
    await until(
      "a heartbeat after the start",
      async () => {
        const v = await turnView(t.nc, W, thread, running);
        return v?.heartbeatAt && v.heartbeatAt > started.startedAt! ? v : undefined;
      },
      15_000,
    );
    await supervisor.stop();
    // Another process of the service, as after a crash: nothing in memory.
    await startService();
    const cut = await ended(thread, running);
    expect(cut.status).toBe("failed");
    expect(cut.failure?.code).toBe("ERR_AGENT_RESTARTED");
    const va = await ended(thread, a);
    const vb = await ended(thread, b);
    expect([va.status, vb.status]).toEqual(["finished", "finished"]);
    expect(va.endedAt! <= vb.startedAt!).toBe(true);
    const kv = await new Kvm(t.nc).open("threads");
    expect(kv).toBeDefined();
  });
});
