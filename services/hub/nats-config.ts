/**
 * nats-server's config for the hub in operator mode (decentralized JWT auth). No users are
 * listed: every login is a user JWT signed by the account's signing key, and accounts are
 * resolved by the NATS-based `full` resolver, which takes updated account JWTs (revocations)
 * at runtime on $SYS.REQ.CLAIMS.UPDATE. Minting users or revoking them never needs a
 * restart or reload. No `accounts` or `authorization` block (CVE-2023-47090 shape avoided).
 */
import { join } from "node:path";
import { NATS_MAX_PAYLOAD } from "../runtime/nats-server.js";

export interface HubNatsConfig {
  /** Directory of the config, pid file, resolver store and JetStream store. */
  dir: string;
  /** Unique among servers that meet (leaf nodes refuse a duplicate name). */
  serverName: string;
  /** Client listener (the hub's services; hosts use the leaf listener). */
  host: string;
  port: number;
  /** Browsers: the gateway pipes their websocket here, with its own Origin. */
  websocket: { host: string; port: number; allowedOrigins: readonly string[] };
  /** Hosts join as leaf nodes here with their own user JWTs. */
  leaf: { host: string; port: number };
  /** The hub's JetStream domain (each host has its own). */
  jetstreamDomain: string;
  /** The file holding the operator JWT. */
  operatorJwtFile: string;
  /** Public key of the system account. */
  systemAccount: string;
  /** Account public key → account JWT: the newest ones, so a restart keeps revocations. */
  preload: Record<string, string>;
  /**
   * The hub's certificate: the client and leaf listeners then speak TLS only (a hub bound off
   * loopback); the websocket listener stays plain on loopback behind the gateway's HTTPS.
   */
  tls?: { certFile: string; keyFile: string };
  /** `sync_interval: always` (nats-server 2.10.23 and newer only). */
  syncAlways?: boolean;
}

export const HUB_CONFIG_FILE = "nats-server.conf";

export function hubConfigPath(dir: string): string {
  return join(dir, HUB_CONFIG_FILE);
}

/** The config file's text: JSON, which nats-server reads as its own syntax. */
export function renderHubNatsConfig(c: HubNatsConfig): string {
  // A busy machine can take more than nats-server's default half second for a handshake.
  const tls = c.tls && { cert_file: c.tls.certFile, key_file: c.tls.keyFile, timeout: 5 };
  const conf = {
    server_name: c.serverName,
    host: c.host,
    port: c.port,
    pid_file: join(c.dir, "nats-server.pid"),
    max_payload: NATS_MAX_PAYLOAD,
    // A browser's CONNECT carries its JWT, whose permissions grow with its memberships
    // (about 2 KiB each; MAX_MEMBERSHIPS of shared/hub-permissions.ts bounds it).
    max_control_line: 1024 * 1024,
    ...(tls && { tls }),
    jetstream: {
      store_dir: join(c.dir, "jetstream"),
      max_memory_store: 64 * 1024 * 1024,
      domain: c.jetstreamDomain,
      ...(c.syncAlways && { sync_interval: "always" }),
    },
    leafnodes: { host: c.leaf.host, port: c.leaf.port, ...(tls && { tls }) },
    websocket: {
      host: c.websocket.host,
      port: c.websocket.port,
      // TLS is the gateway's: it terminates HTTPS and pipes the browser's socket here.
      no_tls: true,
      compression: false,
      allowed_origins: [...c.websocket.allowedOrigins],
    },
    operator: c.operatorJwtFile,
    system_account: c.systemAccount,
    resolver: {
      type: "full",
      dir: join(c.dir, "accounts"),
      // Accounts are never deleted through the resolver; the hub revokes users instead.
      allow_delete: false,
      interval: "2m",
    },
    resolver_preload: { ...c.preload },
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}
