import { describe, expect, it } from "vitest";
import { parseCommand } from "./commands.js";
import { containerName, WorkspaceHostCommands, wsidOfContainer } from "./launchpad.js";

describe("container names", () => {
  it("carry the host: the same workspace id on two hosts is two containers", () => {
    expect(containerName("hosta", "w1")).not.toBe(containerName("hostb", "w1"));
    expect(containerName("a-b", "c")).not.toBe(containerName("a", "b-c"));
  });

  it("parse back to the workspace for their own host only", () => {
    expect(wsidOfContainer("hosta", containerName("hosta", "w-1"))).toBe("w-1");
    expect(wsidOfContainer("hostb", containerName("hosta", "w-1"))).toBeUndefined();
    expect(wsidOfContainer("a", containerName("a-b", "c"))).toBeUndefined();
    expect(wsidOfContainer("hosta", "cocalc-ws-w1")).toBeUndefined();
    expect(wsidOfContainer("hosta", "something-else")).toBeUndefined();
  });
});

describe("accounts in host commands", () => {
  const meta = { actor: "hub", at: "2026-12-02T00:00:00.000Z" };
  const create = (account: string) =>
    new TextEncoder().encode(
      JSON.stringify({ type: "CreateWorkspaceOnHost", data: { image: "bb", account } }),
    );
  it("take a hub account's id, which may start with - or _ (base64url)", () => {
    for (const account of ["-Ab3_x", "_zZ9-", "acme"])
      expect(parseCommand(WorkspaceHostCommands, create(account), meta).data).toMatchObject({
        account,
      });
    for (const account of ["", "a.b", "a b", "x".repeat(65)])
      expect(() => parseCommand(WorkspaceHostCommands, create(account), meta)).toThrow();
  });
});
