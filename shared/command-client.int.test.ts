import type { Subscription } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setup, type TestNats } from "../test/helpers/nats.js";
import { commandReply, errorText, parseReply, request, requestReply } from "./command-client.js";
import { CocalcError } from "./errors.js";

describe("command client", () => {
  let t: TestNats;
  let sub: Subscription;
  beforeAll(async () => {
    t = await setup();
    // Answers each request `{ type: "Say", data }` with its data (a string as it is).
    sub = t.nc.subscribe("test.answer", {
      callback: (_err, m) => {
        const { data } = m.json<{ data: unknown }>();
        m.respond(typeof data === "string" ? data : JSON.stringify(data));
      },
    });
  });
  afterAll(async () => {
    sub.unsubscribe();
    await t.cleanup();
  });

  const say = (reply: unknown) => ({ type: "Say", data: reply });

  it("client - an ok reply is returned, an error reply thrown as a coded error", async () => {
    expect(
      await request<{ result: number }>(t.nc, "test.answer", say({ ok: true, result: 7 }), {
        timeoutMs: 5000,
      }),
    ).toEqual({ ok: true, result: 7 });
    const refusal = { ok: false, error: { code: "ERR_COMMAND_REJECTED", message: "not now" } };
    const err = await request(t.nc, "test.answer", say(refusal), { timeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CocalcError);
    expect(err).toMatchObject({ code: "ERR_COMMAND_REJECTED", message: "not now" });
    expect(await requestReply(t.nc, "test.answer", say(refusal), { timeoutMs: 5000 })).toEqual(
      refusal,
    );
    await expect(
      request(t.nc, "test.answer", say(refusal), {
        timeoutMs: 5000,
        refused: (e) => new Error(errorText(e)),
      }),
    ).rejects.toThrow("not now (ERR_COMMAND_REJECTED)");
  });

  it("client - a command's ok reply must list its sequences; anything else is ERR_INTERNAL", async () => {
    expect(
      await commandReply(t.nc, "test.answer", say({ ok: true, seqs: [3] }), { timeoutMs: 5000 }),
    ).toEqual({ ok: true, seqs: [3] });
    expect(await commandReply(t.nc, "test.answer", say({ ok: true }), { timeoutMs: 5000 })).toEqual(
      {
        ok: false,
        error: { code: "ERR_INTERNAL", message: "the reply has an unexpected shape" },
      },
    );
    expect(parseReply("garbage{")).toEqual({
      ok: false,
      error: { code: "ERR_INTERNAL", message: "the reply is not JSON" },
    });
  });

  it("client - a request nobody answers throws what `unanswered` makes of it", async () => {
    await expect(
      request(
        t.nc,
        "test.nobody",
        {},
        {
          timeoutMs: 5000,
          unanswered: (err) => new Error(`nobody: ${(err as Error).message}`),
        },
      ),
    ).rejects.toThrow(/^nobody: no responders/);
  });
});
