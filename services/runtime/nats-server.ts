/**
 * nats-server as a child process: found on disk, configured by a generated 0600 file,
 * awaited until ready, and restarted with backoff when it dies (nats-process.ts).
 */
import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { totalmem } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "./logger.js";
import { NatsProcess } from "./nats-process.js";
import { freePort } from "./ports.js";

const execFileP = promisify(execFile);

export const NATS_INSTALL_HELP = `cocalc-plus runs its own nats-server (version 2.9 or newer), and none was found.
Install it:
  Debian/Ubuntu:  sudo apt-get install nats-server
  macOS:          brew install nats-server
  Anywhere else:  download a release from https://nats.io/download/ and put nats-server on your PATH
or tell cocalc-plus where it is with --nats-server PATH or COCALC_NATS_SERVER=PATH.`;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds the nats-server binary: an explicit path, then $COCALC_NATS_SERVER, then PATH. */
export function locateNatsServer(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const [source, candidate] of [
    ["--nats-server", explicit],
    ["COCALC_NATS_SERVER", env.COCALC_NATS_SERVER],
  ] as const) {
    if (!candidate) continue;
    if (executable(candidate)) return candidate;
    throw new CocalcError(
      "ERR_NATS_SERVER_MISSING",
      `${source} points to ${candidate}, which is not an executable file.\n${NATS_INSTALL_HELP}`,
    );
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "nats-server");
    if (executable(candidate)) return candidate;
  }
  throw new CocalcError("ERR_NATS_SERVER_MISSING", NATS_INSTALL_HELP);
}

/** nats-server's max_payload, on every server (plus, hosts, the hub): one message's bytes. */
export const NATS_MAX_PAYLOAD = 1024 * 1024;

/**
 * The environment nats-server runs with. Its own heap is small (a few MB) while the messages
 * it passes on are large (512 KiB transfer chunks), and Go collects whenever the heap doubles
 * (GOGC=100): every few messages, about half of the server's CPU in a 1 GiB upload. GOGC=400
 * collects at five times the live heap instead; GOMEMLIMIT (half the machine's memory) brings
 * the collector back before that grows large. Values in `env` (an operator's) are kept.
 */
export function natsServerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    GOGC: env.GOGC ?? "400",
    GOMEMLIMIT: env.GOMEMLIMIT ?? `${Math.floor(totalmem() / 2 / 1024 / 1024)}MiB`,
  };
}

export type Version = readonly [number, number, number];

/** Where a data dir keeps the version of its nats-server binary (see natsServerVersion). */
export function natsVersionFile(dataDir: string): string {
  return join(dataDir, "nats-version.json");
}

/** `nats-server --version` runs at most once per binary (path, size, mtime) in a process. */
const probes = new Map<string, Promise<Version>>();

async function probeVersion(binary: string): Promise<Version> {
  const { stdout } = await execFileP(binary, ["--version"], { timeout: 10_000 });
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(stdout);
  if (!m)
    throw new CocalcError(
      "ERR_NATS_SERVER_START",
      `cannot read the version of ${binary}: ${stdout.trim()}`,
    );
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * The version nats-server reports, e.g. [2, 9, 10]. With `cacheFile`, the answer is kept
 * there for as long as the binary (path, size, mtime) stays the same: one process less per start.
 * A second call while the first one's process runs waits for that one (plus asks early, while
 * its code loads, and again when it needs the answer).
 */
export async function natsServerVersion(binary: string, cacheFile?: string): Promise<Version> {
  const info = await stat(binary);
  const stamp = `${binary}:${info.size}:${info.mtimeMs}`;
  if (cacheFile) {
    try {
      const cached = JSON.parse(await readFile(cacheFile, "utf8")) as {
        stamp: string;
        version: Version;
      };
      if (cached.stamp === stamp && Array.isArray(cached.version) && cached.version.length === 3)
        return cached.version;
    } catch {
      // no cache yet
    }
  }
  let probe = probes.get(stamp);
  if (!probe) {
    probe = probeVersion(binary);
    probes.set(stamp, probe);
    probe.catch(() => probes.delete(stamp));
  }
  const version = await probe;
  if (cacheFile)
    await writeFile(cacheFile, JSON.stringify({ stamp, version })).catch(() => undefined);
  return version;
}

/** `sync_interval: always` exists from 2.10.23 on; older servers reject the setting. */
export function supportsSyncAlways(v: Version): boolean {
  const [a, b, c] = v;
  return a > 2 || (a === 2 && (b > 10 || (b === 10 && c >= 23)));
}

/** Permissions of one NATS user, as nats-server's config wants them. */
export interface NatsPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
}

export interface NatsServerConfig {
  binary: string;
  /** Directory for the config file, pid file and the JetStream store. */
  dir: string;
  port: number;
  wsPort: number;
  /** The public nkey of the services' user (full rights). */
  servicesNkey: string;
  /** The browser's user: password login, restricted (none on a control plane). */
  browser?: { user: string; password: string; permissions: NatsPermissions };
  /** The only Origin accepted on the websocket listener (the gateway's own). */
  wsOrigin: string;
  syncAlways: boolean;
  /** Unique among servers that connect (leaf nodes refuse a duplicate); default cocalc_plus. */
  serverName?: string;
  /** Address of the client listener (default 127.0.0.1). */
  host?: string;
  /** JetStream domain: a host and its control plane each keep their own JetStream. */
  jetstreamDomain?: string;
  /**
   * Connect as a leaf node to the hub: its `nats-leaf://host:port` (`tls://host:port`: over
   * TLS, the certificate checked against the URL's name and `caFile`, else the system's CAs)
   * and the 0600 file of the leaf's login (a user JWT and its seed, NATS's credentials format).
   */
  leafRemote?: { url: string; credentials: string; caFile?: string };
}

export function configPath(dir: string): string {
  return join(dir, "nats-server.conf");
}

function leafRemote(r: NonNullable<NatsServerConfig["leafRemote"]>) {
  if (!r.url.startsWith("tls://")) return { url: r.url, credentials: r.credentials };
  // A busy machine can take more than nats-server's default half second for a handshake.
  const tls = { timeout: 5, ...(r.caFile !== undefined && { ca_file: r.caFile }) };
  return { url: r.url, credentials: r.credentials, tls };
}

/** The config file's text. JSON is valid nats-server config syntax and needs no escaping rules of its own. */
export function renderNatsConfig(c: NatsServerConfig): string {
  const conf = {
    server_name: c.serverName ?? "cocalc_plus",
    host: c.host ?? "127.0.0.1",
    port: c.port,
    pid_file: join(c.dir, "nats-server.pid"),
    max_payload: NATS_MAX_PAYLOAD,
    jetstream: {
      store_dir: join(c.dir, "jetstream"),
      max_memory_store: 64 * 1024 * 1024,
      ...(c.syncAlways && { sync_interval: "always" }),
      ...(c.jetstreamDomain !== undefined && { domain: c.jetstreamDomain }),
    },
    ...(c.leafRemote && { leafnodes: { remotes: [leafRemote(c.leafRemote)] } }),
    websocket: {
      host: "127.0.0.1",
      port: c.wsPort,
      no_tls: true,
      compression: false,
      allowed_origins: [c.wsOrigin],
    },
  };
  const users = [
    { nkey: c.servicesNkey },
    ...(c.browser
      ? [{ user: c.browser.user, password: c.browser.password, permissions: c.browser.permissions }]
      : []),
  ];
  return `${JSON.stringify({ ...conf, authorization: { users } }, null, 2)}\n`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Kills a nats-server left running on this config by a cocalc-plus that was killed -9:
 * it still holds the JetStream store and the ports.
 */
export async function killOrphanNatsServer(
  dir: string,
  onFound?: (pid: number) => void,
): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(join(dir, "nats-server.pid"), "utf8")).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !processAlive(pid)) return undefined;
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return undefined;
  }
  if (!cmdline.includes(configPath(dir))) return undefined;
  onFound?.(pid);
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  return pid;
}

/** Warnings that do not apply here: both listeners are on loopback only. */
const EXPECTED_WARNINGS = /Plaintext passwords detected|Websocket not configured with TLS/;

/**
 * Plus's (and a host's) nats-server: its config rendered from `config`, supervised by
 * NatsProcess. Emits "exit" (code, signal), "restarted" (pid) and "line" (each line it logs).
 */
export class NatsServer extends NatsProcess {
  private reloads = 0;

  constructor(
    readonly config: NatsServerConfig,
    log: Logger,
  ) {
    super(
      {
        binary: config.binary,
        configFile: configPath(config.dir),
        env: natsServerEnv(),
        host: "127.0.0.1",
        // Read when probed: a start may move to other ports (launch).
        get port() {
          return config.port;
        },
        name: "nats-server",
        levelOf: (line) =>
          /\[(ERR|FTL|WRN)\]/.test(line) && !EXPECTED_WARNINGS.test(line) ? "warn" : "debug",
      },
      log,
    );
    this.on("line", (line: string) => {
      if (line.includes("Reloaded server configuration")) this.reloads++;
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.config.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.config.wsPort}`;
  }

  /** Writes the config (0600) and starts the server; resolves when it accepts connections. */
  async start(): Promise<void> {
    await (await this.launch()).ready;
  }

  /**
   * start() in two steps: resolves once the server is spawned, with `ready`, which settles when
   * it accepts connections. The caller can do its own work while the server starts.
   */
  async launch(): Promise<{ ready: Promise<void> }> {
    await mkdir(this.config.dir, { recursive: true, mode: 0o700 });
    await killOrphanNatsServer(this.config.dir, (pid) =>
      this.log.warn({ pid }, "stopping a nats-server left behind by an earlier run"),
    );
    const file = configPath(this.config.dir);
    await rm(file, { force: true });
    await writeFile(file, renderNatsConfig(this.config), { mode: 0o600 });
    await chmod(file, 0o600);
    const first = this.spawnAndWait();
    return { ready: first.catch((err) => this.onOtherPorts(err, file, 1)) };
  }

  /**
   * Its ports were free when picked, but another process may take one before nats-server
   * binds it: then it starts again on new ones (a few times), else the error stands.
   */
  private async onOtherPorts(err: unknown, file: string, attempt: number): Promise<void> {
    if (attempt > 3 || !(err instanceof Error) || !/address already in use/.test(err.message))
      throw err;
    const ports = this.config as { port: number; wsPort: number };
    ports.port = await freePort();
    ports.wsPort = await freePort();
    this.log.warn(
      { port: ports.port, wsPort: ports.wsPort },
      "a port was taken; nats-server starts on others",
    );
    await writeFile(file, renderNatsConfig(this.config), { mode: 0o600 });
    await this.spawnAndWait().catch((e) => this.onOtherPorts(e, file, attempt + 1));
  }

  /**
   * A new password for the browser's user. The reload closes every connection that logged in
   * with the old one (also any made straight to the websocket port, not through the gateway).
   */
  async setBrowserPassword(password: string): Promise<void> {
    const browser = this.config.browser;
    if (!browser) throw new Error("this nats-server has no browser user");
    (this.config as { browser?: NatsServerConfig["browser"] }).browser = { ...browser, password };
    await this.reload();
  }

  private async reload(): Promise<void> {
    const file = configPath(this.config.dir);
    await writeFile(`${file}.new`, renderNatsConfig(this.config), { mode: 0o600 });
    await rename(`${file}.new`, file);
    const seen = this.reloads;
    if (!this.signal("SIGHUP")) return;
    const deadline = Date.now() + 10_000;
    while (this.reloads === seen && Date.now() < deadline) await sleep(10);
    if (this.reloads === seen)
      throw new CocalcError(
        "ERR_NATS_SERVER_START",
        `nats-server did not reload its config:\n${this.lastLines(5)}`,
      );
  }
}
