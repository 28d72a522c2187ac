/**
 * A real nats-server per test file, started by the product's own launcher: JetStream in a
 * temp dir, the services user (nkey) and a restricted browser user, loopback ports.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import pino from "pino";
import { connectServices } from "../../services/runtime/connect.js";
import { locateNatsServer, NatsServer } from "../../services/runtime/nats-server.js";
import { freePort } from "../../services/runtime/ports.js";
import { browserPermissions } from "../../shared/browser-permissions.js";
import { ensureStreams } from "../../streams/ensure.js";
import { reportLeak } from "./leaks.js";

export interface TestNats {
  dir: string;
  server: NatsServer;
  url: string;
  seed: string;
  browser: { user: string; password: string };
  /** A new services connection; closed by cleanup(). */
  connect(name?: string): Promise<NatsConnection>;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  cleanup(): Promise<void>;
}

export const testLog = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export const TEST_WSID = "testws1";

/**
 * Starts nats-server and connects; `streams` also creates every stream and bucket. `dir`: the
 * server's directory (e.g. on a small tmpfs) instead of a new temp dir; `port`: its client
 * port instead of a free one.
 */
export async function setup(
  opts: { streams?: boolean; durables?: string[]; dir?: string; port?: number } = {},
): Promise<TestNats> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "cocalc-test-nats-")));
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const browser = { user: "browser", password: "test-browser-password" };
  const server = new NatsServer(
    {
      binary: locateNatsServer(),
      dir,
      port: opts.port ?? (await freePort()),
      wsPort: await freePort(),
      servicesNkey: user.getPublicKey(),
      browser: { ...browser, permissions: browserPermissions(TEST_WSID, opts.durables ?? []) },
      wsOrigin: "http://test.invalid",
      syncAlways: false,
    },
    testLog,
  );
  await server.start();
  const conns: NatsConnection[] = [];
  const connect = async (name = "test") => {
    const nc = await connectServices(
      { url: server.url, seed, publicKey: user.getPublicKey() },
      name,
    );
    conns.push(nc);
    return nc;
  };
  const nc = await connect();
  const jsm = await jetstreamManager(nc);
  if (opts.streams) await ensureStreams(jsm);
  return {
    dir,
    server,
    url: server.url,
    seed,
    browser,
    connect,
    nc,
    js: jetstream(nc),
    jsm,
    async cleanup() {
      const left = conns.filter((c) => !c.isClosed()).flatMap(openSubscriptions);
      for (const c of conns) await c.close().catch(() => undefined);
      await server.stop();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
      if (left.length > 0) reportLeak(`NATS subscriptions left open: ${left.join(", ")}`);
    },
  };
}

/** Subjects of the subscriptions still open on `nc`, its request inbox aside. */
export function openSubscriptions(nc: NatsConnection): string[] {
  // nats.js keeps them in its protocol handler; there is no public count.
  const subs = (
    nc as unknown as {
      protocol?: { subscriptions?: { all(): { subject: string }[]; getMux(): unknown } };
    }
  ).protocol?.subscriptions;
  if (!subs) return [];
  const mux = subs.getMux();
  return subs
    .all()
    .filter((s) => s !== mux)
    .map((s) => s.subject);
}

/** Polls `fn` until it returns something truthy; throws after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
