import { describe, expect, it } from "vitest";
import { CocalcError } from "./errors.js";
import { formatTarget, parseTarget, sessionIdOf } from "./remote.js";
import { validateKeyToken } from "./subjects.js";

describe("remote targets", () => {
  it("parses [user@]host[:port], IPv6 in brackets", () => {
    expect(parseTarget("alice@server")).toEqual({ user: "alice", host: "server" });
    expect(parseTarget("server:2222")).toEqual({ host: "server", port: 2222 });
    expect(parseTarget("bob@10.0.0.1:22")).toEqual({ user: "bob", host: "10.0.0.1", port: 22 });
    expect(parseTarget("[::1]:2200")).toEqual({ host: "::1", port: 2200 });
    expect(formatTarget(parseTarget(" a@[::1]:22 "))).toBe("a@[::1]:22");
  });

  it("refuses what ssh could read as an option, and other junk, with the reason", () => {
    for (const bad of [
      "",
      "-oProxyCommand=x",
      "a@-x",
      "host:0",
      "host:65536",
      "host:x",
      "a b",
      "[::1",
      "u@h@",
      "h;rm",
    ]) {
      let err: unknown;
      try {
        parseTarget(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CocalcError);
      expect((err as CocalcError).code).toBe("ERR_REMOTE_TARGET");
    }
  });

  it("one session id per canonical target, usable as a key", () => {
    expect(sessionIdOf("a@h:22")).toBe(sessionIdOf(" a@h:22"));
    expect(sessionIdOf("a@h:22")).not.toBe(sessionIdOf("a@h:23"));
    expect(validateKeyToken(sessionIdOf("user@[fe80::1]:2222"))).toBeTruthy();
  });
});
