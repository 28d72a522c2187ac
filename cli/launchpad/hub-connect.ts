/**
 * How console commands reach a running hub: its run file names its nats-server, and its keys
 * in the data dir sign the services' login (only root, or whoever owns the data dir, can).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { delay, jwtAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { HubNatsAuth } from "../../services/hub/index.js";
import type { Logger } from "../../services/runtime/logger.js";
import { CocalcError } from "../../shared/errors.js";
import { HUB_JS_DOMAIN } from "../../shared/hub.js";
import { retryJetStreamRequests } from "../../shared/jetstream-retry.js";
import type { HubCertPin } from "../../shared/launchpad.js";
import { pinnedTls, tlsFailure } from "./tls-pin.js";

/** Where a running hub says how its console commands reach it (0600, removed on stop). */
export function hubRunFile(dataDir: string): string {
  return join(dataDir, "hub.json");
}

export interface HubRunInfo {
  pid: number;
  natsUrl: string;
  /** The hub's certificate when its nats-server speaks TLS (the console pins it). */
  tls?: HubCertPin;
  /** The URL people use (for links the console makes), ending without a slash. */
  url?: string;
}

/**
 * A JWT login to the hub's nats-server, over TLS to exactly the pinned certificate when there
 * is one; the hub's own connections reconnect for ever.
 */
export async function hubLogin(
  url: string,
  jwt: string,
  seed: Uint8Array,
  name: string,
  o: { pin?: HubCertPin | undefined; reconnect?: boolean } = {},
) {
  const nc = await connect({
    servers: url,
    authenticator: jwtAuthenticator(jwt, seed),
    name,
    ...(o.pin && { tls: pinnedTls(o.pin) }),
    ...(o.reconnect !== false
      ? { maxReconnectAttempts: -1, reconnectTimeWait: 250 }
      : { reconnect: false }),
  });
  return retryJetStreamRequests(nc, delay);
}

/** The hub's services connection, for console commands: its keys and run file in `dataDir`. */
export async function connectHub(dataDir: string, log: Logger): Promise<NatsConnection> {
  const run = await readHubRun(dataDir);
  const auth = await HubNatsAuth.open({
    dir: join(dataDir, "keys"),
    hubDomain: HUB_JS_DOMAIN,
    log,
  });
  const svc = await auth.servicesCredentials();
  try {
    return await hubLogin(run.natsUrl, svc.jwt, svc.seed, "cocalc-launchpad console", {
      pin: run.tls,
      reconnect: false,
    });
  } catch (err) {
    const tls = tlsFailure(err);
    if (tls)
      throw new CocalcError(
        "ERR_HUB_TLS",
        `the hub on ${dataDir} (${run.natsUrl}) is not the one its run file names: ${tls}`,
      );
    throw new Error(`the hub on ${dataDir} did not answer: ${(err as Error).message}`);
  }
}

/** What the hub running on `dataDir` wrote about itself. */
export async function readHubRun(dataDir: string): Promise<HubRunInfo> {
  try {
    return JSON.parse(await readFile(hubRunFile(dataDir), "utf8")) as HubRunInfo;
  } catch {
    throw new Error(
      `no hub is running on ${dataDir} (start it with cocalc-launchpad, or pass --data-dir)`,
    );
  }
}
