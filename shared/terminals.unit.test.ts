import { describe, expect, it } from "vitest";
import { browserPermissions } from "./browser-permissions.js";
import type { CocalcError } from "./errors.js";
import {
  Keys,
  terminalIdOfSubject,
  terminalSubjects,
  workspaceTerminalSubjects,
} from "./subjects.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  exitSummary,
  isTerminalId,
  newTerminalId,
  replayStep,
  type SnapshotHeader,
  sizeHeader,
  terminalIdForPath,
  titleForPath,
} from "./terminals.js";

describe("terminals (shared)", () => {
  it("terminal ids: random ones differ, a path always gives the same one", () => {
    expect(newTerminalId()).not.toBe(newTerminalId());
    expect(isTerminalId(newTerminalId())).toBe(true);
    const a = terminalIdForPath("/home/u/a b/ü.term");
    expect(a).toBe(terminalIdForPath("/home/u/a b/ü.term"));
    expect(a).not.toBe(terminalIdForPath("/home/u/a b/u.term"));
    expect(isTerminalId(a)).toBe(true);
    expect(titleForPath("/home/u/build.term")).toBe("build");
  });

  it("snapshots round-trip and bad ones are refused", () => {
    const header: SnapshotHeader = {
      v: 1,
      seq: 42,
      offset: 1234,
      cols: 80,
      rows: 24,
      generation: 1,
      encoding: "none",
      at: "2026-01-01T00:00:00.000Z",
    };
    const data = new TextEncoder().encode("\x1b[31mhello\x1b[0m");
    const back = decodeSnapshot(encodeSnapshot(header, data));
    expect(back.header).toEqual(header);
    expect(new TextDecoder().decode(back.data)).toBe("\x1b[31mhello\x1b[0m");
    for (const bad of [new Uint8Array(3), new TextEncoder().encode("CTS1\0\0\0\xff{}")]) {
      expect(() => decodeSnapshot(bad)).toThrow();
    }
  });

  it("recording messages: chunks and size markers", () => {
    const data = new Uint8Array([104, 105]);
    expect(replayStep(data, "10", undefined)).toEqual({ kind: "output", offset: 10, data });
    expect(replayStep(new Uint8Array(0), "12", sizeHeader(100, 30))).toEqual({
      kind: "resize",
      offset: 12,
      cols: 100,
      rows: 30,
    });
    for (const [offset, size] of [
      [undefined, undefined],
      ["-1", undefined],
      ["1", "0x0"],
      ["1", "80x"],
      ["1", "5000x20"],
    ] as const) {
      let code: string | undefined;
      try {
        replayStep(data, offset, size);
      } catch (err) {
        code = (err as CocalcError).code;
      }
      expect(code, `${offset} ${size}`).toBe("ERR_TERM_INVALID");
    }
  });

  it("subjects, keys, and what the browser may publish", () => {
    const s = terminalSubjects("ws1", "tABCDEFGH");
    expect(s).toMatchObject({
      out: "ws.ws1.term.tABCDEFGH.out",
      life: "ws.ws1.term.tABCDEFGH.life",
      input: "ws.ws1.term.tABCDEFGH.input",
    });
    expect(terminalIdOfSubject(s.out)).toBe("tABCDEFGH");
    expect(terminalIdOfSubject("ws.ws1.cmd.terminals")).toBeUndefined();
    expect(() => terminalSubjects("ws1", "a.b")).toThrow();
    expect(Keys.terminal("ws1", "tABCDEFGH")).toBe("ws1.tABCDEFGH");
    const allow = browserPermissions("ws1", ["terminals"]).publish.allow;
    const w = workspaceTerminalSubjects("ws1");
    expect(allow).toEqual(expect.arrayContaining([w.input, w.resize, w.viewer]));
    // Never the stored subjects: output and lifecycle are written by the service only.
    expect(allow.some((a) => a.startsWith("ws.ws1.term.") && /\.(out|life|>)$/.test(a))).toBe(
      false,
    );
    expect(allow).not.toContain("ws.ws1.>");
  });

  it("exit summaries", () => {
    expect(exitSummary({ code: 3, signal: null, at: "" })).toBe("exited (code 3)");
    expect(exitSummary({ code: null, signal: 9, at: "" })).toBe("exited (signal 9)");
    expect(exitSummary({ code: null, signal: null, at: "" })).toBe("exited");
  });
});
