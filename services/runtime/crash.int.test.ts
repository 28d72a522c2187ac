import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope } from "../../shared/envelope.js";
import { Counted } from "../../test/helpers/counter-worker.js";
import { setup, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { ensureDurable } from "./consumer.js";
import { publishEvents } from "./publish.js";

const WORKER = new URL("../../dist/test/helpers/counter-worker.js", import.meta.url).pathname;
const N = 2000;
if (!existsSync(WORKER)) console.warn(`crash tests skipped: no ${WORKER} (npm run build)`);

describe.skipIf(!existsSync(WORKER))("a service killed mid-stream", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
    await t.jsm.streams.add({ name: "TESTEV", subjects: ["testev.>"] });
    await new Kvm(t.nc).create("testcount");
    await ensureDurable(
      t.jsm,
      { stream: "TESTEV", durable: "counter", filterSubject: "testev.>" },
      testLog,
    );
  });
  const workers: ChildProcess[] = [];
  afterAll(async () => {
    for (const w of workers) w.kill("SIGKILL");
    await t.cleanup();
  });

  function startWorker() {
    const child = spawn(process.execPath, [WORKER], {
      env: { ...process.env, NATS_URL: t.url },
      stdio: ["pipe", "pipe", "inherit"],
    });
    child.stdin.end(t.seed);
    workers.push(child);
    return child;
  }

  it("resumes after kill -9 with nothing lost or applied twice", async () => {
    const at = new Date().toISOString();
    await publishEvents(
      t.js,
      Array.from({ length: N }, (_, i) => ({
        subject: `testev.${i % 7}`,
        event: envelope(Counted, { n: i + 1 }, { actor: "t", at }),
      })),
    );
    const kv = await new Kvm(t.nc).open("testcount");
    const count = async () => (await kv.get("total"))?.json<{ count: number; sum: number }>();

    const first = startWorker();
    await until("a quarter projected", async () => ((await count())?.count ?? 0) > N / 4);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const atKill = (await count())!.count;
    expect(atKill).toBeLessThan(N);

    const second = startWorker();
    const final = await until("all projected", async () => {
      const c = await count();
      return c && c.count >= N ? c : undefined;
    });
    await until("all acked", async () => {
      const info = await t.jsm.consumers.info("TESTEV", "counter");
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    second.kill("SIGKILL");
    expect(final).toMatchObject({ count: N, sum: (N * (N + 1)) / 2 });
    expect(await count()).toEqual(final);
  });
});
