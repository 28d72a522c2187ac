/**
 * The hub's nats-server in operator mode as a child process. Its config never changes
 * while it runs: users are minted and revoked through the system account.
 */
import { mkdir, rm } from "node:fs/promises";
import type { Logger } from "../runtime/logger.js";
import { NatsProcess } from "../runtime/nats-process.js";
import { killOrphanNatsServer, natsServerEnv } from "../runtime/nats-server.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { type HubNatsConfig, hubConfigPath, renderHubNatsConfig } from "./nats-config.js";

/**
 * The hub's nats-server, supervised as plus's is (NatsProcess): restarted with backoff when it
 * dies, `restart()` replaces it on the same config (the store watch does, after a full disk),
 * "restarted" after either. Also emits "line" (its log lines) and "exit".
 */
export class HubNatsServer extends NatsProcess {
  constructor(
    binary: string,
    private readonly config: HubNatsConfig,
    log: Logger,
  ) {
    super(
      {
        binary,
        configFile: hubConfigPath(config.dir),
        env: natsServerEnv(),
        host: config.host,
        port: config.port,
        name: "hub nats-server",
        // A client that fails its TLS handshake (a wrong pin, a port scan, the readiness probe)
        // is that client's failure, not the server's.
        levelOf: (line) =>
          /TLS (\w+ )?handshake error/.test(line)
            ? "info"
            : /\[(ERR|FTL)\]/.test(line)
              ? "warn"
              : "debug",
      },
      log,
    );
  }

  get url(): string {
    return `nats://${this.config.host}:${this.config.port}`;
  }

  get wsUrl(): string {
    return `ws://${this.config.websocket.host}:${this.config.websocket.port}`;
  }

  get leafUrl(): string {
    return `${this.config.tls ? "tls" : "nats-leaf"}://${this.config.leaf.host}:${this.config.leaf.port}`;
  }

  /** Writes the config (0600) and starts nats-server; resolves once it accepts connections. */
  async start(): Promise<void> {
    await mkdir(this.config.dir, { recursive: true, mode: 0o700 });
    await killOrphanNatsServer(this.config.dir, (pid) =>
      this.log.warn({ pid }, "stopping a nats-server left behind by an earlier run"),
    );
    const file = hubConfigPath(this.config.dir);
    await rm(file, { force: true });
    await writeSecretFile(file, renderHubNatsConfig(this.config));
    await this.spawnAndWait();
  }
}

/** Writes the config (0600) and starts the hub's nats-server; resolves once it is ready. */
export async function startHubNatsServer(
  binary: string,
  config: HubNatsConfig,
  log: Logger,
): Promise<HubNatsServer> {
  const server = new HubNatsServer(binary, config, log);
  await server.start();
  return server;
}
