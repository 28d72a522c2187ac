/**
 * The hub's sign-in over HTTP for integration tests: a real nats-server with the hub's
 * streams, the accounts service, and a gateway with the security, auth, hub-auth and admin
 * plugins listening on loopback. `post` and `me` speak to it as the hub's own page does.
 */
import { join } from "node:path";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { authPlugin } from "../../services/gateway/auth.js";
import { BrowserSessions, type SessionLimits } from "../../services/gateway/browser-sessions.js";
import { hubAdminPlugin } from "../../services/gateway/hub-admin.js";
import { HUB_PATHS, HUB_PUBLIC_PATHS, hubAuthPlugin } from "../../services/gateway/hub-auth.js";
import { securityPlugin } from "../../services/gateway/security.js";
import { hubAccountsService, newSetupToken } from "../../services/hub/accounts.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { hubStreams } from "../../streams/definitions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { setup, TEST_WSID, type TestNats, testLog } from "./nats.js";

export interface TestHubGateway {
  t: TestNats;
  app: FastifyInstance;
  sessions: BrowserSessions;
  base: string;
  setupToken: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** GET /api/hub/me with `credential`. */
  me(credential: string): Promise<Response>;
  /** The setup link's admin, signed in: its credential and account id. */
  admin(email?: string, password?: string): Promise<{ credential: string; id: string }>;
  cleanup(): Promise<void>;
}

export async function startHubGateway(
  opts: {
    /** Limits of the signed-in browsers (their clock is `now`). */
    sessions?: Omit<SessionLimits, "now">;
    /** The clock of the accounts service and the sessions (Unix ms); tests move it. */
    now?: () => number;
  } = {},
): Promise<TestHubGateway> {
  const t = await setup();
  await ensureStreams(t.jsm, hubStreams());
  const file = join(t.dir, "setup-token");
  const setupToken = await newSetupToken(file);
  const now = opts.now ?? Date.now;
  const supervisor = new Supervisor({
    nc: t.nc,
    wsid: TEST_WSID,
    log: testLog,
    heartbeatMs: 500,
    now: () => new Date(now()),
  });
  await supervisor.start([hubAccountsService({ setupTokenFile: file })]);
  const sessions = await BrowserSessions.open(undefined, { ...opts.sessions, now });
  const app = Fastify({ loggerInstance: testLog as FastifyBaseLogger });
  await app.register(securityPlugin, { allowedHosts: new Set(["127.0.0.1"]) });
  await app.register(authPlugin, { sessions, publicPaths: HUB_PUBLIC_PATHS, linkable: [] });
  await app.register(hubAuthPlugin, { nc: t.nc, sessions });
  await app.register(hubAdminPlugin, { nc: t.nc, sessions, now });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base, ...headers },
      body: JSON.stringify(body),
    });
  return {
    t,
    app,
    sessions,
    base,
    setupToken,
    post,
    me: (credential) =>
      fetch(`${base}${HUB_PATHS.me}`, { headers: { authorization: `Bearer ${credential}` } }),
    async admin(email = "admin@example.com", password = "an admin's password") {
      const res = await post(HUB_PATHS.setup, { setupToken, email, password });
      if (res.status !== 200) throw new Error(`setup answered ${res.status}: ${await res.text()}`);
      const r = (await res.json()) as { credential: string; account: { id: string } };
      return { credential: r.credential, id: r.account.id };
    },
    async cleanup() {
      await app.close();
      await sessions.close();
      await supervisor.stop();
      await t.cleanup();
    },
  };
}
