import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { locateNatsServer } from "./nats-server.js";

describe("finding nats-server", () => {
  it.skipIf(!existsSync("/usr/sbin/nats-server"))(
    "finds Debian's in /usr/sbin with a user's PATH that lacks it",
    () => {
      expect(locateNatsServer(undefined, { PATH: "/usr/local/bin:/usr/bin:/bin" })).toBe(
        "/usr/sbin/nats-server",
      );
    },
  );

  it("says how to install it when an explicit path is wrong", () => {
    expect(() => locateNatsServer("/no/such/nats-server", {})).toThrow(
      /--nats-server points to \/no\/such\/nats-server.*Install it/s,
    );
  });
});
