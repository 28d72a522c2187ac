import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { nativeNkeyAuthenticator, publicKeyOfSeed } from "./nkey.js";

/** How services reach nats-server: its URL and the services user's nkey seed (and public key, if known). */
export interface NatsAccess {
  url: string;
  seed: string;
  publicKey?: string;
}

/** Connects as the services user. Reconnects forever: a restarted nats-server is waited for. */
export function connectServices(
  access: NatsAccess,
  name: string,
  /** Replies come to `<inboxPrefix>.…` (a control plane's operators: leaf nodes may not listen there). */
  inboxPrefix?: string,
): Promise<NatsConnection> {
  const publicKey = access.publicKey ?? publicKeyOfSeed(access.seed);
  return connect({
    servers: access.url,
    name,
    authenticator: nativeNkeyAuthenticator(access.seed, publicKey),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    ...(inboxPrefix !== undefined && { inboxPrefix }),
  });
}
