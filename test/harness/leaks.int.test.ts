/** The harness notices what a test leaves open: a child, a server, a NATS subscription. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { running, startedSince } from "../helpers/leaks.js";
import { setup, until } from "../helpers/nats.js";

describe("leak check", () => {
  it("names a child process and a listening server started since, and forgets them once gone", async () => {
    const before = running();
    const child = spawn("sleep", ["30"]);
    const server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const found = startedSince(before);
    expect(found).toContainEqual(expect.stringMatching(/child process \d+: sleep 30/));
    expect(found).toContain("1 × TCPServerWrap");
    child.kill();
    await once(child, "exit");
    await new Promise<void>((r) => server.close(() => r()));
    // Node lets go of a closed handle a moment after its close callback.
    await until("the child and the server are forgotten", async () =>
      startedSince(before).length === 0 ? true : undefined,
    );
  });

  it("the test server's cleanup fails while a subscription is still open", async () => {
    const t = await setup();
    t.nc.subscribe("left.open");
    await expect(t.cleanup()).rejects.toThrow(/NATS subscriptions left open: left\.open/);
  });
});
