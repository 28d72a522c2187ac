import { type NatsConnection, nkeyAuthenticator } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

/** How services reach nats-server: its URL and the services user's nkey seed. */
export interface NatsAccess {
  url: string;
  seed: string;
}

/** Connects as the services user. Reconnects forever: a restarted nats-server is waited for. */
export function connectServices(access: NatsAccess, name: string): Promise<NatsConnection> {
  return connect({
    servers: access.url,
    name,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(access.seed)),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  });
}
