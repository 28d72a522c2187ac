import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceHealth } from "../../shared/health.js";
import { Buckets, Keys, Streams, workspaceSubjects } from "../../shared/subjects.js";
import type { SettingsView } from "../../shared/workspace.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { readMessage } from "../runtime/rejections.js";
import { lastSubjectSeq, readSubjectMessages } from "../runtime/stream-read.js";
import { Supervisor } from "../runtime/supervisor.js";
import { workspaceRegistry, workspaceService } from "./index.js";

describe("workspace service", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["workspace"] });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("settings as events, projected to the settings view, bad commands change nothing", async () => {
    const supervisor = new Supervisor({
      nc: t.nc,
      wsid: TEST_WSID,
      log: testLog,
      heartbeatMs: 200,
    });
    await supervisor.start([workspaceService({ defaultTitle: "test box" })]);
    const settings = await new Kvm(t.nc).open(Buckets.settings);
    const created = await until("workspace created", async () =>
      (await settings.get(Keys.settings(TEST_WSID)))?.json<SettingsView>(),
    );
    expect(created.settings.title).toBe("test box");

    const subject = workspaceSubjects(TEST_WSID).command("workspace");
    const send = async (cmd: unknown) =>
      (
        await t.nc.request(subject, typeof cmd === "string" ? cmd : JSON.stringify(cmd), {
          timeout: 10_000,
        })
      ).json<{ ok: boolean; error?: { code: string } }>();
    expect(await send({ type: "ChangeSettings", data: { color: "#112233" } })).toMatchObject({
      ok: true,
    });
    const changed = await until("colour projected", async () => {
      const v = (await settings.get(Keys.settings(TEST_WSID)))?.json<SettingsView>();
      return v?.settings.color === "#112233" ? v : undefined;
    });
    expect(changed.settings.title).toBe("test box");

    const before = (await t.jsm.streams.info("WORKSPACES")).state.messages;
    expect((await send("not json")).error?.code).toBe("ERR_COMMAND_INVALID");
    expect((await send({ type: "ChangeSettings", data: { color: "red" } })).error?.code).toBe(
      "ERR_COMMAND_INVALID",
    );
    expect((await send({ type: "ChangeSettings", data: {} })).error?.code).toBe(
      "ERR_COMMAND_INVALID",
    );
    expect((await send({ type: "Explode", data: {} })).error?.code).toBe("ERR_COMMAND_UNKNOWN");
    expect((await send({ type: "ChangeSettings", data: { title: " " } })).error?.code).toBe(
      "ERR_SETTINGS_INVALID",
    );
    expect((await send({ type: "ChangeSettings", data: { color: "#112233" } })).ok).toBe(true);
    expect((await t.jsm.streams.info("WORKSPACES")).state.messages).toBe(before);

    // Concurrent commands are all applied, in some order, none lost.
    const colors = Array.from({ length: 10 }, (_, i) => `#0000${(i + 16).toString(16)}`);
    const replies = await Promise.all(
      colors.map((color) => send({ type: "ChangeSettings", data: { color } })),
    );
    expect(replies.every((r) => r.ok)).toBe(true);
    expect((await t.jsm.streams.info("WORKSPACES")).state.messages).toBe(before + 10);

    const services = await new Kvm(t.nc).open(Buckets.services);
    const health = (
      await services.get(Keys.service("workspace", supervisor.instance))
    )?.json<ServiceHealth>();
    expect(health?.status).toBe("running");
    await supervisor.stop();
    const stopped = (
      await services.get(Keys.service("workspace", supervisor.instance))
    )?.json<ServiceHealth>();
    expect(stopped?.status).toBe("stopped");
  });

  it("a bad event on the settings subject is skipped and rejected once; ChangeSettings goes on", async () => {
    const start = async () => {
      const supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
      await supervisor.start([workspaceService({ defaultTitle: "test box" })]);
      return supervisor;
    };
    const life = workspaceSubjects(TEST_WSID).life;
    const subject = workspaceSubjects(TEST_WSID).command("workspace");
    const change = async (color: string) =>
      (
        await t.nc.request(subject, JSON.stringify({ type: "ChangeSettings", data: { color } }), {
          timeout: 10_000,
        })
      ).json<{ ok: boolean; error?: { code: string } }>();
    const rejections = async () => {
      const last = await lastSubjectSeq(t.jsm, Streams.WORKSPACES, life);
      const messages = await readSubjectMessages(t.js, Streams.WORKSPACES, life, 0, last);
      return messages.flatMap((m) => {
        const read = readMessage(workspaceRegistry, m.data);
        return read.kind === "rejection" ? [read.event.data] : [];
      });
    };
    const settings = await new Kvm(t.nc).open(Buckets.settings);
    const colorIs = (color: string) =>
      until(`colour ${color} projected`, async () => {
        const v = (await settings.get(Keys.settings(TEST_WSID)))?.json<SettingsView>();
        return v?.settings.color === color ? v : undefined;
      });

    let supervisor = await start();
    const garbage = (await t.js.publish(life, "garbage{")).seq;
    expect(await change("#445566")).toEqual({ ok: true, seqs: [expect.any(Number)] });
    const view = await colorIs("#445566");
    expect(view.rejected).toEqual([
      {
        seq: garbage,
        error: { code: "ERR_EVENT_INVALID", message: "event is not valid JSON" },
        at: expect.any(String),
      },
    ]);

    // Once: neither the next command nor a fresh instance (no cache) records it again.
    expect((await change("#445567")).ok).toBe(true);
    await supervisor.stop();
    supervisor = await start();
    expect((await change("#445568")).ok).toBe(true);
    await colorIs("#445568");
    expect(await rejections()).toEqual([
      { seq: garbage, error: { code: "ERR_EVENT_INVALID", message: "event is not valid JSON" } },
    ]);
    await supervisor.stop();
  });
});
