/**
 * An installation from before terminal lifecycle had a stream of its own: lifecycle in WS_TERM
 * (kept a day), views whose sequences are WS_TERM's, the service's durable there. After the
 * change its terminals, those whose opening is still there and those whose opening expired,
 * are decided on their events alone: they exit, close and open again.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KV, Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, type StoredEvent } from "../../shared/envelope.js";
import {
  Buckets,
  Keys,
  Streams,
  terminalSubjects,
  workspaceTerminalSubjects,
} from "../../shared/subjects.js";
import {
  newTerminalId,
  type TerminalEvent,
  TerminalOpened,
  TerminalResized,
  type TerminalView,
} from "../../shared/terminals.js";
import { allStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { ensureDurable } from "../runtime/consumer.js";
import { applyToView, type Stored } from "../runtime/projection.js";
import { publishEvent } from "../runtime/publish.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import { stopPtyHost } from "./host-client.js";
import { moveLifecycle } from "./lifecycle-move.js";
import { termsProjection } from "./projections.js";
import { terminalRegistry } from "./replay.js";
import { startTerminalsWorker, terminalCommand, terminalView } from "./test-kit.js";

const WORKER = new URL("../../dist/test/helpers/terminals-worker.js", import.meta.url).pathname;
const built = existsSync(WORKER);
if (!built) console.warn(`lifecycle move tests skipped: no ${WORKER} (npm run build)`);

/** The streams as they were: WS_TERM with lifecycle, no WS_TERM_LIFE. */
const before = allStreams()
  .filter((d) => d.name !== Streams.WS_TERM_LIFE)
  .map((d) =>
    d.name === Streams.WS_TERM ? { ...d, subjects: ["ws.*.term.*.out", "ws.*.term.*.life"] } : d,
  );

const at = () => new Date().toISOString();
const resized = (cols: number, rows: number) =>
  envelope(TerminalResized, { cols, rows }, { actor: "terminals", at: at() });
const opened = (generation = 1) =>
  envelope(
    TerminalOpened,
    { generation, title: "old one", cwd: "/tmp", cols: 80, rows: 24 },
    { actor: "user", at: at() },
  );

/** What the old service did: an event on `.life` in WS_TERM, projected with its sequence. */
async function oldEvent(
  t: TestNats,
  terms: KV,
  wsid: string,
  tid: string,
  event: TerminalEvent,
): Promise<void> {
  const subject = terminalSubjects(wsid, tid).life;
  const ack = await publishEvent(t.js, subject, event);
  expect(ack.stream).toBe(Streams.WS_TERM);
  const stored: StoredEvent<TerminalEvent> = { event, seq: ack.seq, subject, time: at() };
  await applyToView(terms, termsProjection, stored);
}

/** The types of a terminal's events in WS_TERM_LIFE. */
async function lifeEvents(t: TestNats, wsid: string, tid: string): Promise<string[]> {
  const subject = terminalSubjects(wsid, tid).life;
  const last = await lastSubjectSeq(t.jsm, Streams.WS_TERM_LIFE, subject);
  const events = await readSubject(t.js, terminalRegistry, Streams.WS_TERM_LIFE, subject, 0, last);
  return events.map((e) => e.event.type);
}

/** The lifecycle subjects of a workspace that still have messages in WS_TERM. */
async function lifeLeftInOld(t: TestNats, wsid: string): Promise<string[]> {
  const filter = workspaceTerminalSubjects(wsid).life;
  const info = await t.jsm.streams.info(Streams.WS_TERM, { subjects_filter: filter });
  return Object.keys(info.state.subjects ?? {});
}

describe.skipIf(!built)("terminal lifecycle moves to its own stream", () => {
  let t: TestNats;
  let terms: KV;
  let home: string;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    t = await setup({ durables: ["terminals"] });
    await ensureStreams(t.jsm, before);
    terms = await new Kvm(t.nc).open(Buckets.terms);
    home = await mkdtemp(join(tmpdir(), "cocalc-term-move-"));
  });
  afterAll(async () => {
    for (const w of workers) w.kill("SIGKILL");
    await stopPtyHost(join(home, ".terminals"));
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  /** A terminal whose events expired: only its view is left, with an old sequence. */
  async function viewOnly(wsid: string, tid: string, generation: number): Promise<void> {
    const view: Stored<TerminalView> = {
      wsid,
      tid,
      title: "expired one",
      status: "running",
      generation,
      cols: 100,
      rows: 30,
      openedAt: "2025-01-01T00:00:00.000Z",
      openedBy: "user",
      updatedAt: "2025-01-01T00:00:00.000Z",
      viewers: [],
      _seq: 987_654,
    };
    await terms.put(Keys.terminal(wsid, tid), JSON.stringify(view));
  }

  it("lifecycle move - terminals made before the change exit, close and open again", async () => {
    const recent = newTerminalId();
    const expired = newTerminalId();
    await oldEvent(t, terms, TEST_WSID, recent, opened());
    await t.js.publish(terminalSubjects(TEST_WSID, recent).out, "output between");
    await oldEvent(t, terms, TEST_WSID, recent, resized(90, 20));
    await viewOnly(TEST_WSID, expired, 2);
    await ensureDurable(
      t.jsm,
      {
        stream: Streams.WS_TERM,
        durable: "terminals",
        filterSubject: workspaceTerminalSubjects(TEST_WSID).life,
      },
      testLog,
    );

    // The new version starts: streams first, as plus does, then the service.
    await ensureStreams(t.jsm);
    const dir = join(home, ".terminals");
    workers.push(
      await startTerminalsWorker(WORKER, { url: t.url, seed: t.seed, wsid: TEST_WSID, dir, home }),
    );

    // Their shells are gone (no pty host ran them): the service records the exits, which the
    // views show only if their sequences are the new stream's.
    for (const tid of [recent, expired])
      await until(`${tid} exited`, async () =>
        (await terminalView(t.nc, TEST_WSID, tid))?.status === "exited" ? true : undefined,
      );
    expect(await terminalView(t.nc, TEST_WSID, recent)).toMatchObject({ cols: 90, rows: 20 });
    expect(await lifeEvents(t, TEST_WSID, recent)).toEqual([
      "TerminalOpened",
      "TerminalResized",
      "TerminalExited",
    ]);
    expect(await lifeEvents(t, TEST_WSID, expired)).toEqual([
      "TerminalCarriedOver",
      "TerminalExited",
    ]);
    expect(await lifeLeftInOld(t, TEST_WSID)).toEqual([]);
    await expect(t.jsm.consumers.info(Streams.WS_TERM, "terminals")).rejects.toThrow();

    for (const tid of [recent, expired]) {
      expect(await terminalCommand(t.nc, TEST_WSID, "CloseTerminal", { tid })).toMatchObject({
        ok: true,
      });
      await until(`${tid} closed`, async () =>
        (await terminalView(t.nc, TEST_WSID, tid)) ? undefined : true,
      );
      expect((await lifeEvents(t, TEST_WSID, tid)).at(-1)).toBe("TerminalClosed");
    }
    // Opened again: the next generation of what the view knew.
    expect(await terminalCommand(t.nc, TEST_WSID, "OpenTerminal", { tid: expired })).toMatchObject({
      ok: true,
    });
    const again = await until("the expired one open again", async () => {
      const v = await terminalView(t.nc, TEST_WSID, expired);
      return v?.status === "running" && v.pid ? v : undefined;
    });
    expect(again.generation).toBe(3);
    expect(await terminalCommand(t.nc, TEST_WSID, "CloseTerminal", { tid: expired })).toMatchObject(
      { ok: true },
    );
  });
});

describe("terminal lifecycle moves to its own stream, again", () => {
  let t: TestNats;
  let terms: KV;
  beforeAll(async () => {
    t = await setup();
    await ensureStreams(t.jsm, before);
    terms = await new Kvm(t.nc).open(Buckets.terms);
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("lifecycle move - a move cut short is finished by the next run, and a finished one moves nothing", async () => {
    const wsid = "movews2";
    const tid = newTerminalId();
    const first = opened();
    await oldEvent(t, terms, wsid, tid, first);
    await oldEvent(t, terms, wsid, tid, resized(81, 25));
    await ensureStreams(t.jsm);
    // A run that copied the first event and stopped there.
    await publishEvent(t.js, terminalSubjects(wsid, tid).life, first, { expectLastSubjectSeq: 0 });

    const move = {
      js: t.js,
      jsm: t.jsm,
      terms,
      wsid,
      durable: `terminals-${wsid}`,
      actor: "terminals",
      log: testLog,
      now: () => new Date(),
    };
    expect(await moveLifecycle(move)).toEqual([tid]);
    expect(await lifeEvents(t, wsid, tid)).toEqual(["TerminalOpened", "TerminalResized"]);
    const view = (await terms.get(Keys.terminal(wsid, tid)))!.json<Stored<TerminalView>>();
    expect(view).toMatchObject({ cols: 81, rows: 25, status: "running" });
    expect(view._seq).toBe(
      await lastSubjectSeq(t.jsm, Streams.WS_TERM_LIFE, terminalSubjects(wsid, tid).life),
    );
    expect(await lifeLeftInOld(t, wsid)).toEqual([]);
    expect(await moveLifecycle(move)).toEqual([]);
    expect(await lifeEvents(t, wsid, tid)).toEqual(["TerminalOpened", "TerminalResized"]);
  });
});
