/**
 * Restarts do not strand open tabs: plus takes the port of its last start again when it is
 * free (tabs reconnect by themselves), another when it is taken; `cocalc-plus open` prints the
 * running plus's sign-in URL.
 */

import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import {
  PLUS_BIN,
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  startPlus,
  tempHome,
} from "../../test/helpers/plus.js";

if (!existsSync(PLUS_BIN)) console.warn(`restart tests skipped: no ${PLUS_BIN} (npm run build)`);

describe.skipIf(!existsSync(PLUS_BIN))("restarting plus", () => {
  let home: string;
  let plus: RunningPlus | undefined;

  afterAll(async () => {
    await plus?.stop("SIGKILL");
    if (home) await removeHome(home);
  });

  it("a start without --port takes the last start's port when it is free, another when it is taken", async () => {
    home = await tempHome();
    plus = await startPlus({ home, port: "last" });
    const first = plus.port;
    expect(await plus.stop()).toBe(0);
    plus = await startPlus({ home, port: "last" });
    expect(plus.port).toBe(first);
    expect((await fetch(`${plus.url}healthz`)).status).toBe(200);
    expect(await plus.stop()).toBe(0);

    // Someone else has it now: plus starts all the same, elsewhere.
    const squatter = createServer().listen(first, "127.0.0.1");
    await once(squatter, "listening");
    try {
      plus = await startPlus({ home, port: "last" });
      expect(plus.port).not.toBe(first);
      expect(plus.output()).not.toMatch(/EADDRINUSE/);
      expect((await fetch(`${plus.url}healthz`)).status).toBe(200);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    // An explicit --port 0 asks for a free port, whatever the last one was.
    expect(await plus.stop()).toBe(0);
    const moved = plus.port;
    plus = await startPlus({ home, port: 0 });
    expect(plus.port).not.toBe(moved);
    expect(await plus.stop()).toBe(0);
  });

  it("`cocalc-plus open` prints the running plus's sign-in URL; with none running it says so", async () => {
    plus = await startPlus({ home });
    const env = plusEnv(home);
    const r = runPlus(["open", "--data-dir", plus.dataDir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`cocalc-plus: ${plus.signInUrl}`);
    expect(await plus.stop()).toBe(0);
    const none = runPlus(["open", "--data-dir", plus.dataDir], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`none is running on ${plus.dataDir}`);
  });
});
