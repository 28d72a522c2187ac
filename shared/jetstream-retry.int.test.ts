import { delay } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setup, type TestNats } from "../test/helpers/nats.js";
import { retryJetStreamRequests } from "./jetstream-retry.js";

describe("JetStream requests across an account update", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup();
    retryJetStreamRequests(t.nc, delay);
  });
  afterAll(() => t.cleanup());

  /** Answers `subject` once, from `ms` from now: as an import given back after a JWT push. */
  function answerLater(subject: string, ms: number) {
    setTimeout(() => {
      t.nc.subscribe(subject, {
        max: 1,
        callback: (_e, m) => {
          m.respond("here");
        },
      });
    }, ms);
  }

  it("a JetStream request that finds no responders for a moment gets its answer", async () => {
    answerLater("$JS.TEST.API.INFO", 120);
    const m = await t.nc.request("$JS.TEST.API.INFO", "", { timeout: 5000 });
    expect(m.string()).toBe("here");
  });

  it("fails with no responders when nobody comes; other subjects are not asked again", async () => {
    await expect(t.nc.request("$JS.TEST.API.NOBODY", "", { timeout: 5000 })).rejects.toThrow(
      /no responders/,
    );
    answerLater("test.later", 120);
    await expect(t.nc.request("test.later", "", { timeout: 5000 })).rejects.toThrow(
      /no responders/,
    );
  });
});
