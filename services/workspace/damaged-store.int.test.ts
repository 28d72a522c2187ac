/**
 * A damaged store, for real: the WORKSPACES stream's block file truncated while nats-server is
 * down, so the stream ends before what the workspace service's durable and the settings view
 * had seen. The loss is logged with its range, the view is rebuilt from what is left, and new
 * commands apply again (before, they were answered ok and changed nothing).
 */
import { cp, readdir, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Buckets, Keys, Streams, workspaceSubjects } from "../../shared/subjects.js";
import type { SettingsView } from "../../shared/workspace.js";
import { setup, TEST_WSID, type TestNats, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { workspaceService } from "./index.js";

const N = 300;

describe("workspace service - a damaged store", () => {
  let t: TestNats;
  const logged: { level: number; msg: string; from?: number; to?: number; stream?: string }[] = [];
  const log = pino(
    { level: "info" },
    new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split("\n")) if (line) logged.push(JSON.parse(line));
        done();
      },
    }),
  );
  let supervisor: Supervisor | undefined;
  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["workspace"] });
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t.cleanup();
  });

  const subject = workspaceSubjects(TEST_WSID).command("workspace");
  const send = async (data: object) =>
    (
      await t.nc.request(subject, JSON.stringify({ type: "ChangeSettings", data }), {
        timeout: 10_000,
      })
    ).json<{ ok: boolean; error?: { code: string } }>();

  it("a truncated block file while nats-server is down: the loss is logged, the view rebuilt, new commands apply", async () => {
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log, heartbeatMs: 500 });
    await supervisor.start([workspaceService({ defaultTitle: "t0" })]);
    const settings = await new Kvm(t.nc).open(Buckets.settings);
    const view = async () =>
      (await settings.get(Keys.settings(TEST_WSID)).catch(() => null))?.json<
        SettingsView & { _seq: number }
      >();
    for (let i = 1; i <= N; i++) expect((await send({ title: `t${i}` })).ok).toBe(true);
    await until("all projected", async () => (await view())?.settings.title === `t${N}`);
    const seenSeq = (await view())!._seq;

    // nats-server goes down, its block file is cut in half, it comes back (the services stay).
    await t.server.stop();
    const msgs = join(t.dir, "jetstream", "jetstream", "$G", "streams", Streams.WORKSPACES, "msgs");
    const blocks = (await readdir(msgs)).filter((f) => f.endsWith(".blk")).sort();
    expect(blocks.length).toBeGreaterThan(0);
    const block = join(msgs, blocks.at(-1)!);
    await truncate(block, Math.floor((await stat(block)).size / 2));
    await t.server.start();

    const lastSeq = await until("the stream answers", async () =>
      t.jsm.streams
        .info(Streams.WORKSPACES)
        .then((i) => i.state.last_seq)
        .catch(() => undefined),
    );
    expect(lastSeq).toBeLessThan(seenSeq);

    const loss = await until("the loss is logged", async () =>
      logged.find((l) => l.stream === Streams.WORKSPACES && l.level === 50 && l.from),
    );
    expect(loss).toMatchObject({ from: lastSeq + 1, to: seenSeq });
    expect(loss.msg).toMatch(
      new RegExp(`events ${lastSeq + 1}\\.\\.${seenSeq} of stream WORKSPACES are lost`),
    );

    // The view is what the events left make: the title of the last event there.
    const last = await t.jsm.streams.getMessage(Streams.WORKSPACES, { seq: lastSeq });
    const lastTitle = last!.json<{ data: { change?: { title?: string } } }>().data.change?.title;
    expect(lastTitle).toMatch(/^t\d+$/);
    const rebuilt = await until("the view rebuilt", async () => {
      const v = await view();
      return v && v._seq === lastSeq ? v : undefined;
    });
    expect(rebuilt.settings.title).toBe(lastTitle);

    // New events (which reuse the lost sequence numbers) apply.
    const ok = await until("a command applies", async () =>
      send({ color: "#123456" })
        .then((r) => (r.ok ? r : undefined))
        .catch(() => undefined),
    );
    expect(ok.ok).toBe(true);
    await until("the colour projected", async () => (await view())?.settings.color === "#123456");
    expect((await view())?.settings.title).toBe(lastTitle);
  }, 120_000);

  it("an older copy of the stream put back while plus is down: found at start through the views", async () => {
    await supervisor?.stop();
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log, heartbeatMs: 500 });
    await supervisor.start([workspaceService({ defaultTitle: "t0" })]);
    const settings = await new Kvm(t.nc).open(Buckets.settings);
    const view = async () =>
      (await settings.get(Keys.settings(TEST_WSID)).catch(() => null))?.json<
        SettingsView & { _seq: number }
      >();
    await until("a command applies", async () =>
      send({ title: "old copy" })
        .then((r) => r.ok)
        .catch(() => false),
    );
    await until("projected", async () => (await view())?.settings.title === "old copy");

    // A copy of the stream (its consumers' state included), taken while nats-server is down.
    await supervisor.stop();
    await t.server.stop();
    const streams = join(t.dir, "jetstream", "jetstream", "$G", "streams");
    const copy = join(t.dir, "workspaces-copy");
    await cp(join(streams, Streams.WORKSPACES), copy, { recursive: true });
    await t.server.start();
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log, heartbeatMs: 500 });
    await until("the stream answers", async () =>
      t.jsm.streams.info(Streams.WORKSPACES).catch(() => undefined),
    );
    await supervisor.start([workspaceService({ defaultTitle: "t0" })]);
    for (let i = 1; i <= 20; i++) expect((await send({ title: `new ${i}` })).ok).toBe(true);
    await until("projected", async () => (await view())?.settings.title === "new 20");
    const seenSeq = (await view())!._seq;

    // plus stopped, the old copy put back (the views, in their own streams, stay newer).
    await supervisor.stop();
    await t.server.stop();
    await rm(join(streams, Streams.WORKSPACES), { recursive: true });
    await cp(copy, join(streams, Streams.WORKSPACES), { recursive: true });
    await t.server.start();
    const lastSeq = await until("the stream answers", async () =>
      t.jsm.streams
        .info(Streams.WORKSPACES)
        .then((i) => i.state.last_seq)
        .catch(() => undefined),
    );
    expect(lastSeq).toBeLessThan(seenSeq);
    logged.length = 0;
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log, heartbeatMs: 500 });
    await supervisor.start([workspaceService({ defaultTitle: "t0" })]);

    const loss = await until("the loss is logged", async () =>
      logged.find((l) => l.stream === Streams.WORKSPACES && l.level === 50 && l.from),
    );
    expect(loss).toMatchObject({ from: lastSeq + 1, to: seenSeq });
    await until("the view rebuilt", async () => {
      const v = await view();
      return v?._seq === lastSeq && v.settings.title === "old copy";
    });
    expect((await send({ color: "#654321" })).ok).toBe(true);
    await until("the colour projected", async () => (await view())?.settings.color === "#654321");
  }, 120_000);
});
