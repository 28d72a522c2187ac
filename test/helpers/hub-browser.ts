/**
 * A browser of the hub, driven from Node: signed in over HTTP (its credential), its own nkey,
 * a NATS login minted by the hub for it and a connection through the gateway's /nats, as the
 * web app makes them. What it may do is what that login's permissions say.
 */
import { jwtAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import WebSocket from "ws";
import { HUB_NATS_PATH } from "../../services/gateway/hub-app.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { TEST_PASSWORD } from "./launchpad.js";
import { wsconnectBesideNode } from "./ws-nats.js";

export interface HubLogin {
  jwt: string;
  inboxPrefix: string;
  natsPath: string;
  memberships: { wsid: string; role: string; hostId?: string; jsDomain?: string }[];
}

export interface HubBrowser {
  credential: string;
  /** A request to the hub's API as this browser (JSON body; its Origin). */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  /** A NATS login for `key` (a workspace's page with `wsid`, else the dashboard's). */
  mint(key: KeyPair, wsid?: string): Promise<Response>;
  /** A login for a new key and its connection through the gateway (closed by its owner). */
  connect(
    wsid?: string,
    key?: KeyPair,
  ): Promise<{ nc: NatsConnection; login: HubLogin; key: KeyPair }>;
}

/** Signs `email` in to the hub at `base` (http://host:port) with TEST_PASSWORD. */
export function hubBrowser(base: string, email: string): Promise<HubBrowser> {
  return entered(base, HUB_PATHS.signIn, email);
}

/** Signs `email` up at the hub at `base` with TEST_PASSWORD (its sign-up mode open). */
export function hubSignUp(base: string, email: string): Promise<HubBrowser> {
  return entered(base, HUB_PATHS.signUp, email);
}

async function entered(base: string, path: string, email: string): Promise<HubBrowser> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify({ email, password: TEST_PASSWORD }),
  });
  const body = (await res.json()) as { credential?: string; message?: string };
  if (res.status !== 200) throw new Error(`${path} of ${email}: ${res.status} ${body.message}`);
  const credential = body.credential!;
  const api = (method: string, path: string, payload?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        origin: base,
        ...(payload !== undefined && { "content-type": "application/json" }),
      },
      ...(payload !== undefined && { body: JSON.stringify(payload) }),
    });
  const mint = (key: KeyPair, wsid?: string) =>
    api("POST", HUB_NATS_PATH, { publicKey: key.getPublicKey(), ...(wsid && { wsid }) });
  return {
    credential,
    api,
    mint,
    async connect(wsid, key = createUser()) {
      const minted = await mint(key, wsid);
      if (minted.status !== 200) throw new Error(`mint: ${minted.status} ${await minted.text()}`);
      const login = (await minted.json()) as HubLogin;
      const nc = await wsconnectBesideNode({
        servers: `${base.replace("http", "ws")}${login.natsPath}`,
        authenticator: jwtAuthenticator(login.jwt, key.getSeed()),
        inboxPrefix: login.inboxPrefix,
        reconnect: false,
        wsFactory: async (u: string) => ({
          socket: new WebSocket(u, ["cocalc.v1", `cocalc.auth.${credential}`], {
            headers: { origin: base },
          }) as unknown as globalThis.WebSocket,
          encrypted: false,
        }),
      });
      return { nc, login, key };
    },
  };
}
