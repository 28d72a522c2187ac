import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostSubjects } from "../../shared/subjects.js";
import { setup, type TestNats, until } from "../../test/helpers/nats.js";
import { BytePipe, type BytePipeOptions, PIPE_WINDOW } from "./byte-pipe.js";

let t: TestNats;
let hubNc: NatsConnection;
let hostNc: NatsConnection;
let n = 0;

beforeAll(async () => {
  t = await setup();
  hubNc = await t.connect("hub");
  hostNc = await t.connect("host");
});
afterAll(async () => {
  await t.cleanup();
});

/** Both ends of a new pipe, each ready. */
async function pair(o: Partial<BytePipeOptions> = {}, nc = { hub: hubNc, host: hostNc }) {
  const s = hostSubjects("h1").pipe("ws1", `p${n++}`);
  const hub = new BytePipe({ nc: nc.hub, send: s.toHost, receive: s.fromHost, ...o });
  const host = new BytePipe({ nc: nc.host, send: s.fromHost, receive: s.toHost, ...o });
  await Promise.all([hub.ready(), host.ready()]);
  return { hub, host, subjects: s };
}

/** Everything `p` receives until its peer ends (the pipe's own writing side stays open). */
function readAll(p: BytePipe): Promise<Buffer> {
  const parts: Buffer[] = [];
  p.on("data", (b: Buffer) => parts.push(b));
  return new Promise((resolve, reject) => {
    p.once("end", () => resolve(Buffer.concat(parts)));
    p.once("error", reject);
  });
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("byte pipe", () => {
  it("byte pipe - carries bytes in order both ways at once", async () => {
    const { hub, host } = await pair();
    const up = randomBytes(9 * 1024 * 1024 + 17);
    const down = randomBytes(5 * 1024 * 1024 + 3);
    const gotUp = readAll(host);
    const gotDown = readAll(hub);
    // Many writes of odd sizes, so chunking and credit both come into play.
    const writeAll = async (p: BytePipe, b: Buffer) => {
      for (let at = 0; at < b.length; at += 100_003) {
        if (!p.write(b.subarray(at, at + 100_003))) await once(p, "drain");
      }
      p.end();
    };
    await Promise.all([writeAll(hub, up), writeAll(host, down)]);
    expect(sha(await gotUp)).toBe(sha(up));
    expect(sha(await gotDown)).toBe(sha(down));
    await until(
      "both ends closed",
      async () => hub.destroyed !== undefined && host.writableFinished,
    );
  });

  it("byte pipe - a reader that does not read stalls the writer at its window", async () => {
    const { hub, host } = await pair();
    host.pause();
    const total = 4 * PIPE_WINDOW;
    const data = randomBytes(total);
    let written = 0;
    const writer = (async () => {
      for (let at = 0; at < total; at += 64 * 1024) {
        if (!hub.write(data.subarray(at, at + 64 * 1024))) await once(hub, "drain");
        written = at;
      }
      hub.end();
    })();
    await until("the window filled", async () => host.readableLength >= PIPE_WINDOW - 64 * 1024);
    // Everything the writer sent so far has reached the reader's end.
    await hubNc.flush();
    await hostNc.flush();
    expect(host.readableLength).toBeLessThanOrEqual(PIPE_WINDOW);
    expect(written).toBeLessThan(total - PIPE_WINDOW);
    // Reading frees credit, and the rest comes.
    const got = readAll(host);
    host.resume();
    await writer;
    expect(sha(await got)).toBe(sha(data));
    host.end();
  });

  it("byte pipe - keeps control messages in order with the bytes", async () => {
    const { hub, host } = await pair();
    const seen: string[] = [];
    // When a control message comes, the bytes written before it (and none after) are readable.
    host.on("control", (c: { n: number }) => {
      seen.push(`bytes:${host.readableLength}`, `control:${c.n}`);
    });
    hub.write("a");
    hub.control({ n: 1 });
    hub.write("bc");
    hub.control({ n: 2 });
    hub.end();
    await until("both control messages", async () => seen.length === 4);
    expect(seen).toEqual(["bytes:1", "control:1", "bytes:3", "control:2"]);
    expect(String(host.read())).toBe("abc");
    host.end();
  });

  it("byte pipe - half close: one side ends, the other still sends", async () => {
    const { hub, host } = await pair();
    hub.end("request");
    const req = await readAll(host);
    expect(req.toString()).toBe("request");
    const reply = readAll(hub);
    host.end("reply");
    expect((await reply).toString()).toBe("reply");
    await until("both closed", async () => hub.writableFinished && host.writableFinished);
  });

  it("byte pipe - an abort reaches the other end with its reason", async () => {
    const { hub, host } = await pair();
    const failed = once(host, "error");
    hub.on("error", () => undefined);
    hub.destroy(new Error("the user closed the session"));
    const [err] = (await failed) as [Error & { code?: string }];
    expect(err.code).toBe("ERR_PIPE_ABORTED");
    expect(err.message).toContain("the user closed the session");
  });

  it("byte pipe - a peer that dies is noticed by its silence", async () => {
    const hostSide = await t.connect("host-that-dies");
    const { hub, host } = await pair(
      { pingMs: 100, deadMs: 1_000 },
      { hub: hubNc, host: hostSide },
    );
    host.on("error", () => undefined);
    hub.write("hello");
    expect((await once(host, "data"))[0].toString()).toBe("hello");
    const failed = once(hub, "error");
    // The host's process goes: its connection closes without a word on the pipe.
    await hostSide.close();
    const [err] = (await failed) as [Error & { code?: string }];
    expect(err.code).toBe("ERR_PIPE_PEER_GONE");
    host.destroy();
  });

  it("byte pipe - a lost message breaks the pipe instead of passing wrong bytes", async () => {
    const { hub, host, subjects } = await pair();
    const failed = once(host, "error");
    // A data frame with sequence 7 where 0 is due (as if 0..6 were dropped).
    const f = new Uint8Array([0, 0, 0, 0, 7, 65]);
    hubNc.publish(subjects.toHost, f);
    const [err] = (await failed) as [Error & { code?: string }];
    expect(err.code).toBe("ERR_PIPE_BROKEN");
    // The other end hears it and fails too.
    const [err2] = (await once(hub, "error")) as [Error & { code?: string }];
    expect(err2.code).toBe("ERR_PIPE_ABORTED");
  });

  it("byte pipe - a sender that ignores its credit is cut off", async () => {
    const { hub, host, subjects } = await pair({ window: 1024 });
    hub.on("error", () => undefined);
    const failed = once(host, "error");
    const big = new Uint8Array(5 + 4096);
    hubNc.publish(subjects.toHost, big);
    const [err] = (await failed) as [Error & { code?: string }];
    expect(err.code).toBe("ERR_PIPE_BROKEN");
    expect(err.message).toContain("more than it may");
    hub.destroy();
  });
});
