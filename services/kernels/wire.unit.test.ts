import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DELIMITER, Wire } from "./wire.js";

describe("jupyter wire format", () => {
  it("signs the four JSON frames with HMAC-SHA256 of the key, and reads its own messages", () => {
    const wire = new Wire("a-key");
    const frames = wire.encode("execute_request", { code: "1+1" }, { msgId: "m1" });
    expect(frames[0]!.toString()).toBe(DELIMITER);
    const mac = createHmac("sha256", "a-key");
    for (const f of frames.slice(2, 6)) mac.update(f);
    expect(frames[1]!.toString()).toBe(mac.digest("hex"));
    const m = wire.decode([Buffer.from("router-identity"), ...frames]);
    expect(m?.header).toMatchObject({ msg_id: "m1", msg_type: "execute_request", version: "5.3" });
    expect(m?.content).toEqual({ code: "1+1" });
  });

  it("security - drops a message with a wrong signature, another key's, or malformed frames", () => {
    const wire = new Wire("a-key");
    const frames = wire.encode("status", { execution_state: "idle" });
    const forged = [...frames];
    forged[5] = Buffer.from(JSON.stringify({ execution_state: "busy" }));
    expect(wire.decode(forged)).toBeUndefined();
    expect(new Wire("another-key").decode(frames)).toBeUndefined();
    expect(wire.decode(frames.slice(0, 4))).toBeUndefined();
    expect(wire.decode([Buffer.from("no delimiter")])).toBeUndefined();
    const notJson = [...frames];
    notJson[2] = Buffer.from("{");
    notJson[1] = Buffer.from(
      createHmac("sha256", "a-key")
        .update(Buffer.concat(notJson.slice(2, 6)))
        .digest("hex"),
    );
    expect(wire.decode(notJson)).toBeUndefined();
  });
});
