import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { REDACTION } from "./logger.js";

describe("logger", () => {
  it("redacts secret fields, also nested", () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk;
        done();
      },
    });
    const log = pino({ redact: REDACTION }, sink);
    log.info(
      {
        token: "t-top",
        session: { credential: "c-nested", nats: { pass: "p-deeper" } },
        req: { headers: { authorization: "Bearer a-deep" } },
        path: "/keep/me",
      },
      "hello",
    );
    for (const secret of ["t-top", "c-nested", "p-deeper", "a-deep"])
      expect(out).not.toContain(secret);
    expect(out).toContain("/keep/me");
    expect(out).toContain("[secret]");
  });
});
