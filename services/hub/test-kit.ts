/**
 * A hub nats-server in operator mode for tests: keys and JetStream in a temp dir, loopback
 * ports, the system user attached for revocations, the services user connected.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delay, jwtAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import pino from "pino";
import { HUB_JS_DOMAIN } from "../../shared/hub.js";
import { retryJetStreamRequests } from "../../shared/jetstream-retry.js";
import { locateNatsServer } from "../runtime/nats-server.js";
import { freePort } from "../runtime/ports.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { HubNatsAuth } from "./nats-auth.js";
import { type HubNatsServer, startHubNatsServer } from "./nats-server.js";

export const HUB_DOMAIN = HUB_JS_DOMAIN;

export interface TestHub {
  dir: string;
  auth: HubNatsAuth;
  server: HubNatsServer;
  /** The hub services' connection (every subject of the account). */
  services: NatsConnection;
  /** A connection with a minted user JWT; closed by cleanup(). */
  connectUser(jwt: string, seed: Uint8Array, inboxPrefix: string): Promise<NatsConnection>;
  cleanup(): Promise<void>;
}

export async function startTestHub(opts: { durables?: string[] } = {}): Promise<TestHub> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const dir = await mkdtemp(join(tmpdir(), "cocalc-test-hub-"));
  const auth = await HubNatsAuth.open({
    dir,
    hubDomain: HUB_DOMAIN,
    durables: opts.durables ?? [],
    log,
  });
  const operatorJwtFile = join(dir, "operator.jwt");
  await writeSecretFile(operatorJwtFile, await auth.operatorJwt());
  const server = await startHubNatsServer(
    locateNatsServer(),
    {
      dir: join(dir, "nats"),
      serverName: "test_hub",
      host: "127.0.0.1",
      port: await freePort(),
      websocket: { host: "127.0.0.1", port: await freePort(), allowedOrigins: ["http://hub.test"] },
      leaf: { host: "127.0.0.1", port: await freePort() },
      jetstreamDomain: HUB_DOMAIN,
      operatorJwtFile,
      systemAccount: auth.systemAccountPublicKey,
      preload: await auth.preload(),
    },
    log,
  );
  const conns: NatsConnection[] = [];
  const login = async (jwt: string, seed: Uint8Array, inboxPrefix?: string) => {
    const nc = await connect({
      servers: server.url,
      authenticator: jwtAuthenticator(jwt, seed),
      ...(inboxPrefix && { inboxPrefix }),
      reconnect: false,
      name: "test",
    });
    conns.push(nc);
    return retryJetStreamRequests(nc, delay);
  };
  const sys = await auth.systemCredentials();
  auth.attach(await login(sys.jwt, sys.seed));
  const svc = await auth.servicesCredentials();
  const services = await login(svc.jwt, svc.seed);
  return {
    dir,
    auth,
    server,
    services,
    connectUser: login,
    async cleanup() {
      for (const c of conns) await c.close().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
