import { describe, expect, it } from "vitest";
import { BrowserSessions, MAX_SESSIONS, type SignedOut } from "./browser-sessions.js";

describe("browser sessions", () => {
  it("sessions - one account's browser past the limit signs out that account's first, no other's", async () => {
    const sessions = await BrowserSessions.open();
    const gone: SignedOut[] = [];
    sessions.onRevoke((_ids, out) => gone.push(...out));
    const other = await sessions.create("other", "acctB");
    const first = await sessions.create("first", "acctA");
    for (let i = 1; i < MAX_SESSIONS; i++) await sessions.create(`a${i}`, "acctA");
    expect(gone).toEqual([]);
    const last = await sessions.create("one more", "acctA");
    expect(gone.map((s) => s.subject)).toEqual(["acctA"]);
    expect(sessions.verify(first)).toBeUndefined();
    expect(sessions.verify(last)).toBeDefined();
    expect(sessions.verify(other)).toBeDefined();
    expect(sessions.size).toBe(MAX_SESSIONS + 1);
  });

  it("sessions - without accounts (plus) the limit is on all browsers", async () => {
    const sessions = await BrowserSessions.open();
    const first = await sessions.create("first");
    for (let i = 0; i < MAX_SESSIONS; i++) await sessions.create(`b${i}`);
    expect(sessions.verify(first)).toBeUndefined();
    expect(sessions.size).toBe(MAX_SESSIONS);
  });
});
