import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  type TurnView,
  turnEnded,
} from "../../shared/agents.js";
import { until } from "../../test/helpers/nats.js";
import { PLUS_BIN, type RunningPlus, removeHome, startPlus } from "../../test/helpers/plus.js";
import { alive, byCommandLine, proc } from "../../test/helpers/procs.js";
import { connectServices } from "../runtime/connect.js";
import { agentCommand, threadView, turnView } from "./test-kit.js";

const AGENT = new URL("../../test/fixtures/scripted-agent.mjs", import.meta.url).pathname;
const built = existsSync(PLUS_BIN);
if (!built) console.warn(`agent orphan tests skipped: ${PLUS_BIN} is missing (npm run build)`);

describe.skipIf(!built)("agent processes never outlive plus", () => {
  let plus: RunningPlus | undefined;
  let nc: NatsConnection | undefined;
  const room = roomIdForPath("/tmp/orphans-test.chat");

  afterAll(async () => {
    await nc?.close();
    if (plus) {
      await plus.stop();
      await removeHome(plus.home);
    }
  });

  async function connect(p: RunningPlus): Promise<{ nc: NatsConnection; wsid: string }> {
    const run = JSON.parse(readFileSync(join(p.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(readFileSync(join(p.dataDir, "secrets.json"), "utf8")) as {
      servicesSeed: string;
    };
    return {
      nc: await connectServices({ url: run.natsUrl, seed: servicesSeed }, "test"),
      wsid: run.wsid,
    };
  }

  async function ended(wsid: string, thread: string, turn: string): Promise<TurnView> {
    return until(
      `turn ${turn} ended`,
      async () => {
        const v = await turnView(nc!, wsid, thread, turn);
        return v && turnEnded(v.status) ? v : undefined;
      },
      60_000,
    );
  }

  /**
   * A busy turn: the agent starts a process of its own (`sleep A` under `sh`, in a session of
   * its own) and runs `sleep B` in an ACP terminal, which keeps the turn waiting.
   */
  async function busyTurn(wsid: string, work: string) {
    const thread = newThreadId();
    const created = await agentCommand(nc!, wsid, "CreateThread", {
      room,
      thread,
      title: "busy",
      settings: {
        ...defaultThreadSettings(work),
        agent: "custom",
        command: `${process.execPath} ${AGENT}`,
        mode: "full-access",
      },
    });
    expect(created).toMatchObject({ ok: true });
    const a = String(3000 + Math.floor(Math.random() * 6000));
    const b = String(Number(a) + 1);
    const turn = newTurnId();
    const queued = newTurnId();
    for (const [id, prompt] of [
      [turn, `session\nspawn sleep ${a}; echo agent-child-done\nrun sleep ${b}\nslow 1000 100`],
      [queued, "say after the restart"],
    ] as const) {
      expect(
        await agentCommand(nc!, wsid, "SubmitTurn", { room, thread, turn: id, prompt }),
      ).toMatchObject({ ok: true });
    }
    const sessionId = await until(
      "the session",
      async () => (await threadView(nc!, wsid, room, thread))?.sessionId,
      30_000,
    );
    const agent = proc(Number(/^scripted-(\d+)-/.exec(sessionId)![1]));
    expect(agent).toBeDefined();
    const [own, ownShell, terminal] = await until(
      "the agent's own process and its command",
      async () => {
        const own = byCommandLine(["sleep", a]);
        const shell = byCommandLine(["sh", "-c", `sleep ${a}; echo agent-child-done`]);
        const term = byCommandLine(["sleep", b]);
        return own.length === 1 && shell.length === 1 && term.length === 1
          ? [own[0]!, shell[0]!, term[0]!]
          : undefined;
      },
      30_000,
    );
    return { thread, turn, queued, processes: [agent!, own, ownShell, terminal] };
  }

  it("kill -9 of plus ends the agent, what it started and its commands; a restart (after a kill or a stop) goes on with the queue", async () => {
    plus = await startPlus();
    const work = join(plus.home, "work");
    await mkdir(work);
    let wsid: string;
    ({ nc, wsid } = await connect(plus));
    const busy = await busyTurn(wsid, work);
    for (const p of busy.processes) expect(alive(p)).toBe(true);

    await nc.close();
    nc = undefined;
    await plus.stop("SIGKILL");
    await until(
      "every agent process gone",
      async () => busy.processes.every((p) => !alive(p)),
      15_000,
    );

    // The next start marks the cut turn failed and runs the queued one.
    plus = await startPlus({ home: plus.home, dataDir: plus.dataDir });
    ({ nc, wsid } = await connect(plus));
    const cut = await ended(wsid, busy.thread, busy.turn);
    expect(cut.status).toBe("failed");
    expect(cut.failure?.code).toBe("ERR_AGENT_RESTARTED");
    expect((await ended(wsid, busy.thread, busy.queued)).status).toBe("finished");

    // A graceful stop ends them too.
    const again = await busyTurn(wsid, work);
    await nc.close();
    nc = undefined;
    expect(await plus.stop("SIGTERM")).toBe(0);
    await until(
      "every agent process gone after a stop",
      async () => again.processes.every((p) => !alive(p)),
      15_000,
    );
    // And the start after it goes on with that queue the same way.
    plus = await startPlus({ home: plus.home, dataDir: plus.dataDir });
    ({ nc, wsid } = await connect(plus));
    expect((await ended(wsid, again.thread, again.turn)).failure?.code).toBe("ERR_AGENT_RESTARTED");
    expect((await ended(wsid, again.thread, again.queued)).status).toBe("finished");
  });
});
