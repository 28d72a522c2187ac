import { describe, expect, it } from "vitest";
import type { TurnLogEvent } from "./agents.js";
import { envelope } from "./envelope.js";
import {
  answerOf,
  applyLogEvent,
  emptyLog,
  revertableFiles,
  turnMarkdown,
} from "./turn-log-model.js";

const at = "2026-01-01T00:00:00.000Z";
function ev(type: TurnLogEvent["type"], data: object) {
  return envelope({ type, v: 1 }, data, { actor: "agents", at }) as unknown as TurnLogEvent;
}
const say = (text: string) =>
  ev("AgentUpdate", {
    update: { sessionUpdate: "agent_message_chunk", content: { type: "text", text } },
  });

describe("turn log model", () => {
  it("joins consecutive chunks, keeps every chunk of the answer, separates around tool calls", () => {
    const m = emptyLog();
    for (const e of [
      say("# Title\n\n"),
      say("first "),
      say("part"),
      ev("AgentUpdate", {
        update: {
          sessionUpdate: "tool_call",
          toolCallId: "t1",
          title: "Read a",
          kind: "read",
          status: "in_progress",
        },
      }),
      ev("AgentUpdate", {
        update: { sessionUpdate: "tool_call_update", toolCallId: "t1", status: "completed" },
      }),
      say("second part"),
    ])
      applyLogEvent(m, e);
    expect(m.items.map((i) => i.kind)).toEqual(["message", "tool", "message"]);
    expect(m.items[1]).toMatchObject({ status: "completed", title: "Read a" });
    expect(answerOf(m)).toBe("# Title\n\nfirst part\n\nsecond part");
    expect(m.count).toBe(6);
  });

  it("follows commands, permissions and the end of the log; exports with or without thinking", () => {
    const m = emptyLog();
    for (const e of [
      ev("AgentUpdate", {
        update: { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "hmm" } },
      }),
      ev("CommandStarted", {
        terminalId: "c1",
        command: "bash",
        args: ["-c", "ls"],
        cwd: "/tmp",
        sandbox: "bwrap",
      }),
      ev("CommandOutput", { terminalId: "c1", data: "a\n" }),
      ev("CommandOutput", { terminalId: "c1", data: "b\n" }),
      ev("CommandExited", { terminalId: "c1", exitCode: 0, signal: null }),
      ev("PermissionRequested", {
        request: "preq000001",
        title: "rm",
        toolCallId: "t",
        options: [],
        timeoutMs: 10,
      }),
      ev("PermissionAnswered", { request: "preq000001", by: "timeout" }),
      ev("LogClosed", { status: "finished" }),
    ])
      applyLogEvent(m, e);
    expect(m.items[1]).toMatchObject({ kind: "command", output: "a\nb\n", exit: { exitCode: 0 } });
    expect(m.items[2]).toMatchObject({ kind: "permission", answer: "cancelled", by: "timeout" });
    expect(m.closed).toBe("finished");
    expect(turnMarkdown("p", 1, "finished", m, true)).toContain("> hmm");
    expect(turnMarkdown("p", 1, "finished", m, false)).not.toContain("hmm");
    expect(turnMarkdown("p", 1, "finished", m, false)).toContain("$ bash -c ls\na\nb");
  });

  it("a tool call's diffs and the edits recorded for it stay with it; both kinds of write can be reverted", () => {
    const m = emptyLog();
    const tool = (toolCallId: string, path: string, extra: object) =>
      ev("AgentUpdate", {
        update: {
          sessionUpdate: "tool_call",
          toolCallId,
          title: `Edit ${path}`,
          kind: "edit",
          ...extra,
        },
      });
    for (const e of [
      tool("e1", "/w/a.py", {
        status: "in_progress",
        content: [{ type: "diff", path: "/w/a.py", oldText: "x = 1", newText: "x = 2" }],
      }),
      ev("AgentUpdate", {
        update: { sessionUpdate: "tool_call_update", toolCallId: "e1", status: "completed" },
      }),
      ev("FileWritten", {
        path: "/w/a.py",
        before: "x = 1\n",
        after: "x = 2\n",
        truncated: false,
        toolCallId: "e1",
      }),
      // Announced by a diff, written through the client: one entry, with the tool call.
      tool("w1", "/w/b.py", {
        status: "in_progress",
        content: [{ type: "diff", path: "/w/b.py", newText: "b\n" }],
      }),
      ev("FileWritten", { path: "/w/b.py", before: null, after: "b\n", truncated: false }),
      ev("FileWritten", { path: "/w/c.py", before: null, after: "c\n", truncated: false }),
    ])
      applyLogEvent(m, e);
    expect(m.items.map((i) => i.kind)).toEqual(["tool", "tool", "file"]);
    expect(m.items[0]).toMatchObject({
      diffs: [{ path: "/w/a.py", oldText: "x = 1", newText: "x = 2" }],
      recorded: { "/w/a.py": { before: "x = 1\n", after: "x = 2\n" } },
    });
    expect(m.items[1]).toMatchObject({ recorded: { "/w/b.py": { before: null } } });
    expect(revertableFiles(m)).toEqual(["/w/a.py", "/w/b.py", "/w/c.py"]);
  });
});
