/**
 * The apps service with a real nats-server and real processes: `python3 -m http.server` as a
 * command app (starting → running once its port answers → stopped, its process group gone
 * from /proc), an app that exits by itself (exited with its code), bad input refused with
 * nothing stored, a program not installed, and plus stopping with an app running (no process
 * left).
 */
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppLogPage, AppView } from "../../shared/apps.js";
import { requestReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import { Buckets, Keys, ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { groupMembers } from "../../test/helpers/procs.js";
import { freePort } from "../runtime/ports.js";
import { Supervisor } from "../runtime/supervisor.js";
import { appsService } from "./index.js";
import { findProgram } from "./runner.js";

const PYTHON = findProgram("python3");
if (!PYTHON) console.warn("the apps service tests are skipped: no python3 on PATH");

const groupAlive = async (pgid: number) => groupMembers(pgid).length > 0;

describe.skipIf(!PYTHON)("apps service", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor;

  const start = async (readyTimeoutMs = 60_000) => {
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([appsService({ home, readyTimeoutMs })]);
  };
  beforeAll(async () => {
    t = await setup({ streams: true });
    home = await realpath(await mkdtemp(join(tmpdir(), "cocalc-apps-")));
    await start();
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t?.cleanup();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const command = (type: string, data: unknown) =>
    requestReply<{ seqs: number[] }>(
      t.nc,
      workspaceSubjects(TEST_WSID).command(ServiceNames.apps),
      { type, data },
      { timeoutMs: 20_000 },
    ) as Promise<CommandReply>;
  const read = <T>(r: unknown) =>
    requestReply<{ value: T }>(
      t.nc,
      workspaceSubjects(TEST_WSID).read(ServiceNames.apps),
      r as object,
      {
        timeoutMs: 20_000,
      },
    ).then((a) => {
      if (!a.ok) throw new Error(a.error.message);
      return a.value;
    });
  const view = async (app: string): Promise<AppView | undefined> => {
    const kv = await new Kvm(t.nc).open(Buckets.apps);
    const e = await kv.get(Keys.app(TEST_WSID, app));
    return e?.operation === "PUT" && e.length > 0 ? e.json<AppView>() : undefined;
  };
  const code = (r: CommandReply) => (r.ok ? "ok" : r.error.code);
  const server = (port: number) =>
    `${PYTHON} -m http.server {port} --bind 127.0.0.1 --directory ${home}`.replace(
      "{port}",
      String(port),
    );

  it("starts a command app, reports it running once its port answers, stops its process group", async () => {
    const port = await freePort();
    const r = await command("StartApp", { kind: "command", port, command: server(port) });
    expect(r).toMatchObject({ ok: true });
    const app = `a${port}`;
    const running = await until("app running", async () => {
      const v = await view(app);
      return v?.status === "running" && v;
    });
    expect(running).toMatchObject({ kind: "command", port, path: `/proxy/${port}/`, cwd: home });
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    expect(answer.status).toBe(200);
    const pid = running.pid!;
    expect(await groupAlive(pid)).toBe(true);

    // Its output, in pages: the command line first, then python's request log.
    const page = await until("log has the request", async () => {
      const p = await read<AppLogPage>({ type: "AppLog", app });
      return p.lines.some((l) => l.text.includes('"GET / HTTP')) && p;
    });
    expect(page.lines[0]!.text).toContain("$ /bin/sh -c");
    const older = await read<AppLogPage>({ type: "AppLog", app, before: 1 });
    expect(older.lines.map((l) => l.n)).toEqual([0]);

    // A second start on the same port is refused while it runs.
    expect(code(await command("StartApp", { kind: "command", port, command: server(port) }))).toBe(
      "ERR_APP_RUNNING",
    );

    expect(await command("StopApp", { app })).toMatchObject({ ok: true });
    await until("app stopped", async () => (await view(app))?.status === "stopped");
    expect(await groupAlive(pid)).toBe(false);

    // Restart brings it back on the same port.
    expect(await command("RestartApp", { app })).toMatchObject({ ok: true });
    const again = await until("app running again", async () => {
      const v = await view(app);
      return v?.status === "running" && v.pid !== pid && v;
    });
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(await command("RemoveApp", { app })).toMatchObject({ ok: true });
    await until("app removed", async () => (await view(app)) === undefined);
    expect(await groupAlive(again.pid!)).toBe(false);
  });

  it("shows an app that exits by itself as exited, with its code", async () => {
    const port = await freePort();
    expect(
      await command("StartApp", { kind: "command", port, command: "echo bye; exit 3" }),
    ).toMatchObject({ ok: true });
    const v = await until("app exited", async () => {
      const x = await view(`a${port}`);
      return x?.status === "exited" && x;
    });
    expect(v.exitCode).toBe(3);
    const page = await read<AppLogPage>({ type: "AppLog", app: `a${port}` });
    expect(page.lines.map((l) => l.text)).toContain("bye");
  });

  it("refuses bad input with a code and stores nothing", async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(port, "127.0.0.1", r));
    try {
      const cases: [unknown, string][] = [
        [{ kind: "command", port: 0, command: "true" }, "ERR_APP_PORT"],
        [{ kind: "command", port: 70000, command: "true" }, "ERR_APP_PORT"],
        [{ kind: "command", port: "80a", command: "true" }, "ERR_APP_PORT"],
        [{ kind: "command", port, command: "true" }, "ERR_APP_PORT_IN_USE"],
        [{ kind: "command", command: "sleep 1\u0000; true" }, "ERR_APP_COMMAND"],
        [{ kind: "command", command: "  " }, "ERR_APP_COMMAND"],
        [{ kind: "command", command: "true", cwd: join(home, "nope") }, "ERR_APP_CWD"],
        [{ kind: "nonsense" }, "ERR_COMMAND_INVALID"],
      ];
      for (const [data, want] of cases) expect(code(await command("StartApp", data))).toBe(want);
      expect(await view(`a${port}`)).toBeUndefined();
      expect(code(await command("StopApp", { app: "a1" }))).toBe("ERR_APP_NOT_FOUND");
    } finally {
      holder.close();
    }
  });

  it.skipIf(findProgram("code-server") !== undefined)(
    "says how to install a program that is not on the PATH (code-server is not installed here)",
    async () => {
      const programs = await read<Record<string, { installed: boolean }>>({ type: "Programs" });
      expect(programs["code-server"]!.installed).toBe(false);
      expect(programs.command!.installed).toBe(true);
      const r = await command("StartApp", { kind: "code-server" });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("ERR_APP_NOT_INSTALLED");
        expect(r.error.message).toContain("code-server.dev/install.sh");
      }
    },
  );

  it("fails an app whose port never answers, with the end of its log, and ends its group", async () => {
    await supervisor.stop();
    // Long enough to see its pid in the view first, short enough for a test.
    await start(5000);
    try {
      const port = await freePort();
      expect(
        await command("StartApp", {
          kind: "command",
          port,
          command: "echo waiting; exec sleep 600",
        }),
      ).toMatchObject({ ok: true });
      const spawned = await until("app spawned", async () => (await view(`a${port}`))?.pid);
      const v = await until("app failed", async () => {
        const x = await view(`a${port}`);
        return x?.status === "failed" && x;
      });
      expect(v.error).toMatchObject({ code: "ERR_APP_START" });
      expect(v.error?.logTail).toContain("waiting");
      expect(await groupAlive(spawned)).toBe(false);
    } finally {
      await supervisor.stop();
      await start();
    }
  });

  it("ends every app's process group when plus stops", async () => {
    const port = await freePort();
    expect(
      await command("StartApp", { kind: "command", port, command: server(port) }),
    ).toMatchObject({ ok: true });
    const v = await until("app running", async () => {
      const x = await view(`a${port}`);
      return x?.status === "running" && x;
    });
    await supervisor.stop();
    expect(await groupAlive(v.pid!)).toBe(false);
    await start();
    await until("app shown stopped", async () => (await view(`a${port}`))?.status === "stopped");
  });
});
