import { describe, expect, it } from "vitest";
import { bubblewrapAvailable, sandboxed } from "./sandbox.js";

describe.skipIf(!bubblewrapAvailable())("agent sandbox argv", () => {
  it("a program under /tmp stays visible (read-only) under the fresh /tmp", () => {
    const { argv } = sandboxed("workspace-write", "/home/u/work", process.execPath, [
      "/tmp/checkout/test/fixtures/agent.mjs",
      "--flag",
    ]);
    const tmpfs = argv.indexOf("/tmp", argv.indexOf("--tmpfs"));
    const ro = argv.indexOf("/tmp/checkout");
    expect(argv[ro - 1]).toBe("--ro-bind-try");
    expect(ro).toBeGreaterThan(tmpfs);
    // The working directory is bound writable after it, so it wins where they overlap.
    expect(argv.indexOf("/home/u/work")).toBeGreaterThan(ro);
  });

  it("nothing extra is bound for programs elsewhere", () => {
    const { argv } = sandboxed("read-only", "/home/u/work", "/usr/bin/codex-acp", []);
    expect(argv).not.toContain("--ro-bind-try");
  });
});
