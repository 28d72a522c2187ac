import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  turnEnded,
} from "../../shared/agents.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { agentsService, detectAgents } from "./index.js";
import { agentCommand, followLog, turnView } from "./test-kit.js";

const BIN = new URL("../../node_modules/.bin", import.meta.url).pathname;
const HAVE_CODEX = existsSync(join(BIN, "codex-acp"));
if (!HAVE_CODEX) console.warn(`skipping the codex-acp test: no ${BIN}/codex-acp (npm ci)`);

describe.skipIf(!HAVE_CODEX)("codex-acp (the real @zed-industries/codex-acp)", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor;
  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["agents"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-codex-home-"));
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    await supervisor.start([agentsService({ dataDir: join(home, "data"), home, binDirs: [BIN] })]);
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  it("is detected, completes initialize with our client; without credentials the turn fails clearly", async () => {
    expect(detectAgents([BIN], "").map((a) => a.kind)).toContain("codex");
    const room = roomIdForPath(join(home, "codex.chat"));
    const thread = newThreadId();
    // A HOME without codex credentials, and no API key in the environment.
    const settings = {
      ...defaultThreadSettings(home),
      agent: "codex" as const,
      mode: "full-access" as const,
      env: { HOME: home, OPENAI_API_KEY: "" },
    };
    expect(
      await agentCommand(t.nc, TEST_WSID, "CreateThread", {
        room,
        thread,
        title: "codex",
        settings,
      }),
    ).toMatchObject({ ok: true });
    const turn = newTurnId();
    expect(
      await agentCommand(t.nc, TEST_WSID, "SubmitTurn", { room, thread, turn, prompt: "hello" }),
    ).toMatchObject({ ok: true });
    const v = await until(
      "the turn ended",
      async () => {
        const x = await turnView(t.nc, TEST_WSID, thread, turn);
        return x && turnEnded(x.status) ? x : undefined;
      },
      60_000,
    );
    expect(v.status).toBe("failed");
    expect(v.failure?.code).toBe("ERR_AGENT_AUTH");
    expect(v.failure?.reason).toMatch(/Authentication required/i);
    const log = await followLog(t.nc, TEST_WSID, thread, turn);
    // The handshake completed: the agent introduced itself in its initialize answer.
    const started = log.find(
      (e) =>
        e.event.type === "AgentNotice" &&
        /codex/i.test(e.event.data.text) &&
        /started/.test(e.event.data.text),
    );
    expect(started).toBeDefined();
  });
});
