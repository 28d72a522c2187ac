/**
 * Agent processes, one per thread that has run recently, at most `max` at a time. A thread's
 * process is reused while its agent command and environment stay the same; idle processes
 * beyond the limit (and any idle for long) are stopped. Finding installed agents and the
 * 0600 file of API keys live here too, since both decide how a process is started.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import {
  type AgentKind,
  type DetectedAgent,
  splitCommand,
  type ThreadSettings,
} from "../../shared/agents.js";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import { loadAcp } from "./acp-sdk.js";
import { authenticateWithKey, authMethodsOf, signInAdvice } from "./agent-auth.js";
import { AgentProcess, type ClientHandlers } from "./agent-process.js";
import { newTag, ProcessKeeper } from "./keeper.js";
import type { AgentPlace } from "./place.js";
import { makeMissingDirs, type ProtectedPath, resolveProtected } from "./protected.js";
import { sandboxed } from "./sandbox.js";

/** The commands each known agent installs, in order of preference. */
const KNOWN: Record<Exclude<AgentKind, "custom">, { name: string; bins: string[] }> = {
  codex: { name: "Codex", bins: ["codex-acp"] },
  claude: { name: "Claude Code", bins: ["claude-code-acp", "claude-agent-acp"] },
};

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Installed agents: on PATH, or in the given bin directories (the package's node_modules/.bin). */
export function detectAgents(
  binDirs: readonly string[],
  path = process.env.PATH ?? "",
): DetectedAgent[] {
  const dirs = [...path.split(delimiter).filter(Boolean), ...binDirs];
  const found: DetectedAgent[] = [];
  for (const [kind, known] of Object.entries(KNOWN) as [AgentKind, (typeof KNOWN)["codex"]][]) {
    const command = known.bins.flatMap((b) => dirs.map((d) => join(d, b))).find(executable);
    if (command) found.push({ kind, name: known.name, command });
  }
  return found;
}

/** API keys for agents, in a 0600 JSON file: they reach agents by environment, never argv. */
export class AgentKeys {
  constructor(private readonly file: string) {}

  async all(): Promise<Record<string, string>> {
    try {
      const value = JSON.parse(await readFile(this.file, "utf8")) as unknown;
      if (typeof value !== "object" || value === null) return {};
      return Object.fromEntries(
        Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"),
      );
    } catch {
      return {};
    }
  }

  async names(): Promise<string[]> {
    return Object.keys(await this.all()).sort();
  }

  async set(name: string, value: string): Promise<string[]> {
    const keys = await this.all();
    if (value === "") delete keys[name];
    else keys[name] = value;
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${randomId().slice(0, 8)}.tmp`;
    await writeFile(tmp, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
    return Object.keys(keys).sort();
  }
}

/**
 * Where agents keep their own state (sessions, logs, caches): writable for a confined agent
 * process, so it works in workspace-write and read-only modes.
 */
export function agentStateDirs(home: string): string[] {
  return [".codex", ".claude", ".claude.json", ".cache", ".npm"].map((d) => join(home, d));
}

export interface PoolOptions {
  max: number;
  idleMs: number;
  initTimeoutMs: number;
  binDirs: readonly string[];
  log: Logger;
  handlers: ClientHandlers;
  home: string;
  /** Hidden from confined agents (the product's secrets, credential folders). */
  protect: readonly ProtectedPath[];
  /** The egress proxy's socket: how a confined agent without network reaches its API. */
  egressSocket: () => string;
  /** Where agents run: here, or inside a container workspace. */
  place: AgentPlace;
}

interface Entry {
  proc: AgentProcess;
  fingerprint: string;
  /** Initialized (and authenticated): settles once. */
  ready: Promise<void>;
}

export class AgentPool {
  private readonly entries = new Map<string, Entry>();
  private readonly reaper: NodeJS.Timeout;
  /** Ends every agent process and what it started when the service goes, however it goes. */
  readonly keeper: ProcessKeeper;

  constructor(private readonly o: PoolOptions) {
    this.keeper = new ProcessKeeper(o.log);
    this.reaper = setInterval(() => this.reap(), Math.min(60_000, o.idleMs));
    this.reaper.unref();
  }

  /** The command line a thread's settings run. */
  argvOf(settings: ThreadSettings): string[] {
    if (settings.agent === "custom") {
      const argv = splitCommand(settings.command);
      if (argv.length === 0)
        throw new CocalcError("ERR_AGENT_SETTINGS", "the custom agent has no command");
      return argv;
    }
    if (this.o.place.kind === "container") {
      // Installed in the workspace's image (or by its user), found on its PATH there.
      const known = KNOWN[settings.agent];
      const bins = known.bins.join(" ");
      return [
        "/bin/sh",
        "-c",
        `for b in ${bins}; do command -v "$b" >/dev/null 2>&1 && exec "$b"; done; ` +
          `echo "${known.name} is not installed in this workspace: no ${known.bins.join(" or ")} on its PATH (install it in the image or with npm in the workspace, or choose a custom command)" >&2; exit 127`,
      ];
    }
    const found = detectAgents(this.o.binDirs).find((a) => a.kind === settings.agent);
    if (!found) {
      const bins = KNOWN[settings.agent].bins.join(" or ");
      throw new CocalcError(
        "ERR_AGENT_START",
        `${KNOWN[settings.agent].name} is not installed: no ${bins} on PATH (npm install -g @zed-industries/codex-acp, or choose a custom command)`,
      );
    }
    return [found.command];
  }

  /** The running process of `thread`, started (and initialized) if needed, marked busy. */
  async acquire(
    thread: string,
    settings: ThreadSettings,
    keys: Record<string, string>,
    waiting: () => void,
  ): Promise<AgentProcess> {
    const command = this.argvOf(settings);
    // Outside full access the agent process itself is confined like its commands: what it
    // does on its own (some agents run commands themselves) cannot write outside either. In a
    // container workspace the container is the boundary.
    let argv = command;
    if (this.o.place.kind === "host" && settings.mode !== "full-access") {
      let hidden = await resolveProtected(this.o.protect);
      if (settings.mode === "workspace-write") {
        hidden = await makeMissingDirs(hidden, [settings.cwd]);
      }
      argv = sandboxed(settings.mode, settings.cwd, command[0]!, command.slice(1), {
        writable: agentStateDirs(this.o.home),
        hidden,
        // Without network the agent still reaches its API, through the egress proxy only.
        network: settings.network ? "host" : { egress: this.o.egressSocket() },
      }).argv;
    }
    const run = newTag();
    const spec = this.o.place.spawnOf(argv, settings.cwd, {
      ...keys,
      ...settings.env,
      ...this.keeper.env(run),
    });
    const fingerprint = JSON.stringify([argv, keys, settings.env]);
    let existing = this.entries.get(thread);
    if (existing?.proc.alive && existing.fingerprint === fingerprint) {
      // A turn stopped while its process started leaves it starting: the next one waits.
      await existing.ready.catch(() => undefined);
      if (existing.proc.alive && this.entries.get(thread) === existing) {
        existing.proc.busy = true;
        return existing.proc;
      }
      existing = this.entries.get(thread);
    }
    if (existing) {
      this.entries.delete(thread);
      await existing.proc.stop();
    }
    let told = false;
    while (this.alive() >= this.o.max && !(await this.evictIdle())) {
      if (!told) waiting();
      told = true;
      await new Promise((r) => setTimeout(r, 200));
    }
    await loadAcp();
    const proc = new AgentProcess(spec, this.o.handlers, this.o.log, {
      keeper: this.keeper,
      run,
    });
    proc.busy = true;
    const ready = (async () => {
      await proc.initialize(this.o.initTimeoutMs);
      await this.authenticate(proc, command, { ...keys, ...settings.env });
    })();
    this.entries.set(thread, { proc, fingerprint, ready });
    this.o.log.info({ thread, pid: proc.pid, command: argv[0] }, "agent process started");
    try {
      await ready;
    } catch (err) {
      this.drop(thread, proc);
      throw err;
    }
    return proc;
  }

  /** Reads how the agent signs in and authenticates with a stored key when one fits. */
  private async authenticate(
    proc: AgentProcess,
    command: readonly string[],
    env: Record<string, string>,
  ): Promise<void> {
    const methods = authMethodsOf(proc.init, command);
    proc.auth = { methods };
    proc.signInAdvice = signInAdvice(methods);
    const using = await authenticateWithKey(proc, methods, env, this.o.initTimeoutMs);
    if (using) proc.auth.using = using;
  }

  /**
   * A process of the thread's agent for its own interactive sign-in, outside the pool and
   * unconfined: like running the agent's login command, it writes the agent's credentials
   * where the agent keeps them and listens for the browser's callback on this machine.
   */
  async signInProcess(
    settings: ThreadSettings,
    extra: Record<string, string>,
    wrap: (argv: readonly string[]) => string[] = (a) => [...a],
  ): Promise<AgentProcess> {
    const argv = this.argvOf(settings);
    const run = newTag();
    const spec = this.o.place.spawnOf(wrap(argv), settings.cwd, {
      ...settings.env,
      ...extra,
      ...this.keeper.env(run),
    });
    await loadAcp();
    const proc = new AgentProcess(spec, this.o.handlers, this.o.log, { keeper: this.keeper, run });
    this.o.log.info({ pid: proc.pid, command: argv[0] }, "agent sign-in process started");
    try {
      await proc.initialize(this.o.initTimeoutMs);
      proc.auth = { methods: authMethodsOf(proc.init, argv) };
    } catch (err) {
      proc.kill();
      throw err;
    }
    return proc;
  }

  /** Stops a thread's idle process, so its next turn starts one that reads new credentials. */
  async forget(thread: string): Promise<void> {
    const e = this.entries.get(thread);
    if (!e || e.proc.busy) return;
    this.entries.delete(thread);
    await e.proc.stop();
  }

  release(proc: AgentProcess): void {
    proc.busy = false;
    proc.lastUsed = Date.now();
  }

  /** Forgets (and kills) a thread's process, e.g. after it died or broke the protocol. */
  drop(thread: string, proc: AgentProcess): void {
    if (this.entries.get(thread)?.proc === proc) this.entries.delete(thread);
    proc.kill();
  }

  private alive(): number {
    let n = 0;
    for (const [thread, e] of this.entries) {
      if (e.proc.alive) n++;
      else this.entries.delete(thread);
    }
    return n;
  }

  private async evictIdle(): Promise<boolean> {
    const idle = [...this.entries]
      .filter(([, e]) => !e.proc.busy)
      .sort((a, b) => a[1].proc.lastUsed - b[1].proc.lastUsed);
    const oldest = idle[0];
    if (!oldest) return false;
    this.entries.delete(oldest[0]);
    await oldest[1].proc.stop();
    return true;
  }

  private reap(): void {
    const now = Date.now();
    for (const [thread, e] of this.entries) {
      if (!e.proc.busy && now - e.proc.lastUsed > this.o.idleMs) {
        this.entries.delete(thread);
        void e.proc.stop();
      }
    }
  }

  /** The pid of a thread's process (tests kill it to see a crash handled). */
  pidOf(thread: string): number | undefined {
    const e = this.entries.get(thread);
    return e?.proc.alive ? e.proc.pid : undefined;
  }

  async stop(): Promise<void> {
    clearInterval(this.reaper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.proc.stop()));
    await this.keeper.stop();
  }

  /** Installed agents where agents run: on this machine, or on a container workspace's PATH. */
  async detect(): Promise<DetectedAgent[]> {
    if (this.o.place.kind === "host") return detectAgents(this.o.binDirs);
    const names = Object.values(KNOWN).flatMap((k) => k.bins);
    const spec = this.o.place.spawnOf(
      ["/bin/sh", "-c", `for b in ${names.join(" ")}; do command -v "$b"; done; true`],
      this.o.home,
      {},
    );
    const found = await new Promise<string[]>((resolve) => {
      execFile(
        spec.argv[0]!,
        spec.argv.slice(1),
        { cwd: spec.cwd, env: spec.env, timeout: 20_000 },
        (err, stdout) => resolve(err ? [] : stdout.split("\n").filter((l) => l.startsWith("/"))),
      );
    });
    const out: DetectedAgent[] = [];
    for (const [kind, known] of Object.entries(KNOWN) as [AgentKind, (typeof KNOWN)["codex"]][]) {
      const command = found.find((f) => known.bins.includes(f.slice(f.lastIndexOf("/") + 1)));
      if (command) out.push({ kind, name: known.name, command });
    }
    return out;
  }
}
