import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceHealth } from "../../shared/health.js";
import { Buckets, Keys, workspaceSubjects } from "../../shared/subjects.js";
import type { SettingsView } from "../../shared/workspace.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { workspaceService } from "./index.js";

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
});
