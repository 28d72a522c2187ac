import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseInputTag } from "../../../shared/terminals.js";
import { GIVE_UP_MS, InputQueue, type InputSend } from "./input-queue.js";

/** A service that writes each number once, in order, like services/terminals/input-order. */
function service() {
  const written: string[] = [];
  const last = new Map<string, number>();
  let up = false;
  const send: InputSend = async (bytes, tagText) => {
    const tag = parseInputTag(tagText)!;
    if (!up) throw new Error("no responders");
    const seen = last.get(tag.stream) ?? tag.acked;
    if (tag.seq <= seen) return { ok: true, seq: seen };
    if (tag.seq > seen + 1) return { ok: false, expect: seen + 1 };
    last.set(tag.stream, tag.seq);
    written.push(new TextDecoder().decode(bytes));
    return { ok: true, seq: tag.seq };
  };
  return { send, written, up: (v: boolean) => (up = v) };
}

describe("terminal input queue", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const text = (s: string) => new TextEncoder().encode(s);

  it("input queue - keys sent while nobody answers are sent again, in order, once each, and the page hears they wait", async () => {
    const s = service();
    const waiting: number[] = [];
    const q = new InputQueue(s.send, { waiting: (n) => waiting.push(n), lost: () => undefined });
    for (const k of ["e", "c", "h", "o"]) q.push(text(k));
    await vi.advanceTimersByTimeAsync(1600);
    expect(waiting.at(-1)).toBe(4);
    expect(q.pending).toBe(4);
    s.up(true);
    await vi.advanceTimersByTimeAsync(1100);
    expect(s.written).toEqual(["e", "c", "h", "o"]);
    expect(q.pending).toBe(0);
    expect(waiting.at(-1)).toBe(0);
    q.push(text("!"));
    await vi.advanceTimersByTimeAsync(10);
    expect(s.written.join("")).toBe("echo!");
    q.stop();
  });

  it("input queue - keys that wait longer than the limit are dropped and the page told; what follows goes on", async () => {
    const s = service();
    const lost: [number, string][] = [];
    const q = new InputQueue(s.send, {
      waiting: () => undefined,
      lost: (n, why) => lost.push([n, why]),
    });
    q.push(text("a"));
    q.push(text("b"));
    await vi.advanceTimersByTimeAsync(GIVE_UP_MS + 1000);
    expect(lost).toEqual([[2, "timeout"]]);
    expect(q.pending).toBe(0);
    s.up(true);
    q.push(text("c"));
    await vi.advanceTimersByTimeAsync(10);
    expect(s.written).toEqual(["c"]);
    q.stop();
  });

  it("input queue - a terminal that does not run: its keys are dropped and the page told", async () => {
    const lost: [number, string][] = [];
    const q = new InputQueue(async () => ({ ok: false, gone: true }), {
      waiting: () => undefined,
      lost: (n, why) => lost.push([n, why]),
    });
    q.push(text("x"));
    await vi.advanceTimersByTimeAsync(10);
    expect(lost).toEqual([[1, "gone"]]);
    expect(q.pending).toBe(0);
    q.stop();
  });
});
