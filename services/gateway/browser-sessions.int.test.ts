/**
 * Signed-in browsers on disk: the journal survives a kill -9 mid-write (nothing acknowledged
 * is lost, nothing signed out comes back) and a torn last line; a damaged line signs everyone
 * out; the file does not grow without end. Idle and absolute expiry with a moved clock.
 */
import { spawn } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrowserSessions, type SignedOut } from "./browser-sessions.js";

const WORKER = new URL("../../dist/test/helpers/sessions-worker.js", import.meta.url).pathname;
const DAY = 86_400_000;

describe("browser sessions - journal and expiry", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-sessions-"));
  });
  const opened: BrowserSessions[] = [];
  const open = async (...args: Parameters<typeof BrowserSessions.open>) => {
    const s = await BrowserSessions.open(...args);
    opened.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of opened) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sessions - kill -9 while signing in and out loses nothing acknowledged", async () => {
    const file = join(dir, "killed.json");
    const child = spawn(process.execPath, [WORKER, file], { stdio: ["ignore", "pipe", "inherit"] });
    const ins: string[] = [];
    const outs = new Set<string>();
    const exited = new Promise((resolve) => child.once("exit", resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      const [what, credential] = line.split(" ") as [string, string];
      if (what === "in") ins.push(credential);
      else outs.add(credential);
      if (ins.length === 300) child.kill("SIGKILL");
    }
    await exited;
    expect(outs.size).toBeGreaterThan(50);
    const sessions = await open(file);
    for (const c of outs) expect(sessions.verify(c)).toBeUndefined();
    // The oldest still signed in may have been signing out when the kill came: either way.
    const remaining = ins.filter((c) => !outs.has(c));
    for (const c of remaining.slice(1)) expect(sessions.verify(c)).toBeDefined();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("sessions - a torn last line is left out; a damaged line signs everyone out", async () => {
    const file = join(dir, "torn.json");
    const one = await open(file);
    const a = await one.create("a", "acct");
    const b = await one.create("b", "acct");
    const full = (await stat(file)).size;
    // The last write (b's sign-in) cut off halfway, as a crash during it leaves it.
    await truncate(file, full - 40);
    const two = await open(file);
    expect(two.verify(a)).toBeDefined();
    expect(two.verify(b)).toBeUndefined();
    // Opening rewrote the file without the torn line: the next sign-in appends cleanly.
    const c = await two.create("c", "acct");
    const three = await open(file);
    expect(three.verify(a)).toBeDefined();
    expect(three.verify(c)).toBeDefined();

    await appendFile(file, "not json\n");
    await appendFile(file, `${JSON.stringify({ op: "remove", ids: [] })}\n`);
    const damaged = await open(file);
    expect(damaged.size).toBe(0);
    expect(damaged.verify(a)).toBeUndefined();
  });

  it("sessions - the file from before the journal is read, then kept as a journal", async () => {
    const file = join(dir, "legacy.json");
    const first = await open(join(dir, "legacy-source.json"));
    const credential = await first.create("old", "acct");
    const id = first.verify(credential)!;
    const line = (await readFile(join(dir, "legacy-source.json"), "utf8")).split("\n")[1]!;
    const session = (JSON.parse(line) as { session: object }).session;
    await writeFile(file, `${JSON.stringify({ v: 1, sessions: [session] }, null, 2)}\n`);
    const sessions = await open(file);
    expect(sessions.verify(credential)).toBe(id);
    expect((await readFile(file, "utf8")).split("\n")[0]).toContain("cocalc-browser-sessions");
  });

  it("sessions - a sign-in appends one line; the file is compacted when it grows", async () => {
    const file = join(dir, "grow.json");
    const sessions = await open(file);
    const keep = await sessions.create("keep", "acct");
    const before = (await readFile(file, "utf8")).split("\n").length;
    const c = await sessions.create("one", "other");
    expect((await readFile(file, "utf8")).split("\n").length).toBe(before + 1);
    await sessions.revoke(sessions.verify(c)!);
    for (let i = 0; i < 1200; i++) {
      const x = await sessions.create(`b${i}`, "other");
      await sessions.revoke(sessions.verify(x)!);
    }
    // 2400 changes, but the file holds about what is signed in (the one kept).
    expect((await readFile(file, "utf8")).split("\n").length).toBeLessThan(1100);
    const again = await open(file);
    expect(again.size).toBe(1);
    expect(again.verify(keep)).toBeDefined();
  });

  it("sessions - idle 30 days signs out, use keeps it, 90 days after signing in is the end", async () => {
    const file = join(dir, "clock.json");
    let now = Date.parse("2026-01-01T00:00:00Z");
    const limits = { idleMs: 30 * DAY, lifetimeMs: 90 * DAY, now: () => now };
    const sessions = await open(file, limits);
    const gone: SignedOut[] = [];
    sessions.onRevoke((_ids, out) => gone.push(...out));
    const used = await sessions.create("used", "acct");
    const idle = await sessions.create("idle", "acct");
    now += 29 * DAY;
    expect(sessions.verify(used)).toBeDefined();
    now += 2 * DAY; // 31 days: idle's last use was at sign-in, used's two days ago
    expect(sessions.verify(idle)).toBeUndefined();
    expect(sessions.verify(used)).toBeDefined();
    await expect.poll(() => gone.length).toBe(1);
    // Its last use is in the file: a restart keeps it signed in.
    now += 25 * DAY;
    const restarted = await open(file, limits);
    expect(restarted.verify(used)).toBeDefined();
    expect(restarted.verify(idle)).toBeUndefined();
    now += 25 * DAY; // 81 days after signing in, used every 25
    expect(restarted.verify(used)).toBeDefined();
    now += 9 * DAY; // 90: however often it is used
    expect(restarted.verify(used)).toBeUndefined();
    expect(restarted.size).toBe(0);
  });

  it("sessions - expired browsers are swept at the next sign-in and their NATS keys told", async () => {
    let now = Date.parse("2026-03-01T00:00:00Z");
    const sessions = await open(undefined, { idleMs: DAY, now: () => now });
    const gone: SignedOut[] = [];
    sessions.onRevoke((_ids, out) => gone.push(...out));
    const old = await sessions.create("old", "acct");
    await sessions.attachNatsKey(sessions.verify(old)!, "UKEY");
    now += 2 * DAY;
    await sessions.create("new", "other");
    expect(sessions.size).toBe(1);
    expect(gone).toEqual([
      { id: expect.any(String), subject: "acct", natsKeys: ["UKEY"], why: "expired" },
    ]);
  });
});
