import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, describe, expect, it } from "vitest";
import { newTerminalId } from "../../shared/terminals.js";
import { until } from "../../test/helpers/nats.js";
import { PLUS_BIN, plusEnv, removeHome, runPlus, tempHome } from "../../test/helpers/plus.js";
import { connectServices } from "../runtime/connect.js";
import { ptyHostPid, stopPtyHost } from "./host-client.js";
import { NodeViewer, terminalCommand, terminalView, typeInto } from "./test-kit.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("terminals of a --daemon plus", () => {
  let home: string | undefined;
  let dataDir = "";
  let env: NodeJS.ProcessEnv = {};
  const open: { nc?: NatsConnection; viewer?: NodeViewer } = {};

  afterAll(async () => {
    await open.viewer?.stop();
    await open.nc?.close();
    if (home) {
      runPlus(["stop", "--terminals", "--data-dir", dataDir], env);
      await stopPtyHost(join(dataDir, "terminals"));
      await removeHome(home);
    }
  });

  async function connect(): Promise<{ nc: NatsConnection; wsid: string }> {
    const run = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as {
      servicesSeed: string;
    };
    return {
      nc: await connectServices({ url: run.natsUrl, seed: servicesSeed }, "test"),
      wsid: run.wsid,
    };
  }

  it("a restart of plus reattaches to the running shell; stop --terminals ends it", async () => {
    expect(PLUS_BIN).toBeTruthy();
    home = await tempHome();
    dataDir = join(home, "data");
    env = plusEnv(home);
    const start = () =>
      runPlus(["--daemon", "--no-open", "--port", "0", "--data-dir", dataDir], env);
    expect(start().code).toBe(0);

    let { nc, wsid } = await connect();
    open.nc = nc;
    const tid = newTerminalId();
    expect(await terminalCommand(nc, wsid, "OpenTerminal", { tid })).toMatchObject({ ok: true });
    const first = await until("running", async () => {
      const v = await terminalView(nc, wsid, tid);
      return v?.pid ? v : undefined;
    });
    let viewer = new NodeViewer(nc, wsid, tid);
    open.viewer = viewer;
    await viewer.attach();
    typeInto(nc, wsid, tid, "echo before=$$\r");
    await viewer.waitFor(new RegExp(`^before=${first.pid}$`, "m"));
    await viewer.stop();
    open.viewer = undefined;
    await nc.close();

    const stopped = runPlus(["stop", "--data-dir", dataDir], env);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/terminals keep running/);
    expect(alive(first.pid!)).toBe(true);
    const hostPid = ptyHostPid(join(dataDir, "terminals"));
    expect(hostPid).toBeDefined();

    expect(start().code).toBe(0);
    ({ nc, wsid } = await connect());
    open.nc = nc;
    viewer = new NodeViewer(nc, wsid, tid);
    open.viewer = viewer;
    await viewer.attach();
    // The output from before the restart is still there, and the same shell answers.
    expect(await viewer.text()).toMatch(new RegExp(`^before=${first.pid}$`, "m"));
    typeInto(nc, wsid, tid, "echo after=$$\r");
    await viewer.waitFor(new RegExp(`^after=${first.pid}$`, "m"));
    expect((await terminalView(nc, wsid, tid))?.pid).toBe(first.pid);
    expect(ptyHostPid(join(dataDir, "terminals"))).toBe(hostPid);
    await viewer.stop();
    open.viewer = undefined;
    await nc.close();
    open.nc = undefined;

    const ended = runPlus(["stop", "--terminals", "--data-dir", dataDir], env);
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(/ended the terminals/);
    await until("shell ended", async () => !alive(first.pid!));
    expect(ptyHostPid(join(dataDir, "terminals"))).toBeUndefined();
  });
});
