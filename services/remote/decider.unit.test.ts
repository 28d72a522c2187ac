import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import { type RemoteCommand, remoteDecider } from "./decider.js";

const at = "2026-01-01T00:00:00.000Z";
const cmd = <C extends RemoteCommand>(type: C["type"], data: C["data"]) =>
  ({ type, data, actor: "user", at }) as C;

describe("remote session decider", () => {
  it("the first connect adds the session; later ones only connect", () => {
    const first = given(remoteDecider, []).when(cmd("ConnectSession", { target: "a@h:22" }));
    expect(first.events?.map((e) => e.type)).toEqual(["SessionAdded", "SessionConnectRequested"]);
    const again = given(remoteDecider, first.events!).when(
      cmd("ConnectSession", { target: "a@h:22", mode: { upgrade: true } }),
    );
    expect(again.events).toEqual([
      {
        type: "SessionConnectRequested",
        data: { mode: { install: true, upgrade: true, forwardOnly: false }, options: {} },
      },
    ]);
  });

  it("stop, remove and star need a session", () => {
    for (const c of [
      cmd("StopSession", { sid: "sx" }),
      cmd("RemoveSession", { sid: "sx" }),
      cmd("StarSession", { sid: "sx", starred: true }),
    ]) {
      const r = given(remoteDecider, []).when(c);
      expect((r.error as CocalcError).code).toBe("ERR_REMOTE_NOT_FOUND");
    }
  });

  it("a bad target is refused", () => {
    const r = given(remoteDecider, []).when(cmd("ConnectSession", { target: "-oX=y" }));
    expect((r.error as CocalcError).code).toBe("ERR_REMOTE_TARGET");
  });
});
