/**
 * The askpass relay's directories: one a killed plus left behind is removed by the next
 * start; one a running plus serves, and one just made, are left alone.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testLog } from "../../test/helpers/nats.js";
import { AskpassServer } from "./askpass.js";

describe("askpass relay directories", () => {
  it("the ones no process serves are removed at start; served and new ones stay", async () => {
    const old = new Date(Date.now() - 10 * 60_000);
    const abandoned = await mkdtemp(join(tmpdir(), "cocalc-askpass-"));
    await writeFile(join(abandoned, "askpass"), "#!/bin/sh\n");
    await utimes(abandoned, old, old);
    const fresh = await mkdtemp(join(tmpdir(), "cocalc-askpass-"));
    const running = await AskpassServer.start(testLog);
    const served = running.attempt(async () => undefined).env.COCALC_ASKPASS_SOCKET!;
    const servedDir = join(served, "..");
    await utimes(servedDir, old, old);
    const next = await AskpassServer.start(testLog);
    try {
      expect(existsSync(abandoned)).toBe(false);
      expect(existsSync(served)).toBe(true);
      expect(existsSync(fresh)).toBe(true);
    } finally {
      await next.close();
      await running.close();
      await rm(fresh, { recursive: true, force: true });
    }
    expect(existsSync(servedDir)).toBe(false);
  });
});
