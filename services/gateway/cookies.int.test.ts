/**
 * Sign-in cookies of several gateways in one browser. Browsers keep cookies per host name,
 * not per port, so every gateway a browser reaches on localhost must use its own cookie:
 * two gateways on two ports, and two gateways that listen on the same port of two machines
 * and are reached through two tunnels (local ports) — the remote sessions' case — all stay
 * signed in side by side.
 */
import { createServer, type Server, connect as tcpConnect } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_CHROMIUM, launchChromium } from "../../test/helpers/browser.js";
import { testLog } from "../../test/helpers/nats.js";
import { freePort } from "../runtime/ports.js";
import { buildApp } from "./app.js";

async function gateway(name: string, host: string, port: number): Promise<FastifyInstance> {
  const app = await buildApp({
    token: `token-of-${name}`,
    allowedHosts: new Set(["127.0.0.1"]),
    webRoot: "/nonexistent",
    natsWsPort: () => 1,
    natsWsOrigin: "http://x.invalid",
    session: () => ({
      wsid: name,
      version: "t",
      natsPath: "/nats",
      nats: { user: "u", pass: "p" },
    }),
    health: () => ({ status: "ok", version: "t", nats: "connected", services: [] }),
    log: testLog,
  });
  await app.listen({ port, host });
  return app;
}

/** A TCP relay like `ssh -L port:host:to`: the browser sees `port`, the gateway listens on `to`. */
async function tunnel(host: string, to: number): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    const u = tcpConnect({ host, port: to });
    c.pipe(u).pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, port };
}

/** Can this machine listen on 127.0.0.2 (the whole 127/8 is loopback on Linux)? */
async function secondLoopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(0, "127.0.0.2", () => s.close(() => resolve(true)));
  });
}

describe.skipIf(!HAVE_CHROMIUM)("gateway - sign-in cookies per port", () => {
  let browser: Browser;
  const apps: FastifyInstance[] = [];
  const relays: Server[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    for (const r of relays) r.close();
    await Promise.all(apps.map((a) => a.close()));
  });

  /** Signs in to each base URL in turn in one context, then checks every one still answers. */
  async function signInAll(bases: { url: string; name: string }[]): Promise<void> {
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const b of bases) {
      await page.goto(`${b.url}/?token=token-of-${b.name}`);
      // The sign-in page moves on by itself, without the token.
      await page.waitForURL((u) => u.origin === b.url && !u.search.includes("token"));
      const res = await page.goto(`${b.url}/api/session`);
      expect(res?.status(), b.name).toBe(200);
    }
    for (const b of bases) {
      const res = await page.goto(`${b.url}/api/session`);
      expect(res?.status(), `${b.name} after signing in to the others`).toBe(200);
      expect(((await res!.json()) as { wsid: string }).wsid).toBe(b.name);
    }
    const names = (await context.cookies()).map((c) => c.name);
    expect(new Set(names).size).toBe(bases.length);
    await context.close();
  }

  it("two gateways on two ports both stay signed in", async () => {
    const p1 = await freePort();
    const p2 = await freePort();
    apps.push(await gateway("one", "127.0.0.1", p1), await gateway("two", "127.0.0.1", p2));
    await signInAll([
      { url: `http://127.0.0.1:${p1}`, name: "one" },
      { url: `http://127.0.0.1:${p2}`, name: "two" },
    ]);
  });

  it("two gateways on the same port of two machines, through two tunnels, both stay signed in", async (t) => {
    if (!(await secondLoopback())) {
      console.log("skipped: cannot listen on 127.0.0.2 to stand for a second machine");
      t.skip();
      return;
    }
    // The same port on two "machines" (127.0.0.1 and 127.0.0.2), as two remote daemons may have.
    const same = await freePort();
    apps.push(await gateway("alpha", "127.0.0.1", same), await gateway("beta", "127.0.0.2", same));
    const a = await tunnel("127.0.0.1", same);
    const b = await tunnel("127.0.0.2", same);
    relays.push(a.server, b.server);
    await signInAll([
      { url: `http://127.0.0.1:${a.port}`, name: "alpha" },
      { url: `http://127.0.0.1:${b.port}`, name: "beta" },
    ]);
  });
});
