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
import { agentCommand, agentRequest, followLog, threadView, turnView } from "./test-kit.js";

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

  /** A thread of codex-acp in full access, with a HOME without codex credentials. */
  async function codexThread(title: string) {
    const room = roomIdForPath(join(home, `${title}.chat`));
    const thread = newThreadId();
    // A HOME of its own: codex keeps what it signed in with there.
    const own = join(home, title);
    await mkdir(own);
    const settings = {
      ...defaultThreadSettings(home),
      agent: "codex" as const,
      mode: "full-access" as const,
      env: { HOME: own },
    };
    expect(
      await agentCommand(t.nc, TEST_WSID, "CreateThread", { room, thread, title, settings }),
    ).toMatchObject({ ok: true });
    return { room, thread };
  }

  async function runTurn(room: string, thread: string, prompt: string) {
    const turn = newTurnId();
    expect(
      await agentCommand(t.nc, TEST_WSID, "SubmitTurn", { room, thread, turn, prompt }),
    ).toMatchObject({ ok: true });
    return await until(
      "the turn ended",
      async () => {
        const x = await turnView(t.nc, TEST_WSID, thread, turn);
        return x && turnEnded(x.status) ? x : undefined;
      },
      180_000,
    );
  }

  it("with a stored key, plus authenticates through ACP and the first turn fails with the network error, in words", async () => {
    const key = "sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";
    expect(
      await agentRequest(t.nc, TEST_WSID, { op: "setKey", name: "OPENAI_API_KEY", value: key }),
    ).toMatchObject({ ok: true });
    try {
      const { room, thread } = await codexThread("codex-key");
      const v = await runTurn(room, thread, "hello");
      const view = await threadView(t.nc, TEST_WSID, room, thread);
      // authenticate succeeded with the key's method: the failure is the network's, not auth.
      expect(view?.auth?.using).toBe("openai-api-key");
      expect(v.status).toBe("failed");
      expect(v.failure?.code).not.toBe("ERR_AGENT_AUTH");
      expect(v.failure?.reason).toMatch(
        /api\.openai\.com|stream disconnected|error sending request/i,
      );
      // The key is in no event of the turn's log nor in the views.
      const log = await followLog(t.nc, TEST_WSID, thread, v.turn);
      expect(JSON.stringify(log)).not.toContain(key);
      expect(JSON.stringify(view)).not.toContain(key);
      expect(JSON.stringify(v)).not.toContain(key);
    } finally {
      await agentRequest(t.nc, TEST_WSID, { op: "setKey", name: "OPENAI_API_KEY", value: "" });
    }
  }, 240_000);

  it("without a key the sign-in choices show; Login with ChatGPT gives its address in the page and only its callback is relayed", async () => {
    const { room, thread } = await codexThread("codex-sign-in");
    const v = await runTurn(room, thread, "hello");
    expect(v.failure?.code).toBe("ERR_AGENT_AUTH");
    expect(v.failure?.reason).toMatch(/OPENAI_API_KEY/);
    expect(v.failure?.reason).toMatch(/Sign in/);
    const view = await threadView(t.nc, TEST_WSID, room, thread);
    expect(view?.auth?.methods.map((m) => [m.id, m.kind])).toEqual([
      ["chatgpt", "agent"],
      ["codex-api-key", "key"],
      ["openai-api-key", "key"],
    ]);
    expect(
      await agentRequest(t.nc, TEST_WSID, { op: "signIn", room, thread, method: "codex-api-key" }),
    ).toMatchObject({ ok: false, error: { code: "ERR_AGENT_SIGN_IN" } });
    expect(
      await agentRequest(t.nc, TEST_WSID, { op: "signIn", room, thread, method: "chatgpt" }),
    ).toMatchObject({ ok: true });
    const shown = await until(
      "the sign-in address shows",
      async () => {
        const s = (await threadView(t.nc, TEST_WSID, room, thread))?.signIn;
        return s?.status === "waiting" || s?.status === "failed" ? s : undefined;
      },
      60_000,
    );
    expect(shown.status).toBe("waiting");
    expect(shown.url).toMatch(/^https:\/\/auth\.openai\.com\//);
    const redirect = new URL(new URL(shown.url!).searchParams.get("redirect_uri")!);
    // Anything but the callback itself is refused: no other port, host or path is opened.
    for (const url of [
      `http://localhost:1/auth/callback?code=x`,
      `http://example.com:${redirect.port}${redirect.pathname}?code=x`,
      `http://localhost:${redirect.port}/other?code=x`,
      "not an address",
    ]) {
      expect(
        await agentRequest(t.nc, TEST_WSID, { op: "signInCallback", room, thread, url }),
      ).toMatchObject({ ok: false, error: { code: "ERR_AGENT_SIGN_IN" } });
    }
    // The real callback reaches the agent, which turns this one down (its state is wrong).
    const cb = `${redirect.origin}${redirect.pathname}?code=bogus&state=wrong`;
    const relayed = await agentRequest<{ status: number; text: string }>(t.nc, TEST_WSID, {
      op: "signInCallback",
      room,
      thread,
      url: cb,
    });
    expect(relayed).toMatchObject({ ok: true, result: { relayed: true, status: 400 } });
    expect(relayed.ok && relayed.result.text).toMatch(/state/i);
    // Cancelled: the page says so and the agent's process is gone.
    expect(await agentRequest(t.nc, TEST_WSID, { op: "signInCancel", room, thread })).toMatchObject(
      { ok: true },
    );
    const ended = await until(
      "the sign-in ended",
      async () => {
        const s = (await threadView(t.nc, TEST_WSID, room, thread))?.signIn;
        return s?.status === "failed" ? s : undefined;
      },
      60_000,
    );
    expect(ended.reason).toMatch(/cancelled/);
  }, 240_000);

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
