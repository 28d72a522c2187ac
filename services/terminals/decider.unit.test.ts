import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { terminalIdForPath } from "../../shared/terminals.js";
import { type TerminalCommand, type TerminalDecided, terminalDecider } from "./decider.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (c: Omit<TerminalCommand, "actor" | "at">) => ({ ...c, ...meta }) as TerminalCommand;
const tid = "tAAAAAAAAAAAAAAAAAAAAAA";
const opened: TerminalDecided = {
  type: "TerminalOpened",
  data: { generation: 1, title: "Terminal 1", cols: 80, rows: 24 },
};
const exited: TerminalDecided = {
  type: "TerminalExited",
  data: { generation: 1, code: 0, signal: null },
};

describe("terminal decider", () => {
  it("opens once; opening an open terminal decides nothing (the caller attaches)", () => {
    const r = given(terminalDecider, []).when(
      cmd({ type: "OpenTerminal", data: { tid, title: "Terminal 1" } }),
    );
    expect(r.events).toEqual([opened]);
    expect(
      given(terminalDecider, [opened]).when(cmd({ type: "OpenTerminal", data: { tid } })).events,
    ).toEqual([]);
    expect(
      given(terminalDecider, [opened, exited]).when(cmd({ type: "OpenTerminal", data: { tid } }))
        .events,
    ).toEqual([]);
  });

  it("a terminal file: its id comes from the path, cwd is its directory, title its name", () => {
    const path = "/home/me/project/build.term";
    const r = given(terminalDecider, []).when(
      cmd({
        type: "OpenTerminal",
        data: { tid: terminalIdForPath(path), path, cols: 100, rows: 30 },
      }),
    );
    expect(r.events).toEqual([
      {
        type: "TerminalOpened",
        data: { generation: 1, title: "build", cwd: "/home/me/project", path, cols: 100, rows: 30 },
      },
    ]);
    const wrong = given(terminalDecider, []).when(
      cmd({ type: "OpenTerminal", data: { tid, path } }),
    );
    expect((wrong.error as CocalcError).code).toBe("ERR_TERM_INVALID");
  });

  it("restarts a running or exited shell as a new generation", () => {
    const restarted = { type: "TerminalRestarted", data: { generation: 2 } };
    expect(
      given(terminalDecider, [opened, exited]).when(cmd({ type: "RestartTerminal", data: { tid } }))
        .events,
    ).toEqual([restarted]);
    expect(
      given(terminalDecider, [opened]).when(cmd({ type: "RestartTerminal", data: { tid } })).events,
    ).toEqual([restarted]);
    const none = given(terminalDecider, []).when(cmd({ type: "RestartTerminal", data: { tid } }));
    expect((none.error as CocalcError).code).toBe("ERR_TERM_NOT_FOUND");
  });

  it("an exit of an older generation does not end the current shell", () => {
    const restarted: TerminalDecided = { type: "TerminalRestarted", data: { generation: 2 } };
    const state = [opened, restarted, exited].reduce(
      (s, e) => terminalDecider.evolve(s, e),
      terminalDecider.initialState(),
    );
    expect(state).toEqual({ status: "running", generation: 2 });
  });

  it("closes once; a closed terminal opens again as a new generation", () => {
    const closed: TerminalDecided = { type: "TerminalClosed", data: { generation: 1 } };
    expect(
      given(terminalDecider, [opened]).when(cmd({ type: "CloseTerminal", data: { tid } })).events,
    ).toEqual([closed]);
    expect(
      given(terminalDecider, [opened, closed]).when(cmd({ type: "CloseTerminal", data: { tid } }))
        .events,
    ).toEqual([]);
    expect(
      given(terminalDecider, [opened, closed]).when(cmd({ type: "OpenTerminal", data: { tid } }))
        .events?.[0],
    ).toMatchObject({ type: "TerminalOpened", data: { generation: 2 } });
  });

  it("a carried-over terminal is where its view was: it closes, restarts, and exits", () => {
    const carried: TerminalDecided = {
      type: "TerminalCarriedOver",
      data: {
        generation: 3,
        title: "old",
        status: "running",
        cols: 80,
        rows: 24,
        openedAt: meta.at,
        openedBy: "user",
      },
    };
    expect(
      given(terminalDecider, [carried]).when(cmd({ type: "CloseTerminal", data: { tid } })).events,
    ).toEqual([{ type: "TerminalClosed", data: { generation: 3 } }]);
    expect(
      given(terminalDecider, [carried]).when(cmd({ type: "RestartTerminal", data: { tid } }))
        .events,
    ).toEqual([{ type: "TerminalRestarted", data: { generation: 4 } }]);
    expect(
      given(terminalDecider, [carried]).when(cmd({ type: "OpenTerminal", data: { tid } })).events,
    ).toEqual([]);
  });
});
