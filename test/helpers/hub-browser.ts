/**
 * What a hub page does to reach NATS, from Node: its own nkey pair, a JWT from the hub for
 * it (`/api/hub/nats`, for one workspace when `wsid` is given), and a WebSocket to the hub's
 * gateway with the page's credential as a subprotocol and the hub's origin.
 */
import { jwtAuthenticator, type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import WS from "ws";
import { type BrowserNatsLogin, HUB_NATS_PATH } from "../../services/gateway/hub-app.js";
import { NATS_SUBPROTOCOL } from "../../services/gateway/nats-proxy.js";

export interface HubBrowserNats {
  nc: NatsConnection;
  login: BrowserNatsLogin & { natsPath: string };
  /** The page's nkey public key. */
  publicKey: string;
}

/** `base`: the hub's origin; `credential`: the signed-in page's. */
export async function hubBrowserNats(
  base: string,
  credential: string,
  wsid?: string,
): Promise<HubBrowserNats> {
  const key = createUser();
  const res = await fetch(`${base}${HUB_NATS_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      origin: base,
      authorization: `Bearer ${credential}`,
    },
    body: JSON.stringify({ publicKey: key.getPublicKey(), ...(wsid && { wsid }) }),
  });
  if (res.status !== 200)
    throw new Error(`${HUB_NATS_PATH} answered ${res.status}: ${await res.text()}`);
  const login = (await res.json()) as BrowserNatsLogin & { natsPath: string };
  const nc = await wsconnect({
    servers: `${base.replace(/^http/, "ws")}${login.natsPath}`,
    authenticator: jwtAuthenticator(login.jwt, key.getSeed()),
    inboxPrefix: login.inboxPrefix,
    reconnect: false,
    wsFactory: async (u) => ({
      socket: new WS(u, [NATS_SUBPROTOCOL, `cocalc.auth.${credential}`], {
        origin: base,
      }) as unknown as WebSocket,
      encrypted: false,
    }),
  });
  return { nc, login, publicKey: key.getPublicKey() };
}
