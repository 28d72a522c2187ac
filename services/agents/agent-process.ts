/**
 * One agent process and our ACP client connection to it over stdio. The agent's stdout must
 * be JSON-RPC, one message per line: anything else is a protocol violation that ends the
 * process (an agent that prints banners or logs to stdout would otherwise hang a turn
 * silently). stderr is kept (its tail) for the reason a turn failed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type * as acp from "@agentclientprotocol/sdk";
import type { AgentAuthMethod, AgentSessionInfo } from "../../shared/agents.js";
import { CocalcError, type ErrorCode } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import { acpSdk } from "./acp-sdk.js";
import { endTagged, type ProcessKeeper, RUN_VAR } from "./keeper.js";

const STDERR_TAIL = 4000;
const MAX_LINE = 64 * 1024 * 1024;

export interface AgentSpawn {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Who ends the process's tree should the service die, and the tag of this process's run. */
export interface Keeping {
  keeper: ProcessKeeper;
  run: string;
}

/** Where the client side of ACP (fs, terminals, permissions, updates) is handled. */
export type ClientHandlers = (app: acp.ClientApp) => acp.ClientApp;

export class AgentProcess {
  readonly child: ChildProcess;
  readonly connection: acp.ClientConnection;
  /** Resolves with why the process or its connection ended. */
  readonly ended: Promise<CocalcError>;
  private stderrTail = "";
  private violation: string | undefined;
  private endedWith: CocalcError | undefined;
  private settle!: (e: CocalcError) => void;
  init: acp.InitializeResponse | undefined;
  /** The session this process has open, if any. */
  sessionId: string | undefined;
  lastUsed = Date.now();
  busy = false;
  /** Its start was told in a turn's log. */
  announced = false;
  /** How it can be signed in to, and the key method it was authenticated with. */
  auth: { methods: AgentAuthMethod[]; using?: string } = { methods: [] };
  /** What to tell a user whose credentials the agent refuses. */
  signInAdvice: string | undefined;
  /** What its open session offers (modes, config options, commands). */
  session: AgentSessionInfo = {};

  constructor(
    spec: AgentSpawn,
    handlers: ClientHandlers,
    private readonly log: Logger,
    private readonly keeping?: Keeping,
  ) {
    const [command, ...args] = spec.argv;
    this.ended = new Promise((resolve) => {
      this.settle = (e) => {
        if (this.endedWith) return;
        this.endedWith = e;
        resolve(e);
      };
    });
    this.child = spawn(command!, args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const pid = this.child.pid;
    keeping?.keeper.hold(pid);
    this.child.on("error", (err) => {
      this.settle(new CocalcError("ERR_AGENT_START", `cannot start ${command}: ${err.message}`));
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (d: string) => {
      // Without terminal colours: the tail is shown in the page as words.
      this.stderrTail = (this.stderrTail + stripAnsi(d)).slice(-STDERR_TAIL);
    });
    this.child.on("exit", (code, signal) => {
      keeping?.keeper.release(pid);
      // Give stderr a moment to drain: its last lines usually say why.
      setTimeout(() => {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        this.settle(
          new CocalcError(
            this.violation ? "ERR_AGENT_PROTOCOL" : "ERR_AGENT_CRASHED",
            this.violation ?? `the agent ${how}${this.stderrSuffix()}`,
          ),
        );
      }, 50);
    });
    this.connection = handlers(acpSdk().client({ name: "cocalc-plus" })).connect(this.stream());
    void this.connection.closed.then(() => {
      if (!this.endedWith && this.violation) {
        this.settle(new CocalcError("ERR_AGENT_PROTOCOL", this.violation));
      }
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.endedWith === undefined;
  }

  /** The last lines the agent wrote to stderr. */
  stderr(): string {
    return this.stderrTail.trim();
  }

  stderrSuffix(): string {
    const e = this.stderr();
    return e ? `; its stderr: ${e.slice(-2000)}` : "";
  }

  /** The stdio pair as an ACP stream, checking that every line the agent writes is JSON-RPC. */
  private stream(): acp.Stream {
    const child = this.child;
    let closed = false;
    const readable = new ReadableStream<acp.AnyMessage>({
      cancel: () => {
        closed = true;
      },
      start: (controller) => {
        // The connection may close (or cancel the stream) while the agent still writes.
        const close = () => {
          if (closed) return;
          closed = true;
          try {
            controller.close();
          } catch {
            // already closed
          }
        };
        let buffer = "";
        child.stdout!.setEncoding("utf8");
        child.stdout!.on("data", (chunk: string) => {
          if (closed) return;
          buffer += chunk;
          if (buffer.length > MAX_LINE) {
            this.protocolViolation("a line longer than 64 MiB");
            return;
          }
          let nl = buffer.indexOf("\n");
          while (nl >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            nl = buffer.indexOf("\n");
            if (line === "") continue;
            let message: unknown;
            try {
              message = JSON.parse(line);
            } catch {
              this.protocolViolation(
                `a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`,
              );
              close();
              return;
            }
            if (!isJsonRpc(message)) {
              this.protocolViolation(
                `JSON that is not a JSON-RPC 2.0 message: ${line.slice(0, 200)}`,
              );
              close();
              return;
            }
            if (closed) return;
            try {
              controller.enqueue(message);
            } catch {
              closed = true;
              return;
            }
          }
        });
        child.stdout!.on("end", close);
      },
    });
    const writable = new WritableStream<acp.AnyMessage>({
      write: (message) =>
        new Promise<void>((resolve, reject) => {
          if (!child.stdin!.writable) {
            reject(new Error("the agent's stdin is closed"));
            return;
          }
          child.stdin!.write(`${JSON.stringify(message)}\n`, (err) =>
            err ? reject(err) : resolve(),
          );
        }),
    });
    child.stdin!.on("error", () => undefined);
    return { readable, writable };
  }

  private protocolViolation(what: string): void {
    if (this.violation) return;
    this.violation = `the agent broke the ACP protocol: it wrote ${what} to stdout${this.stderrSuffix()}`;
    this.log.warn({ pid: this.pid }, this.violation);
    this.kill();
  }

  /** ACP initialize, within `timeoutMs`; a failure ends the process. */
  async initialize(timeoutMs: number): Promise<acp.InitializeResponse> {
    const request = this.connection.agent.request(acpSdk().methods.agent.initialize, {
      protocolVersion: acpSdk().PROTOCOL_VERSION,
      clientCapabilities: {
        fs: { readTextFile: true, writeTextFile: true },
        terminal: true,
        // Terminal sign-ins are offered: the page shows their command to run in a terminal.
        auth: { terminal: true },
        _meta: { "terminal-auth": true },
      },
      clientInfo: { name: "cocalc-plus", version: "1" },
    });
    try {
      this.init = await this.within(request, timeoutMs, "initialize");
      return this.init;
    } catch (err) {
      this.kill();
      throw err;
    }
  }

  /**
   * Waits for `request`, failing with a clear error when the process ends first or the time
   * is up. JSON-RPC errors become CocalcErrors with `code`.
   */
  async within<T>(
    request: Promise<T>,
    timeoutMs: number,
    what: string,
    code: ErrorCode = "ERR_AGENT_PROTOCOL",
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout =
      timeoutMs > 0
        ? new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new CocalcError(
                    "ERR_AGENT_TIMEOUT",
                    `the agent did not answer ${what} within ${Math.round(timeoutMs / 1000)} s${this.stderrSuffix()}`,
                  ),
                ),
              timeoutMs,
            );
          })
        : new Promise<never>(() => undefined);
    try {
      return await Promise.race([
        request.catch(async (err) => {
          // The connection closes a moment before the exit is known: prefer the exit's reason.
          const ended = await Promise.race([
            this.ended,
            new Promise<undefined>((r) => setTimeout(() => r(undefined), 500)),
          ]);
          throw ended ?? requestFailure(err, what, code, this.stderrSuffix(), this.signInAdvice);
        }),
        this.ended.then((e) => Promise.reject(e)),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends the process and everything it started: its process group, and every descendant
   * found before (a launcher script may exit first and leave its real agent behind).
   */
  kill(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const tree = descendants(pid);
    for (const target of [-pid, ...tree]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    // What left the tree (or lives in a container, where it never was our descendant).
    if (this.keeping) void endTagged(RUN_VAR, this.keeping.run);
  }

  /** Stops the process: closes stdin, then kills what is left after a moment. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    const tree = pid === undefined ? [] : descendants(pid);
    if (this.alive) {
      this.connection.close();
      this.child.stdin?.end();
      const timer = setTimeout(() => this.kill(), 500);
      await this.ended;
      clearTimeout(timer);
    }
    // What it started and left behind goes with it.
    for (const p of tree) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (this.keeping) await endTagged(RUN_VAR, this.keeping.run);
  }
}

/** Every process below `root` now (Linux: from /proc), deepest last. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Text without terminal escape sequences (colours, cursor moves). */
function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what it removes
  return s.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, "");
}

function isJsonRpc(m: unknown): m is acp.AnyMessage {
  if (typeof m !== "object" || m === null || Array.isArray(m)) return false;
  const o = m as Record<string, unknown>;
  return o.jsonrpc === "2.0" && (typeof o.method === "string" || "id" in o);
}

/** A JSON-RPC error from the agent as a CocalcError, authentication failures recognised. */
export function requestFailure(
  err: unknown,
  what: string,
  code: ErrorCode,
  stderr = "",
  advice = "Set the agent's API key in the agent settings, or log in with its own CLI.",
): CocalcError {
  if (err instanceof CocalcError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const rpc = err instanceof acpSdk().RequestError ? err.code : undefined;
  const data =
    err instanceof acpSdk().RequestError && err.data !== undefined
      ? ` (${JSON.stringify(err.data).slice(0, 500)})`
      : "";
  if (rpc === -32000 || /auth/i.test(message)) {
    return new CocalcError("ERR_AGENT_AUTH", `${what}: ${message}${data}. ${advice}`);
  }
  const said =
    err instanceof acpSdk().RequestError
      ? (err.data as { message?: unknown } | undefined)
      : undefined;
  // The agent said what went wrong (codex-acp: "stream disconnected …"): its words, not its logs.
  if (typeof said?.message === "string" && said.message !== "") {
    return new CocalcError(code, `${what} failed: ${said.message.slice(0, 2000)}`);
  }
  return new CocalcError(code, `${what} failed: ${message}${data}${stderr}`);
}
