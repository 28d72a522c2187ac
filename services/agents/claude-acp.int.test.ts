import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
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
import { agentCommand, threadView, turnView } from "./test-kit.js";

const BIN = new URL("../../node_modules/.bin", import.meta.url).pathname;
const HAVE_CLAUDE = existsSync(join(BIN, "claude-agent-acp"));
if (!HAVE_CLAUDE)
  console.warn(`skipping the Claude Code test: no ${BIN}/claude-agent-acp (npm ci)`);

describe.skipIf(!HAVE_CLAUDE)("claude-agent-acp (the real Claude Code adapter)", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor;
  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["agents"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-claude-home-"));
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
    await supervisor.start([agentsService({ dataDir: join(home, "data"), home, binDirs: [BIN] })]);
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  it("is detected; its terminal sign-in (claude /login) is offered with the command to run", async () => {
    expect(detectAgents([BIN], "").map((a) => a.kind)).toContain("claude");
    const room = roomIdForPath(join(home, "claude.chat"));
    const thread = newThreadId();
    const own = join(home, "user");
    await mkdir(own);
    const settings = {
      ...defaultThreadSettings(home),
      agent: "claude" as const,
      mode: "full-access" as const,
      env: { HOME: own, ANTHROPIC_API_KEY: "" },
    };
    expect(
      await agentCommand(t.nc, TEST_WSID, "CreateThread", { room, thread, title: "c", settings }),
    ).toMatchObject({ ok: true });
    const turn = newTurnId();
    expect(
      await agentCommand(t.nc, TEST_WSID, "SubmitTurn", { room, thread, turn, prompt: "hello" }),
    ).toMatchObject({ ok: true });
    // Offline and without credentials the turn cannot succeed; it ends, with a reason.
    const v = await until(
      "the turn ended",
      async () => {
        const x = await turnView(t.nc, TEST_WSID, thread, turn);
        return x && turnEnded(x.status) ? x : undefined;
      },
      120_000,
    );
    expect(v.status).toBe("failed");
    expect(v.failure?.reason).toBeTruthy();
    const auth = (await threadView(t.nc, TEST_WSID, room, thread))?.auth;
    expect(auth?.agent).toMatch(/^Claude/);
    const login = auth?.methods.find((m) => m.id === "claude-login");
    expect(login?.kind).toBe("terminal");
    expect(login?.command?.[0]).toMatch(/claude-agent-acp$/);
    expect(login?.command?.at(-1)).toBe("--cli");
  }, 180_000);
});
