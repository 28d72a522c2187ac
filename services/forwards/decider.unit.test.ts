import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { StoredEvent } from "../../shared/envelope.js";
import type { CocalcError } from "../../shared/errors.js";
import {
  type ForwardConfig,
  type ForwardEvent,
  type ForwardView,
  forwardIdFor,
} from "../../shared/forwards.js";
import { sessionIdOf } from "../../shared/remote.js";
import { forwardSubjects } from "../../shared/subjects.js";
import {
  type ForwardCommand,
  type ForwardDecided,
  forwardDecider,
  type LiveForward,
} from "./decider.js";
import { forwardArgv, forwardFailure } from "./process.js";
import { portForwardsProjection } from "./projections.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (c: Omit<ForwardCommand, "actor" | "at">) => ({ ...c, ...meta }) as ForwardCommand;
const target = "me@host:2222";
const sid = sessionIdOf(target);
let others: LiveForward[] = [];
const decider = forwardDecider({
  session: (t) => (sessionIdOf(t) === sid ? { sid, target } : undefined),
  others: () => others,
});
const config: ForwardConfig = {
  session: target,
  local: 8080,
  remote: 8080,
  direction: "remote-to-local",
};
const added: ForwardDecided = { type: "ForwardAdded", data: config };
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("port forward decider", () => {
  it("adds a forward; the remote port defaults to the local one, the direction to remote-to-local", () => {
    others = [];
    expect(
      given(decider, []).when(cmd({ type: "AddForward", data: { session: target, local: 8080 } }))
        .events,
    ).toEqual([added]);
    expect(
      given(decider, []).when(
        cmd({
          type: "AddForward",
          data: {
            session: " me@host:2222 ",
            local: "3000",
            remote: "80",
            direction: "R",
            name: " web ",
          },
        }),
      ).events,
    ).toEqual([
      {
        type: "ForwardAdded",
        data: { ...config, local: 3000, remote: 80, direction: "local-to-remote", name: "web" },
      },
    ]);
  });

  it("refuses bad ports, directions, unknown sessions and duplicates", () => {
    others = [];
    const add = (data: Record<string, unknown>) =>
      given(decider, []).when(
        cmd({ type: "AddForward", data: { session: target, local: 8080, ...data } as never }),
      );
    expect(code(add({ local: 0 }))).toBe("ERR_FORWARD_PORT");
    expect(code(add({ local: 65536 }))).toBe("ERR_FORWARD_PORT");
    expect(code(add({ local: "80a" }))).toBe("ERR_FORWARD_PORT");
    expect(code(add({ remote: "-1" }))).toBe("ERR_FORWARD_PORT");
    expect(code(add({ direction: "sideways" }))).toBe("ERR_FORWARD_DIRECTION");
    expect(code(add({ session: "other@host" }))).toBe("ERR_FORWARD_NO_SESSION");
    expect(code(add({ session: "-oProxyCommand=x" }))).toBe("ERR_REMOTE_TARGET");
    expect(
      code(
        given(decider, [added]).when(
          cmd({ type: "AddForward", data: { session: target, local: 8080 } }),
        ),
      ),
    ).toBe("ERR_FORWARD_DUPLICATE");
    // The same local port forwarded to another session is a duplicate too.
    const otherSid = sessionIdOf("x@y");
    others = [
      {
        forward: forwardIdFor(otherSid, config),
        sid: otherSid,
        config: { ...config, session: "x@y", remote: 9999 },
      },
    ];
    const dup = add({ remote: 1234 });
    expect(code(dup)).toBe("ERR_FORWARD_DUPLICATE");
    expect(String((dup.error as Error).message)).toContain("to x@y");
    // A reverse forward listens on the remote: another session's port 8080 is no clash.
    expect(add({ direction: "local-to-remote" }).events).toHaveLength(1);
    others = [];
  });

  it("removes a live forward only", () => {
    const fid = forwardIdFor(sid, config);
    expect(
      given(decider, [added]).when(cmd({ type: "RemoveForward", data: { forward: fid } })).events,
    ).toEqual([{ type: "ForwardRemoved", data: {} }]);
    expect(
      code(
        given(decider, [added, { type: "ForwardRemoved", data: {} }]).when(
          cmd({ type: "RemoveForward", data: { forward: fid } }),
        ),
      ),
    ).toBe("ERR_FORWARD_NOT_FOUND");
  });
});

describe("port-forwards projection", () => {
  const fid = forwardIdFor(sid, config);
  let seq = 0;
  const stored = (type: string, data: unknown, kind: "config" | "run" = "run") =>
    ({
      event: {
        type,
        v: 1,
        id: `e${++seq}`,
        at: `2026-01-01T00:00:0${seq}.000Z`,
        actor: "forwards",
        data,
      },
      subject: forwardSubjects(sid, fid)[kind],
      seq,
      time: "",
    }) as unknown as StoredEvent<ForwardEvent>;

  it("projects status, restarts and the last error from the run events", () => {
    let v: ForwardView | null = portForwardsProjection.evolve(
      null,
      stored("ForwardAdded", config, "config"),
    );
    expect(v).toMatchObject({ forward: fid, sid, status: "stopped", restarts: 0 });
    v = portForwardsProjection.evolve(v, stored("ForwardStarted", { pid: 10, restarts: 0 }));
    expect(v).toMatchObject({ status: "starting", pid: 10 });
    v = portForwardsProjection.evolve(v, stored("ForwardUp", { pid: 10, restarts: 0 }));
    expect(v?.status).toBe("up");
    v = portForwardsProjection.evolve(
      v,
      stored("ForwardExited", { pid: 10, code: null, signal: "SIGKILL", retryInMs: 1000 }),
    );
    expect(v).toMatchObject({
      status: "restarting",
      error: { code: "ERR_FORWARD_SSH", message: "ssh was killed by SIGKILL" },
    });
    expect(v?.pid).toBeUndefined();
    expect(v?.retryAt).toBeDefined();
    v = portForwardsProjection.evolve(v, stored("ForwardStarted", { pid: 11, restarts: 1 }));
    v = portForwardsProjection.evolve(v, stored("ForwardUp", { pid: 11, restarts: 1 }));
    expect(v).toMatchObject({ status: "up", pid: 11, restarts: 1 });
    expect(v?.error).toBeUndefined();
    expect(v?.retryAt).toBeUndefined();
    v = portForwardsProjection.evolve(
      v,
      stored("ForwardExited", {
        code: 255,
        signal: null,
        error: { code: "ERR_FORWARD_PORT_IN_USE", message: "local port 8080 is in use" },
      }),
    );
    expect(v).toMatchObject({ status: "failed", error: { code: "ERR_FORWARD_PORT_IN_USE" } });
    v = portForwardsProjection.evolve(v, stored("ForwardStopped", { reason: "session stopped" }));
    expect(v?.status).toBe("stopped");
    expect(portForwardsProjection.evolve(v, stored("ForwardRemoved", {}, "config"))).toBeNull();
  });
});

describe("forward ssh", () => {
  it("runs one dedicated ssh with the session's options, failing when the forward cannot be made", () => {
    const argv = forwardArgv(
      {
        target: { user: "me", host: "host", port: 2222 },
        options: { sshArgs: ["-F/cfg"], identity: "/k" },
      },
      config,
    );
    expect(argv.slice(0, 7)).toEqual(["-F/cfg", "-i", "/k", "-p", "2222", "-l", "me"]);
    expect(argv).toContain("ExitOnForwardFailure=yes");
    expect(argv).toContain("ControlPath=none");
    expect(argv.slice(-4)).toEqual(["-L", "127.0.0.1:8080:127.0.0.1:8080", "--", "host"]);
    const rev = forwardArgv(
      { target: { host: "h" }, options: {} },
      { ...config, direction: "local-to-remote", remote: 9000 },
    );
    expect(rev.slice(-4)).toEqual(["-R", "127.0.0.1:9000:127.0.0.1:8080", "--", "h"]);
  });

  it("turns ssh's output into a coded reason", () => {
    const r = { code: 255, signal: null };
    expect(forwardFailure(config, "bind [127.0.0.1]:8080: Address already in use\n", r).code).toBe(
      "ERR_FORWARD_PORT_IN_USE",
    );
    expect(
      forwardFailure(config, "Error: remote port forwarding failed for listen port 8080\n", r)
        .message,
    ).toMatch(/remote refused to listen on port 8080/);
    expect(forwardFailure(config, "", { code: null, signal: "SIGKILL" }).message).toBe(
      "ssh was killed by SIGKILL",
    );
  });
});
