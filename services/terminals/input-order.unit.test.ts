import { describe, expect, it } from "vitest";
import { InputOrder } from "./input-order.js";

describe("terminal input order", () => {
  const tag = (seq: number, acked = 0, stream = "pageStream1") => ({ stream, seq, acked });

  it("input order - each number is written once, in order; a gap asks for the missing one", () => {
    const o = new InputOrder();
    expect(o.take("t1", tag(1))).toEqual({ write: true, ack: { ok: true, seq: 1 } });
    expect(o.take("t1", tag(2))).toEqual({ write: true, ack: { ok: true, seq: 2 } });
    // Sent again (its answer was lost): not written twice.
    expect(o.take("t1", tag(2))).toEqual({ write: false, ack: { ok: true, seq: 2 } });
    expect(o.take("t1", tag(1))).toEqual({ write: false, ack: { ok: true, seq: 2 } });
    // 3 was lost: 4 and 5 wait until 3 comes again.
    expect(o.take("t1", tag(4))).toEqual({ write: false, ack: { ok: false, expect: 3 } });
    expect(o.take("t1", tag(5))).toEqual({ write: false, ack: { ok: false, expect: 3 } });
    for (const seq of [3, 4, 5])
      expect(o.take("t1", tag(seq, 2))).toEqual({ write: true, ack: { ok: true, seq } });
    // Another terminal, another stream: their own numbers.
    expect(o.take("t2", tag(1))).toEqual({ write: true, ack: { ok: true, seq: 1 } });
    expect(o.take("t1", tag(1, 0, "otherStream1"))).toMatchObject({ write: true });
  });

  it("input order - a stream not seen (the service restarted) starts after what the page saw acknowledged", () => {
    const o = new InputOrder();
    expect(o.take("t1", tag(8, 7))).toEqual({ write: true, ack: { ok: true, seq: 8 } });
    const fresh = new InputOrder();
    expect(fresh.take("t1", tag(9, 6))).toEqual({ write: false, ack: { ok: false, expect: 7 } });
    expect(fresh.take("t1", tag(7, 6))).toMatchObject({ write: true });
  });

  it("input order - remembers a bounded number of streams, the oldest forgotten first", () => {
    const o = new InputOrder(2);
    o.take("t1", tag(1, 0, "streamAAAA"));
    o.take("t1", tag(1, 0, "streamBBBB"));
    o.take("t1", tag(1, 0, "streamCCCC"));
    // A was forgotten: its next piece is taken on what the page says was acknowledged.
    expect(o.take("t1", tag(2, 1, "streamAAAA"))).toMatchObject({ write: true });
    expect(o.take("t1", tag(2, 1, "streamCCCC"))).toMatchObject({ write: true });
  });
});
