import { describe, expect, it } from "vitest";
import { FrameReader, hostFiles, inputFrame, jsonFrame, outputFrame } from "./host-protocol.js";

describe("pty host frames", () => {
  it("come out whole however the stream is cut", () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 255));
    const stream = Buffer.concat([
      jsonFrame({ op: "attach", tid: "tabcdefgh", from: 12 }),
      outputFrame("tabcdefgh", 2 ** 40 + 5, data),
      inputFrame("tabcdefgh", Buffer.from("ls\r")),
      jsonFrame({ op: "ack", tid: "tabcdefgh", offset: 99 }),
    ]);
    for (const step of [1, 3, 7, 4096, stream.length]) {
      const reader = new FrameReader();
      const frames = [];
      for (let i = 0; i < stream.length; i += step) {
        frames.push(...reader.push(stream.subarray(i, i + step)));
      }
      expect(frames.map((f) => f.kind)).toEqual(["json", "output", "input", "json"]);
      expect(frames[0]).toEqual({
        kind: "json",
        message: { op: "attach", tid: "tabcdefgh", from: 12 },
      });
      const out = frames[1] as { tid: string; offset: number; data: Buffer };
      expect([out.tid, out.offset]).toEqual(["tabcdefgh", 2 ** 40 + 5]);
      expect(Buffer.compare(out.data, data)).toBe(0);
      expect((frames[2] as { data: Buffer }).data.toString()).toBe("ls\r");
    }
  });

  it("refuse a frame length that makes no sense", () => {
    const reader = new FrameReader();
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(2 ** 31, 0);
    expect(() => reader.push(bad)).toThrow(/bad frame length/);
  });

  it("use a short socket path even for a deep directory", () => {
    expect(hostFiles("/tmp/x").socket).toBe("/tmp/x/pty-host.sock");
    const deep = `/tmp/${"d".repeat(150)}`;
    expect(Buffer.byteLength(hostFiles(deep).socket)).toBeLessThan(100);
    expect(hostFiles(deep).pid).toBe(`${deep}/pty-host.pid`);
  });
});
