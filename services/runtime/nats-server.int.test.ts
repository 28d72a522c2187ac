import { createServer, connect as tcpConnect } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { envelope } from "../../shared/envelope.js";
import { Streams } from "../../shared/subjects.js";
import { defaultSettings, WorkspaceCreated } from "../../shared/workspace.js";
import { setup, type TestNats, until } from "../../test/helpers/nats.js";
import { renderNatsConfig, supportsSyncAlways } from "./nats-server.js";
import { publishEvent } from "./publish.js";

describe("nats-server child", () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await setup({ streams: true });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it("config - loopback only, no anonymous user, sync_interval only where supported", () => {
    const conf = JSON.parse(renderNatsConfig({ ...t.server.config }));
    expect(conf.host).toBe("127.0.0.1");
    expect(conf.websocket.host).toBe("127.0.0.1");
    expect(conf.websocket.allowed_origins).toEqual(["http://test.invalid"]);
    expect(conf.no_auth_user).toBeUndefined();
    expect(conf.accounts).toBeUndefined();
    expect(conf.jetstream.sync_interval).toBeUndefined();
    expect(
      JSON.parse(renderNatsConfig({ ...t.server.config, syncAlways: true })).jetstream
        .sync_interval,
    ).toBe("always");
    expect(supportsSyncAlways([2, 9, 10])).toBe(false);
    expect(supportsSyncAlways([2, 10, 22])).toBe(false);
    expect(supportsSyncAlways([2, 10, 23])).toBe(true);
    expect(supportsSyncAlways([2, 11, 0])).toBe(true);
  });

  it("security - connections without credentials are refused, over TCP and WebSocket", async () => {
    await expect(connect({ servers: t.url, reconnect: false, timeout: 3000 })).rejects.toThrow(
      /Authorization/i,
    );
    await expect(
      connect({ servers: t.url, user: "browser", pass: "wrong", reconnect: false, timeout: 3000 }),
    ).rejects.toThrow(/Authorization/i);
    const ws = `ws://127.0.0.1:${t.server.config.wsPort}`;
    // Node 20 has no global WebSocket; nats.js uses whatever is there.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    // This client sends no Origin; nats-server then checks credentials alone.
    await expect(wsconnect({ servers: ws, reconnect: false, timeout: 3000 })).rejects.toThrow();
    // A page from another site cannot reach nats-server's websocket directly.
    const status = await new Promise<number>((resolve) => {
      const sock = new WebSocket(ws, { origin: "http://evil.example" });
      sock.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      sock.on("open", () => {
        sock.close();
        resolve(101);
      });
      sock.on("error", () => resolve(-1));
    });
    expect(status).toBe(403);
    const browser = await wsconnect({
      servers: ws,
      user: t.browser.user,
      pass: t.browser.password,
      reconnect: false,
      timeout: 3000,
    });
    await browser.close();
    // A raw TCP client that does not log in is dropped.
    const banner = await new Promise<string>((resolve) => {
      const s = tcpConnect({ host: "127.0.0.1", port: t.server.config.port });
      let data = "";
      s.on("data", (d) => {
        data += d.toString();
        if (data.includes("INFO")) s.write("CONNECT {}\r\nPING\r\n");
      });
      s.on("close", () => resolve(data));
      s.on("error", () => resolve(data));
    });
    expect(banner).toMatch(/-ERR 'Authorization Violation'/);
  });

  it("security - the browser user cannot publish events or write views", async () => {
    const nc = await connect({
      servers: t.url,
      user: t.browser.user,
      pass: t.browser.password,
      reconnect: false,
    });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    const js = jetstream(nc, { timeout: 2000 });
    await expect(js.publish("ws.testws1.life.settings", "{}")).rejects.toThrow();
    await expect(js.publish("$KV.settings.testws1", "{}")).rejects.toThrow();
    await nc.close();
  });

  it("durability - kill -9 while publishing 10k acked events: every acked event is there after the restart", async () => {
    const N = 10_000;
    const nc: NatsConnection = await t.connect("publisher");
    const js = jetstream(nc, { timeout: 3000 });
    const at = new Date().toISOString();
    const events = Array.from({ length: N }, (_, i) =>
      envelope(WorkspaceCreated, { settings: defaultSettings(`w${i}`) }, { actor: "t", at }),
    );
    const acked = new Set<string>();
    let next = 0;
    let killed = false;
    const oldPid = t.server.pid!;
    const restarted = new Promise<void>((r) => t.server.once("restarted", () => r()));
    async function worker() {
      while (next < N) {
        const e = events[next++]!;
        // Retry until acked: the msg id makes a retried publish land once.
        for (;;) {
          try {
            await publishEvent(js, `ws.w${next % 13}.life.settings`, e, { timeoutMs: 3000 });
            acked.add(e.id);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        if (!killed && acked.size >= N / 3) {
          killed = true;
          process.kill(oldPid, "SIGKILL");
        }
      }
    }
    await Promise.all(Array.from({ length: 64 }, worker));
    await restarted;
    expect(t.server.pid).not.toBe(oldPid);
    expect(acked.size).toBe(N);

    const seen = new Map<string, number>();
    const consumer = await js.consumers.get(Streams.WORKSPACES, {
      filter_subjects: "ws.*.life.settings",
    });
    const messages = await consumer.consume();
    for await (const m of messages) {
      const id = m.json<{ id: string }>().id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (m.info.pending === 0) break;
    }
    messages.stop();
    const missing = [...acked].filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it("supervision - the server is restarted by itself and clients carry on", async () => {
    const pid = t.server.pid!;
    const restarted = new Promise<void>((r) => t.server.once("restarted", () => r()));
    process.kill(pid, "SIGKILL");
    await restarted;
    await until("services connection back", async () => {
      try {
        await t.nc.flush();
        await t.jsm.getAccountInfo();
        return true;
      } catch {
        return false;
      }
    });
  });
});

describe("nats-server child - a port taken between picking it and binding it", () => {
  it("starts on other ports, and the connection info follows", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    const taken = (holder.address() as { port: number }).port;
    try {
      const t = await setup({ port: taken });
      try {
        expect(t.server.config.port).not.toBe(taken);
        expect(t.url).toBe(`nats://127.0.0.1:${t.server.config.port}`);
        expect((await t.jsm.getAccountInfo()).streams).toBeGreaterThanOrEqual(0);
      } finally {
        await t.cleanup();
      }
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });
});
