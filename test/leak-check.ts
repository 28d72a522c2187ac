/**
 * Every test file leaves nothing running: after its own hooks, the child processes, sockets
 * and servers it started are gone (waited for briefly: they may be ending), else the file
 * fails and names them (test/helpers/leaks.ts).
 */
import { afterAll, beforeAll } from "vitest";
import { type Running, reportLeak, running, startedSince } from "./helpers/leaks.js";

let before: Running;

beforeAll(() => {
  before = running();
});

afterAll(async () => {
  let found = startedSince(before);
  const deadline = Date.now() + 5_000;
  while (found.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    found = startedSince(before);
  }
  if (found.length > 0) reportLeak(`the test file left running: ${found.join("; ")}`);
});
