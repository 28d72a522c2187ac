/**
 * A browser's NATS connection (WebSocket) made from a test process that also has Node
 * connections. nats.js keeps one transport factory per process, and `wsconnect` sets it to
 * WebSocket: every later reconnect of a Node connection (a service's, after its nats-server
 * restarted) would dial a TCP port with a WebSocket and wait forever. So Node's transport is
 * put back once the WebSocket connection is made (it must not reconnect by itself).
 */
import { type NatsConnection, type WsConnectionOptions, wsconnect } from "@nats-io/nats-core";
import { setTransportFactory } from "@nats-io/nats-core/internal";
import { NodeTransport, nodeResolveHost } from "@nats-io/transport-node/lib/node_transport.js";

export async function wsconnectBesideNode(
  opts: WsConnectionOptions & { reconnect: false },
): Promise<NatsConnection> {
  try {
    return await wsconnect(opts);
  } finally {
    setTransportFactory({ factory: () => new NodeTransport(), dnsResolveFn: nodeResolveHost });
  }
}
