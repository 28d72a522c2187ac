import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoreLoss } from "../../shared/health.js";
import { setup, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { scrubStore } from "./store-scrub.js";

describe("store scrub - garbage inside a block file", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
    await t.jsm.streams.add({ name: "TESTEV", subjects: ["testev.>"] });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("reports the one message the garbage made unreadable, not deleted ones", async () => {
    for (let i = 1; i <= 500; i++)
      await t.js.publish("testev.x", JSON.stringify({ i, pad: "x".repeat(200) }));
    await t.jsm.streams.deleteMessage("TESTEV", 10);
    expect(await scrubStore({ js: t.js, jsm: t.jsm, log: testLog, report: () => {} })).toEqual([]);

    await t.server.stop();
    const msgs = join(t.dir, "jetstream", "jetstream", "$G", "streams", "TESTEV", "msgs");
    const block = join(msgs, (await readdir(msgs)).filter((f) => f.endsWith(".blk")).sort()[0]!);
    const fh = await open(block, "r+");
    await fh.write(
      Buffer.from("GARBAGE".repeat(3)),
      0,
      21,
      Math.floor((await stat(block)).size / 2),
    );
    await fh.close();
    await t.server.start();
    await until("the stream answers", async () =>
      t.jsm.streams.info("TESTEV").catch(() => undefined),
    );

    const reported: StoreLoss[] = [];
    const found = await scrubStore({
      js: t.js,
      jsm: t.jsm,
      log: testLog,
      report: (l) => reported.push(l),
    });
    expect(found).toHaveLength(1);
    expect(reported).toEqual(found);
    const [loss] = found;
    expect(loss).toMatchObject({ kind: "unreadable", stream: "TESTEV" });
    expect(loss!.from).toBeGreaterThan(10);
    expect(loss!.to).toBeLessThan(500);
    // That sequence really reads as nothing, its neighbours read.
    await expect(t.jsm.streams.getMessage("TESTEV", { seq: loss!.from })).resolves.toBeFalsy();
    expect(await t.jsm.streams.getMessage("TESTEV", { seq: loss!.from - 1 })).toBeTruthy();
    expect(await t.jsm.streams.getMessage("TESTEV", { seq: loss!.to + 1 })).toBeTruthy();
  }, 60_000);
});
