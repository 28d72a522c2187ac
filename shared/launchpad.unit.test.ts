import { describe, expect, it } from "vitest";
import { containerName, wsidOfContainer } from "./launchpad.js";

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
