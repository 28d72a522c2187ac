/**
 * Proxied apps at the gateway (`/port/<n>/`, `/proxy/<n>/`) against a real HTTP app and a real
 * WebSocket echo server on loopback: who passes (link token as Bearer or ?token=, the cookie it
 * is exchanged for, only from this origin), who does not (expired, another port, forged, another
 * key, signed out, a page of another port), on HTTP and on WebSocket upgrade; bodies of 1 MiB
 * both ways; the headers the app gets; a 502 when nothing listens.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { testLog, until } from "../../test/helpers/nats.js";
import { signIn } from "../../test/helpers/plus.js";
import { freePort } from "../runtime/ports.js";
import { buildApp } from "./app.js";
import { ProxyTokens } from "./app-proxy-tokens.js";
import { BrowserSessions } from "./browser-sessions.js";

const MIB = 1024 * 1024;
const ENDLESS = 128 * MIB;
/** How far the app got writing /endless, and whether it waits for the proxy to take more. */
const flow = { written: 0, blocked: false };
const WSID = "ws-proxy-test";

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** One HTTP request with exactly these headers (fetch adds its own Sec-Fetch-*). */
function send(
  port: number,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: o.method ?? "GET", headers: o.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** Opens a WebSocket; resolves with the echo of "ping", or the status it was refused with. */
function wsEcho(url: string, headers: Record<string, string>): Promise<string | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => ws.send("ping"));
    ws.on("message", (m) => {
      resolve(m.toString());
      ws.close();
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on("error", () => resolve(-1));
  });
}

describe("gateway - proxied apps", () => {
  let dir: string;
  let app: FastifyInstance;
  let port: number;
  let appServer: Server;
  let appPort: number;
  let echo: WebSocketServer;
  let echoPort: number;
  let tokens: ProxyTokens;
  let sessions: BrowserSessions;
  let bearer: Record<string, string>;
  let origin: string;

  const mint = async (p: number, headers = bearer): Promise<string> => {
    const res = await send(port, "/api/proxy/token", {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ port: p })),
    });
    expect(res.status).toBe(200);
    return (JSON.parse(res.body.toString()) as { token: string }).token;
  };

  /** A cookie for `p` from exchanging a fresh link, as the browser gets it. */
  const cookieFor = async (p: number): Promise<string> => {
    const token = await mint(p);
    const res = await send(port, `/port/${p}/?token=${token}`, {
      headers: { "sec-fetch-site": "none" },
    });
    expect(res.status).toBe(303);
    return String(res.headers["set-cookie"]).split(";")[0]!;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "app-proxy-"));
    appServer = createServer((req, res) => {
      if (req.url?.endsWith("/endless")) {
        // 128 MiB, written as fast as the proxy takes it: the counter shows what it took.
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const chunk = Buffer.alloc(64 * 1024, 1);
        let left = ENDLESS / chunk.length;
        const more = () => {
          while (left > 0) {
            left--;
            flow.written += chunk.length;
            if (!res.write(chunk)) {
              flow.blocked = true;
              res.once("drain", () => {
                flow.blocked = false;
                more();
              });
              return;
            }
          }
          res.end();
        };
        more();
        return;
      }
      if (req.url?.endsWith("/big")) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.alloc(MIB, 7));
        return;
      }
      if (req.method === "POST") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        req.pipe(res);
        return;
      }
      if (req.url?.endsWith("/redirect")) {
        res.writeHead(302, { location: "/elsewhere" });
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json", connection: "keep-alive" });
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
    appPort = await freePort();
    await new Promise<void>((r) => appServer.listen(appPort, "127.0.0.1", r));
    echoPort = await freePort();
    echo = new WebSocketServer({ host: "127.0.0.1", port: echoPort });
    echo.on("connection", (s) => s.on("message", (m) => s.send(m.toString())));
    await new Promise<void>((r) => echo.once("listening", r));

    tokens = await ProxyTokens.open(join(dir, "proxy-key"));
    sessions = await BrowserSessions.open();
    app = await buildApp({
      token: () => "token-of-proxy-test-0123456789",
      sessions,
      allowedHosts: new Set(["127.0.0.1"]),
      webRoot: "/nonexistent",
      natsWsPort: () => 1,
      natsWsOrigin: "http://x.invalid",
      session: () => ({
        wsid: WSID,
        version: "t",
        natsPath: "/nats",
        nats: { user: "u", pass: "p" },
      }),
      health: () => ({ status: "ok" }),
      log: testLog,
      appProxy: { tokens },
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as { port: number }).port;
    origin = `http://127.0.0.1:${port}`;
    bearer = (await signIn(port, "token-of-proxy-test-0123456789")).headers;
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((r) => appServer?.close(r));
    await new Promise((r) => echo?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it("proxy - the key is a 0600 file of the data dir", async () => {
    expect((await stat(join(dir, "proxy-key"))).mode & 0o777).toBe(0o600);
  });

  it("proxy - a link token as Bearer passes; the app sees its path, not our token or cookie", async () => {
    const token = await mint(appPort);
    const res = await send(port, `/port/${appPort}/hello?x=1`, {
      headers: {
        authorization: `Bearer ${token}`,
        cookie: "cocalc-app-p1=zzz; theirs=1",
        connection: "keep-alive, x-private",
        "x-private": "hop",
      },
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body.toString()) as {
      url: string;
      headers: Record<string, string>;
    };
    expect(seen.url).toBe(`/port/${appPort}/hello?x=1`);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.cookie).toBe("theirs=1");
    expect(seen.headers["x-private"]).toBeUndefined();
    expect(seen.headers.host).toBe(`127.0.0.1:${port}`);
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(res.headers.connection).not.toBe("keep-alive, x-private");
  });

  it("proxy - ?token= is exchanged for a cookie of the app's path and taken out of the URL", async () => {
    const token = await mint(appPort);
    const res = await send(port, `/port/${appPort}/lab?a=b&token=${token}`, {
      headers: { "sec-fetch-site": "same-origin" },
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/port/${appPort}/lab?a=b`);
    const setCookie = String(res.headers["set-cookie"]);
    expect(setCookie).toContain(`Path=/port/${appPort}/`);
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    const cookie = setCookie.split(";")[0]!;
    const ok = await send(port, `/port/${appPort}/lab?a=b`, {
      headers: { cookie, "sec-fetch-site": "same-origin" },
    });
    expect(ok.status).toBe(200);
    // Typed or bookmarked: Sec-Fetch-Site none.
    expect(
      (await send(port, `/port/${appPort}/`, { headers: { cookie, "sec-fetch-site": "none" } }))
        .status,
    ).toBe(200);
  });

  it("proxy - opened from another site, the exchange is a page that sends the browser on itself", async () => {
    const token = await mint(appPort);
    const res = await send(port, `/port/${appPort}/?token=${token}`, {
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain(`url=/port/${appPort}/`);
    expect(res.body.toString()).not.toContain(token);
  });

  it("proxy - the cookie does nothing for a page of another port, nor without Sec-Fetch-Site", async () => {
    const cookie = await cookieFor(appPort);
    const other = `http://127.0.0.1:${port + 1}`;
    const fetched = await send(port, `/port/${appPort}/`, {
      headers: { cookie, "sec-fetch-site": "same-site", origin: other },
    });
    expect(fetched.status).toBe(403);
    expect(JSON.parse(fetched.body.toString()).code).toBe("ERR_PROXY_SITE");
    const posted = await send(port, `/port/${appPort}/api/kernels`, {
      method: "POST",
      headers: {
        cookie,
        "sec-fetch-site": "same-site",
        origin: other,
        "content-type": "text/plain",
      },
      body: Buffer.from("x"),
    });
    expect(posted.status).toBe(403);
    const none = await send(port, `/port/${appPort}/`, { headers: { cookie } });
    expect(none.status).toBe(403);
    // A cookie of one app does not open another.
    const elsewhere = await send(port, `/port/${echoPort}/`, {
      headers: { cookie: cookie.replace(`p${appPort}`, `p${echoPort}`), "sec-fetch-site": "none" },
    });
    expect(elsewhere.status).toBe(401);
  });

  it("proxy - refused tokens: expired, another port, another workspace, forged, another key", async () => {
    const session = sessions.verify(bearer.authorization!.slice(7))!;
    const claims = { kind: "link" as const, user: "owner", wsid: WSID, port: appPort, session };
    const other = await ProxyTokens.open();
    const good = tokens.sign(claims, 60);
    const [p, body, mac] = good.split(".");
    const forgedBody = Buffer.from(
      JSON.stringify(["link", "owner", WSID, echoPort, session, 9_999_999_999]),
    ).toString("base64url");
    const cases: Record<string, string> = {
      expired: tokens.sign(claims, -1),
      "another port": tokens.sign({ ...claims, port: echoPort }, 60),
      "another workspace": tokens.sign({ ...claims, wsid: "other" }, 60),
      forged: `${p}.${forgedBody}.${mac}`,
      "another key": other.sign(claims, 60),
      "a cookie as a link": tokens.sign({ ...claims, kind: "cookie" }, 60),
      "a signed-out browser": tokens.sign({ ...claims, session: "gone" }, 60),
    };
    expect(body).toBeTruthy();
    for (const [name, token] of Object.entries(cases)) {
      const res = await send(port, `/port/${appPort}/`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect([name, res.status]).toEqual([name, 401]);
      expect(JSON.parse(res.body.toString()).code).toBe("ERR_PROXY_TOKEN");
      const q = await send(port, `/port/${appPort}/?token=${token}`, {
        headers: { "sec-fetch-site": "none" },
      });
      expect([name, q.status]).toEqual([name, 401]);
      const ws = await wsEcho(`ws://127.0.0.1:${port}/port/${appPort}/?token=${token}`, { origin });
      expect([name, ws]).toEqual([name, 401]);
      const wsBearer = await wsEcho(`ws://127.0.0.1:${port}/port/${appPort}/`, {
        origin,
        authorization: `Bearer ${token}`,
      });
      expect([name, wsBearer]).toEqual([name, 401]);
    }
    const none = await send(port, `/port/${appPort}/`, { headers: { accept: "text/html" } });
    expect(none.status).toBe(401);
    expect(none.headers["content-type"]).toContain("text/html");
    expect(none.body.toString()).toContain("ERR_PROXY_AUTH");
    // Minting needs a signed-in browser.
    const anon = await send(port, "/api/proxy/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ port: appPort })),
    });
    expect(anon.status).toBe(401);
  });

  it("proxy - 1 MiB streams both ways", async () => {
    const cookie = await cookieFor(appPort);
    const big = await send(port, `/port/${appPort}/big`, {
      headers: { cookie, "sec-fetch-site": "same-origin" },
    });
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(MIB);
    const payload = Buffer.alloc(MIB, 3);
    const back = await send(port, `/port/${appPort}/upload`, {
      method: "POST",
      headers: {
        cookie,
        "sec-fetch-site": "same-origin",
        origin,
        "content-type": "application/x-anything",
      },
      body: payload,
    });
    expect(back.status).toBe(200);
    expect(back.body.equals(payload)).toBe(true);
  });

  it("proxy - a reader that stops reading stops the app, not our memory (backpressure)", async () => {
    const token = await mint(appPort);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: `/port/${appPort}/endless`,
          headers: { authorization: `Bearer ${token}` },
        },
        resolve,
      );
      req.on("error", reject);
      req.end();
    });
    res.pause();
    // Positive sign: the app waits for drain and writes nothing more across twenty looks.
    let still = 0;
    let last = -1;
    await until(
      "the app blocked by the paused reader",
      async () => {
        still = flow.blocked && flow.written === last ? still + 1 : 0;
        last = flow.written;
        return still >= 20;
      },
      30_000,
    );
    // Socket buffers on both sides and the proxy's stream buffers, not the body.
    expect(flow.written).toBeLessThan(32 * MIB);
    let got = 0;
    res.on("data", (c: Buffer) => {
      got += c.length;
    });
    res.resume();
    await new Promise((r) => res.once("end", r));
    expect(got).toBe(ENDLESS);
  });

  it("proxy - WebSocket: token, cookie with this Origin; not a cookie with another port's Origin", async () => {
    const token = await mint(echoPort);
    expect(
      await wsEcho(`ws://127.0.0.1:${port}/port/${echoPort}/?token=${token}`, { origin }),
    ).toBe("ping");
    expect(
      await wsEcho(`ws://127.0.0.1:${port}/port/${echoPort}/`, {
        authorization: `Bearer ${token}`,
      }),
    ).toBe("ping");
    const cookie = await cookieFor(echoPort);
    expect(
      await wsEcho(`ws://127.0.0.1:${port}/port/${echoPort}/`, {
        cookie,
        origin,
        "sec-fetch-site": "same-origin",
      }),
    ).toBe("ping");
    expect(
      await wsEcho(`ws://127.0.0.1:${port}/port/${echoPort}/`, {
        cookie,
        origin: `http://127.0.0.1:${port + 1}`,
        "sec-fetch-site": "same-site",
      }),
    ).toBe(403);
    expect(await wsEcho(`ws://127.0.0.1:${port}/port/${echoPort}/`, { cookie })).toBe(403);
  });

  it("proxy - /proxy/<n>/ takes the prefix off and keeps the app's redirects inside it", async () => {
    const token = await mint(appPort);
    const res = await send(port, `/proxy/${appPort}/hello`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(JSON.parse(res.body.toString()).url).toBe("/hello");
    const r = await send(port, `/proxy/${appPort}/redirect`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(`/proxy/${appPort}/elsewhere`);
  });

  it("proxy - nothing on the port: a 502 page with the code; bad ports and our own refused", async () => {
    const closed = await freePort();
    const token = await mint(closed);
    const res = await send(port, `/port/${closed}/`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/html" },
    });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toContain("ERR_PROXY_UPSTREAM");
    expect(res.body.toString()).toContain(String(closed));
    expect((await send(port, "/port/99999/")).status).toBe(400);
    expect((await send(port, "/port/abc/")).status).toBe(400);
    const own = await mint(port);
    expect(
      (await send(port, `/port/${port}/`, { headers: { authorization: `Bearer ${own}` } })).status,
    ).toBe(400);
    expect((await send(port, `/port/${appPort}`)).status).toBe(308);
  });

  it("proxy - signing out ends the cookie and closes the app's WebSockets", async () => {
    const b = (await signIn(port, "token-of-proxy-test-0123456789")).headers;
    const token = await mint(echoPort, b);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/port/${echoPort}/?token=${token}`, { origin });
    await new Promise((r) => ws.once("open", r));
    const res = await send(port, `/port/${appPort}/?token=${await mint(appPort, b)}`, {
      headers: { "sec-fetch-site": "none" },
    });
    const cookie = String(res.headers["set-cookie"]).split(";")[0]!;
    const closed = new Promise((r) => ws.once("close", r));
    const out = await send(port, "/api/auth/sign-out", {
      method: "POST",
      headers: { ...b, "content-type": "application/json" },
      body: Buffer.from("{}"),
    });
    expect(out.status).toBe(200);
    await closed;
    const after = await send(port, `/port/${appPort}/`, {
      headers: { cookie, "sec-fetch-site": "none" },
    });
    expect(after.status).toBe(401);
  });
});
