/**
 * The hub's nats-server in operator mode as a child process. Its config never changes
 * while it runs: users are minted and revoked through the system account.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdir, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import { killOrphanNatsServer, natsServerEnv } from "../runtime/nats-server.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { type HubNatsConfig, hubConfigPath, renderHubNatsConfig } from "./nats-config.js";

const READY_TIMEOUT_MS = 30_000;

function tcpReady(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * A running operator-mode nats-server; `stop()` ends it, `restart()` replaces it by a new one
 * on the same config (the store watch does, after a full disk). Emits "line" (its log lines).
 */
export interface HubNatsServer {
  readonly url: string;
  readonly wsUrl: string;
  readonly leafUrl: string;
  readonly pid: number | undefined;
  stop(graceMs?: number): Promise<void>;
  restart(graceMs?: number): Promise<void>;
  on(event: "line", listener: (line: string) => void): unknown;
  off(event: "line", listener: (line: string) => void): unknown;
}

interface Spawned {
  child: ChildProcess;
  gone: Promise<void>;
}

async function endChild({ child, gone }: Spawned, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Writes the config (0600) and starts nats-server; resolves once it accepts connections. */
export async function startHubNatsServer(
  binary: string,
  config: HubNatsConfig,
  log: Logger,
): Promise<HubNatsServer> {
  await mkdir(config.dir, { recursive: true, mode: 0o700 });
  await killOrphanNatsServer(config.dir, (pid) =>
    log.warn({ pid }, "stopping a nats-server left behind by an earlier run"),
  );
  const file = hubConfigPath(config.dir);
  await rm(file, { force: true });
  await writeSecretFile(file, renderHubNatsConfig(config));
  const lines = new EventEmitter();
  let current = await spawnHubNatsServer(binary, file, config, log, lines);
  let stopping = false;
  return {
    url: `nats://${config.host}:${config.port}`,
    wsUrl: `ws://${config.websocket.host}:${config.websocket.port}`,
    leafUrl: `${config.tls ? "tls" : "nats-leaf"}://${config.leaf.host}:${config.leaf.port}`,
    get pid() {
      return current.child.pid;
    },
    async stop(graceMs = 5000) {
      stopping = true;
      await endChild(current, graceMs);
    },
    async restart(graceMs = 2000) {
      if (stopping) return;
      await endChild(current, graceMs);
      log.warn({ pid: current.child.pid }, "hub nats-server restarted");
      current = await spawnHubNatsServer(binary, file, config, log, lines);
    },
    on: (event, listener) => lines.on(event, listener),
    off: (event, listener) => lines.off(event, listener),
  };
}

async function spawnHubNatsServer(
  binary: string,
  file: string,
  config: HubNatsConfig,
  log: Logger,
  events: EventEmitter,
): Promise<Spawned> {
  const child: ChildProcess = spawn(binary, ["-c", file], {
    env: natsServerEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const recent: string[] = [];
  let ready = false;
  let exited = false;
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) {
        if (!line) continue;
        recent.push(line);
        if (recent.length > 40) recent.shift();
        if (line.includes("Server is ready")) ready = true;
        events.emit("line", line);
        // A client that fails its TLS handshake (a wrong pin, a port scan, the readiness probe
        // below) is that client's failure, not the server's.
        if (/TLS (\w+ )?handshake error/.test(line)) log.info({ nats: line }, "nats-server");
        else if (/\[(ERR|FTL)\]/.test(line)) log.warn({ nats: line }, "nats-server");
        else log.debug({ nats: line }, "nats-server");
      }
    });
  }
  child.once("error", (err) => {
    recent.push(err.message);
    exited = true;
  });
  const gone = new Promise<void>((r) =>
    child.once("exit", () => {
      exited = true;
      r();
    }),
  );

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(ready && (await tcpReady(config.host, config.port)))) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      throw new CocalcError(
        "ERR_NATS_SERVER_START",
        `nats-server (operator mode) ${exited ? "exited" : "did not become ready"}:\n${recent.slice(-15).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  log.info({ pid: child.pid, port: config.port }, "hub nats-server ready");

  return { child, gone };
}
