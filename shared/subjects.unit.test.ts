import { describe, expect, it } from "vitest";
import { browserPermissions } from "./browser-permissions.js";
import { CocalcError } from "./errors.js";
import {
  accountOfSubject,
  accountSubjects,
  execOfSubject,
  FleetSubjects,
  hostDomain,
  hostEventsStream,
  hostOfInbox,
  hostSubjects,
  Keys,
  pathFromToken,
  pathToken,
  RegistrySubjects,
  StreamSubjects,
  validateToken,
  workspaceSubjects,
  wsidOfSubject,
} from "./subjects.js";

describe("subjects", () => {
  it("round-trips paths through one token", () => {
    const paths = [
      "/",
      "/home/user/a b/c.txt",
      "~/x",
      "relative/ünïcødé/😀.md",
      "/a.b.c*>",
      "/tmp/\t\n",
      "x".repeat(150),
    ];
    for (const p of paths) {
      const t = pathToken(p);
      expect(() => validateToken(t)).not.toThrow();
      expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(pathFromToken(t)).toBe(p);
    }
  });

  it("gives different paths different tokens", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(pathToken(`/f${i}`));
    expect(seen.size).toBe(500);
  });

  it("rejects bad tokens with ERR_SUBJECT_TOKEN", () => {
    for (const bad of ["", "a.b", "a*", ">", "a b", "tab\t", "x".repeat(201)]) {
      try {
        validateToken(bad);
        expect.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(err).toBeInstanceOf(CocalcError);
        expect((err as CocalcError).code).toBe("ERR_SUBJECT_TOKEN");
      }
    }
  });

  it("rejects tokens that are not path tokens", () => {
    for (const bad of ["!!", "A", "Lx", "a.b"])
      expect(() => pathFromToken(bad)).toThrow(CocalcError);
    expect(() => pathToken("")).toThrow(/empty/);
    expect(() => pathToken("a\0b")).toThrow(/NUL/);
  });

  it("scopes workspace subjects and keys by wsid", () => {
    const s = workspaceSubjects("w1");
    expect(s.command("workspace")).toBe("ws.w1.cmd.workspace");
    expect(wsidOfSubject(s.life)).toBe("w1");
    expect(Keys.settings("w1")).toBe("w1");
    expect(() => workspaceSubjects("w.1")).toThrow(CocalcError);
    expect(() => s.command("a>b")).toThrow(CocalcError);
    expect(() => Keys.service("svc", "in/stance")).toThrow(CocalcError);
  });

  it("keeps every stream's subjects workspace- or area-scoped", () => {
    for (const subjects of Object.values(StreamSubjects)) {
      for (const s of subjects)
        expect(s).toMatch(
          /^(ws\.\*\.|host\.|mount\.|remote\.|account\.|registry\.|placement\.|ledger\.|hub\.|hubws\.)/,
        );
    }
  });

  it("lets the browser send commands only to its own workspace", () => {
    const p = browserPermissions("w1", ["workspace"]);
    expect(p.publish.allow).toContain("ws.w1.cmd.>");
    expect(p.publish.allow.some((s) => s.startsWith("$KV") || s.startsWith("ws.*"))).toBe(false);
    expect(p.publish.deny).toContain("$JS.API.CONSUMER.DELETE.*.workspace");
  });

  it("lets the browser call request APIs and hear feeds of its own workspace only", () => {
    const s = workspaceSubjects("w1");
    expect(s.request("fs")).toBe("ws.w1.req.fs");
    expect(s.feed("fs")).toBe("ws.w1.feed.fs");
    expect(s.fsEvent("uploaded")).toBe("ws.w1.fs.uploaded");
    // File events are stored by WS_FS; the feed and requests must not be.
    expect(StreamSubjects.WS_FS).toEqual(["ws.*.fs.>"]);
    const p = browserPermissions("w1", []);
    expect(p.publish.allow).toContain("ws.w1.req.>");
    expect(p.subscribe.allow).toContain("ws.w1.feed.>");
    expect(p.publish.allow.some((x) => x.includes(".fs."))).toBe(false);
  });
});

describe("launchpad account and registry subjects", () => {
  it("validate their tokens and keep commands out of the streams", () => {
    expect(accountSubjects("acme").cores).toBe("account.acme.cores");
    expect(accountSubjects("acme").command).toBe("accountcmd.acme");
    expect(accountOfSubject("account.acme.cores")).toBe("acme");
    expect(accountOfSubject("accountcmd.acme")).toBe("acme");
    expect(accountOfSubject("ws.acme.x")).toBeUndefined();
    expect(() => accountSubjects("a.b")).toThrow();
    expect(RegistrySubjects.join("t1")).toBe("hostjoin.t1");
    expect(() => RegistrySubjects.join("t.*")).toThrow();
    expect(hostDomain("h1")).toBe("host-h1");
    expect(hostEventsStream("h1")).toBe("HOST_EVENTS_h1");
    expect(RegistrySubjects.host("h1")).toBe("registry.host.h1");
    expect(() => RegistrySubjects.host("h.*")).toThrow();
    for (const s of [
      accountSubjects("a").command,
      RegistrySubjects.command,
      FleetSubjects.command,
      "hostjoin.t",
    ])
      for (const patterns of Object.values(StreamSubjects))
        for (const p of patterns) expect(s.split(".")[0]).not.toBe(p.split(".")[0]);
  });
});

describe("launchpad exec session subjects", () => {
  it("sit under the host's workspace command subject, parse back and validate tokens", () => {
    const s = hostSubjects("h1").exec("w1", "e1");
    expect(s.stdout).toBe("hostcmd.h1.ws.w1.exec.e1.stdout");
    for (const op of ["stdin", "stdout", "resize", "alive", "close"] as const)
      expect(execOfSubject(s[op])).toEqual({ wsid: "w1", execId: "e1", op });
    expect(execOfSubject("hostcmd.h1.ws.w1.exec.e1.explode")).toBeUndefined();
    expect(execOfSubject(hostSubjects("h1").workspaceCommand("w1"))).toBeUndefined();
    expect(() => hostSubjects("h1").exec("w1", "e.*")).toThrow();
    // Not the 4-token workspace command filter: the host's command server never sees them.
    expect(s.stdin.split(".").length).not.toBe(
      hostSubjects("h1").workspaceCommands.split(".").length,
    );
  });
});

describe("host inboxes", () => {
  it("name the host whose inbox a reply is, and nothing else", () => {
    expect(hostOfInbox(`${hostSubjects("h1").inbox}.abc`)).toBe("h1");
    expect(hostOfInbox(hostSubjects("h1").inbox)).toBeUndefined();
    expect(hostOfInbox("_INBOX.abc")).toBeUndefined();
    expect(hostOfInbox(undefined)).toBeUndefined();
  });
});
