import { describe, expect, it } from "vitest";
import { type AppConfig, appArgv } from "../../shared/apps.js";
import { given } from "../../shared/decider.js";
import type { StoredEvent } from "../../shared/envelope.js";
import type { CocalcError } from "../../shared/errors.js";
import { type AppCommand, type AppDecided, appDecider } from "./decider.js";
import { AppLog } from "./process.js";
import { appsProjection } from "./projections.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (c: Omit<AppCommand, "actor" | "at">) => ({ ...c, ...meta }) as AppCommand;
let alive = false;
const decider = appDecider({ alive: () => alive, home: "/home/me" });
const config: AppConfig = { kind: "jupyter-notebook", port: 8888, cwd: "/home/me", mount: "port" };
const started: AppDecided = { type: "AppStarted", data: config };
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("app decider", () => {
  it("starts an app with its kind's mount, in the home directory by default", () => {
    expect(
      given(decider, []).when(
        cmd({ type: "StartApp", data: { kind: "jupyter-notebook", port: "8888" } }),
      ).events,
    ).toEqual([started]);
    expect(
      given(decider, []).when(
        cmd({ type: "StartApp", data: { kind: "command", port: 9000, command: " serve {port} " } }),
      ).events,
    ).toEqual([
      {
        type: "AppStarted",
        data: {
          kind: "command",
          port: 9000,
          cwd: "/home/me",
          mount: "proxy",
          command: "serve {port}",
        },
      },
    ]);
  });

  it("refuses bad input, a second start while it runs, and unknown apps", () => {
    const start = (data: Record<string, unknown>) =>
      given(decider, []).when(
        cmd({
          type: "StartApp",
          data: { kind: "command", port: 9000, command: "x", ...data } as never,
        }),
      );
    expect(code(start({ port: 0 }))).toBe("ERR_APP_PORT");
    expect(code(start({ port: "65536" }))).toBe("ERR_APP_PORT");
    expect(code(start({ command: "a\u0000b" }))).toBe("ERR_APP_COMMAND");
    expect(code(start({ command: "" }))).toBe("ERR_APP_COMMAND");
    expect(code(start({ cwd: "relative/dir" }))).toBe("ERR_APP_CWD");
    alive = true;
    expect(
      code(
        given(decider, [started]).when(
          cmd({ type: "StartApp", data: { kind: "jupyter-notebook", port: 8888 } }),
        ),
      ),
    ).toBe("ERR_APP_RUNNING");
    alive = false;
    // Exited by itself: it may start again.
    expect(
      given(decider, [started]).when(
        cmd({ type: "StartApp", data: { kind: "jupyter-notebook", port: 8888 } }),
      ).events,
    ).toEqual([started]);
    expect(code(given(decider, []).when(cmd({ type: "StopApp", data: { app: "a8888" } })))).toBe(
      "ERR_APP_NOT_FOUND",
    );
    expect(code(given(decider, []).when(cmd({ type: "RestartApp", data: { app: "a8888" } })))).toBe(
      "ERR_APP_NOT_FOUND",
    );
  });

  it("stops, restarts with the same settings, removes", () => {
    const stopped: AppDecided = { type: "AppStopped", data: { reason: "stopped by the user" } };
    expect(
      given(decider, [started]).when(cmd({ type: "StopApp", data: { app: "a8888" } })).events,
    ).toEqual([stopped]);
    expect(
      code(
        given(decider, [started, stopped]).when(cmd({ type: "StopApp", data: { app: "a8888" } })),
      ),
    ).toBe("ERR_APP_NOT_FOUND");
    expect(
      given(decider, [started, stopped]).when(cmd({ type: "RestartApp", data: { app: "a8888" } }))
        .events,
    ).toEqual([started]);
    expect(
      given(decider, [started]).when(cmd({ type: "RestartApp", data: { app: "a8888" } })).events,
    ).toEqual([{ type: "AppStopped", data: { reason: "restarted by the user" } }, started]);
    expect(
      given(decider, [started, stopped]).when(cmd({ type: "RemoveApp", data: { app: "a8888" } }))
        .events,
    ).toEqual([{ type: "AppRemoved", data: {} }]);
  });
});

describe("apps view", () => {
  const ev = (seq: number, type: string, data: unknown): StoredEvent =>
    ({
      seq,
      subject: `ws.w.app.a8888.${type === "AppStarted" || type === "AppStopped" ? "cfg" : "run"}`,
      event: {
        type,
        v: 1,
        id: `e${seq}`,
        at: `2026-01-01T00:00:0${seq}.000Z`,
        actor: "apps",
        data,
      },
    }) as StoredEvent;
  const fold = (events: StoredEvent[]) =>
    events.reduce(
      (v, e) => appsProjection.evolve(v, e as never),
      null as ReturnType<typeof appsProjection.evolve>,
    );

  it("shows starting, running, exited with its code, and stopped", () => {
    const s = [ev(1, "AppStarted", config), ev(2, "AppSpawned", { pid: 42 })];
    expect(fold(s)).toMatchObject({
      app: "a8888",
      status: "starting",
      pid: 42,
      path: "/port/8888/",
    });
    expect(fold([...s, ev(3, "AppRunning", { pid: 42 })])).toMatchObject({
      status: "running",
      pid: 42,
    });
    const exited = fold([
      ...s,
      ev(3, "AppRunning", { pid: 42 }),
      ev(4, "AppExited", { code: 3, signal: null }),
    ]);
    expect(exited).toMatchObject({ status: "exited", exitCode: 3 });
    expect(exited?.pid).toBeUndefined();
    expect(fold([...s, ev(3, "AppStopped", { reason: "x" })])).toMatchObject({ status: "stopped" });
    // An exited app stays exited when a stop follows (plus stopping).
    expect(
      fold([
        ...s,
        ev(3, "AppExited", { code: 1, signal: null }),
        ev(4, "AppStopped", { reason: "x" }),
      ]),
    ).toMatchObject({
      status: "exited",
      exitCode: 1,
    });
  });
});

describe("app argv and log", () => {
  it("gives Jupyter its base path and an empty token, code-server no auth, on loopback", () => {
    expect(appArgv(config, "/usr/bin/jupyter-notebook", "NotebookApp")[1]).toEqual([
      "--no-browser",
      "--ip=127.0.0.1",
      "--port=8888",
      "--NotebookApp.port_retries=0",
      "--NotebookApp.token=",
      "--NotebookApp.password=",
      "--NotebookApp.base_url=/port/8888/",
    ]);
    expect(appArgv({ ...config, kind: "code-server", mount: "proxy" }, "code-server")[1]).toEqual([
      "--auth",
      "none",
      "--bind-addr",
      "127.0.0.1:8888",
      "--disable-telemetry",
      "/home/me",
    ]);
    expect(appArgv({ ...config, kind: "command", command: "serve {port}" }, "")).toEqual([
      "/bin/sh",
      ["-c", "serve 8888"],
    ]);
  });

  it("keeps the newest lines within its bounds and pages back", () => {
    const log = new AppLog(5, 1000, 10);
    log.write("a\nb\nc\n");
    log.write("d\ne\nf\ng");
    const page = log.page();
    expect(page.first).toBe(1);
    expect(page.lines.map((l) => l.text)).toEqual(["b", "c", "d", "e", "f", "g"]);
    expect(log.page(4, 2).lines).toEqual([
      { n: 2, text: "c" },
      { n: 3, text: "d" },
    ]);
    log.write("0123456789abcdef\n");
    expect(log.page().lines.at(-1)!.text).toBe("g012345678…");
  });
});
