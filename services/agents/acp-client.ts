/**
 * The client side of ACP, for the turn that runs: file reads and writes through the path
 * resolver, terminals (child processes, sandboxed by bubblewrap outside full access) and
 * permission requests relayed to the UI. The thread's mode is enforced here:
 *
 * - read-only: no writes; commands run with the whole file system read-only;
 * - workspace-write: writes only under the working directory; commands run in bubblewrap
 *   with the working directory writable and everything else read-only;
 * - in both, plus's secrets and the credential folders (protected.ts) can be neither read
 *   nor written, through these requests or by commands (hidden in their sandbox), and
 *   commands have no network unless the thread allows it (sandbox.ts);
 * - full-access: as the user.
 *
 * In a container workspace the agent and its commands run inside the container as the
 * workspace user: the container is their boundary (bubblewrap cannot run in it), while the
 * modes still govern the writes made through ACP, which go through the workspace's fs service.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { rename } from "node:fs/promises";
import type * as acp from "@agentclientprotocol/sdk";
import { type AgentMode, MAX_RECORDED_FILE, type TurnLogEvent } from "../../shared/agents.js";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import { expandPath, isInside, joinPath, nameOf, parentOf } from "../../shared/paths.js";
import { PathResolver } from "../runtime/paths.js";
import { acpSdk } from "./acp-sdk.js";
import { endTagged, newTag, type ProcessKeeper, RUN_VAR } from "./keeper.js";
import type { AgentPlace, WorkspaceFiles } from "./place.js";
import {
  checkNotProtected,
  makeMissingDirs,
  type ProtectedPath,
  realOrNearest,
  resolveProtected,
  resolverDeny,
} from "./protected.js";
import { sandboxed } from "./sandbox.js";

export type LogData<T extends TurnLogEvent["type"]> = Extract<TurnLogEvent, { type: T }>["data"];

/** Where a turn's log events go. */
export interface TurnLogSink {
  append<T extends TurnLogEvent["type"]>(type: T, data: LogData<T>): void;
}

/** Everything the client side needs to know about the turn that runs. */
export interface TurnScope {
  thread: string;
  turn: string;
  mode: AgentMode;
  cwd: string;
  home: string;
  log: TurnLogSink;
  permissionTimeoutMs: number;
  /** What the agent must neither read nor write outside full access (on this machine). */
  protect: readonly ProtectedPath[];
  /** Commands may use this machine's network (else a namespace of their own, no network). */
  network: boolean;
  /** Where commands run and files are reached. */
  place: AgentPlace;
  /** Ends the commands' processes should the service die. */
  keeper: ProcessKeeper;
  usage(used: number, size: number): void;
  /** Terminals and permission requests of the turn, ended with it. */
  terminals: Map<string, AgentTerminal>;
  /** What each file the turn recorded held after its last recorded write (by real path). */
  written: Map<string, string>;
  permissions: Map<
    string,
    (optionId: string | undefined, by: "user" | "timeout" | "turn-ended") => void
  >;
}

/** The error the agent gets back, with our code in front so a person can look it up. */
function refuse(err: unknown): acp.RequestError {
  if (err instanceof acpSdk().RequestError) return err;
  if (err instanceof CocalcError)
    return new (acpSdk().RequestError)(-32603, `${err.code}: ${err.message}`);
  return new (acpSdk().RequestError)(-32603, err instanceof Error ? err.message : String(err));
}

/** One command the agent runs through terminal/create. */
export class AgentTerminal {
  readonly id = `term-${randomId()}`;
  private readonly child: ChildProcess;
  private readonly run = newTag();
  private output = "";
  private truncated = false;
  private pending = "";
  private flushTimer: NodeJS.Timeout | undefined;
  exit: { exitCode: number | null; signal: string | null } | undefined;
  readonly exited: Promise<{ exitCode: number | null; signal: string | null }>;

  /** Starts the command, confined as the thread's mode says. */
  static async start(
    scope: TurnScope,
    p: acp.CreateTerminalRequest,
    limit: number,
  ): Promise<AgentTerminal> {
    const cwd = p.cwd ? expandPath(p.cwd, scope.home, scope.cwd) : scope.cwd;
    if (scope.place.kind === "container") {
      return new AgentTerminal(scope, p, limit, cwd, {
        argv: [p.command, ...(p.args ?? [])],
        sandbox: "container",
      });
    }
    if (scope.mode === "full-access") {
      return new AgentTerminal(scope, p, limit, cwd, {
        argv: [p.command, ...(p.args ?? [])],
        sandbox: "none",
      });
    }
    let hidden = await resolveProtected(scope.protect);
    checkNotProtected(hidden, cwd, await realOrNearest(cwd));
    if (scope.mode === "workspace-write") hidden = await makeMissingDirs(hidden, [scope.cwd]);
    // Only the thread's working directory is ever writable, wherever the command starts.
    const confined = sandboxed(scope.mode, scope.cwd, p.command, p.args ?? [], {
      hidden,
      network: scope.network ? "host" : "none",
      chdir: cwd,
    });
    return new AgentTerminal(scope, p, limit, cwd, confined);
  }

  private constructor(
    scope: TurnScope,
    p: acp.CreateTerminalRequest,
    private readonly limit: number,
    cwd: string,
    { argv, sandbox }: { argv: string[]; sandbox: LogData<"CommandStarted">["sandbox"] },
  ) {
    const extra: Record<string, string> = {};
    for (const v of p.env ?? []) extra[v.name] = v.value;
    const spec = scope.place.spawnOf(argv, cwd, { ...extra, ...scope.keeper.env(this.run) });
    scope.log.append("CommandStarted", {
      terminalId: this.id,
      command: p.command,
      args: p.args ?? [],
      cwd,
      sandbox,
    });
    this.child = spawn(spec.argv[0]!, spec.argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const pid = this.child.pid;
    scope.keeper.hold(pid);
    this.child.on("exit", () => scope.keeper.release(pid));
    const onData = (d: Buffer) => {
      const text = d.toString("utf8");
      this.output += text;
      if (Buffer.byteLength(this.output) > this.limit) {
        // Keep the end: that is where errors are.
        this.output = this.output.slice(-this.limit);
        this.truncated = true;
      }
      this.pending += text;
      if (this.pending.length > 16_384) this.flush(scope);
      else this.flushTimer ??= setTimeout(() => this.flush(scope), 100);
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => {
      const done = (exitCode: number | null, signal: string | null) => {
        if (this.exit) return;
        this.flush(scope);
        this.exit = { exitCode, signal };
        scope.log.append("CommandExited", { terminalId: this.id, exitCode, signal });
        resolve(this.exit);
      };
      this.child.on("error", (err) => {
        this.output += `${err.message}\n`;
        done(127, null);
      });
      this.child.on("close", (code, signal) => done(code, signal));
    });
  }

  private flush(scope: TurnScope): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending === "") return;
    scope.log.append("CommandOutput", { terminalId: this.id, data: this.pending });
    this.pending = "";
  }

  current(): acp.TerminalOutputResponse {
    return {
      output: this.output,
      truncated: this.truncated,
      ...(this.exit && { exitStatus: this.exit }),
    };
  }

  kill(): void {
    if (this.exit || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch {
      this.child.kill("SIGKILL");
    }
    // What left its process group, or runs in a container (not our descendant there).
    void endTagged(RUN_VAR, this.run);
  }
}

/** The resolver of the agent's reads: outside full access, the protected paths are refused. */
export async function readResolver(scope: TurnScope): Promise<PathResolver> {
  if (scope.mode === "full-access") return PathResolver.create({ home: scope.home });
  const deny = resolverDeny(await resolveProtected(scope.protect));
  return PathResolver.create({ home: scope.home, deny });
}

async function readText(resolver: PathResolver, path: string): Promise<string> {
  const { handle } = await resolver.openFile(path, constants.O_RDONLY);
  try {
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

export async function readIfExists(resolver: PathResolver, path: string): Promise<string | null> {
  try {
    return await readText(resolver, path);
  } catch (err) {
    if (err instanceof CocalcError && err.code === "ERR_FS_NOT_FOUND") return null;
    throw err;
  }
}

/**
 * Writes a whole text file through `resolver`: a temp file in the same directory, then a
 * rename, so a reader never sees half a file. Returns what the file held before (null: none).
 */
export async function replaceText(
  resolver: PathResolver,
  path: string,
  content: string,
): Promise<string | null> {
  const real = await resolver.real(path);
  const before = await readIfExists(resolver, real);
  const tmpName = `${real.slice(parentOf(real).length + 1)}.${randomId().slice(0, 8)}.tmp`;
  const tmp = `${parentOf(real) === "/" ? "" : parentOf(real)}/${tmpName}`;
  const { handle, path: tmpReal } = await resolver.openFile(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    0o644,
  );
  try {
    await handle.writeFile(content, "utf8");
  } finally {
    await handle.close();
  }
  await rename(tmpReal, real);
  return before;
}

/** A file write: refused by mode, confined to the working directory in workspace-write. */
export async function writeFile(scope: TurnScope, path: string, content: string): Promise<void> {
  if (scope.mode === "read-only") {
    throw new CocalcError(
      "ERR_AGENT_READ_ONLY",
      `the thread is read-only: writing ${path} is not allowed`,
    );
  }
  if (scope.place.files) {
    await writeInWorkspace(scope, scope.place.files, path, content);
    return;
  }
  let resolver: PathResolver;
  try {
    resolver =
      scope.mode === "workspace-write"
        ? await PathResolver.create({
            home: scope.cwd,
            sandbox: scope.cwd,
            deny: resolverDeny(await resolveProtected(scope.protect)),
          })
        : await PathResolver.create({ home: scope.home });
  } catch (err) {
    throw new CocalcError(
      "ERR_FS_NOT_FOUND",
      `the working directory ${scope.cwd} is missing: ${String(err)}`,
    );
  }
  let real: string;
  try {
    real = await resolver.real(path);
  } catch (err) {
    if (err instanceof CocalcError && err.code === "ERR_FS_OUTSIDE_SANDBOX") {
      throw new CocalcError(
        "ERR_AGENT_OUTSIDE_WORKDIR",
        `workspace-write mode: ${path} is outside the working directory ${scope.cwd}`,
      );
    }
    throw err;
  }
  const before = await replaceText(resolver, real, content);
  recordWrite(scope, real, before, content);
}

/** Records a write of the turn (for its diff and a revert); `toolCallId`: an agent's own tool. */
export function recordWrite(
  scope: TurnScope,
  real: string,
  before: string | null,
  content: string,
  toolCallId?: string,
): void {
  const cut = (s: string) => (s.length > MAX_RECORDED_FILE ? s.slice(0, MAX_RECORDED_FILE) : s);
  const truncated =
    content.length > MAX_RECORDED_FILE || (before !== null && before.length > MAX_RECORDED_FILE);
  scope.written.set(real, content);
  scope.log.append("FileWritten", {
    path: real,
    before: before === null ? null : cut(before),
    after: cut(content),
    truncated,
    ...(toolCallId !== undefined && { toolCallId }),
  });
}

/**
 * A file write in a container workspace, through its fs service (as the workspace user):
 * in workspace-write mode only under the working directory, symlinks followed.
 */
async function writeInWorkspace(
  scope: TurnScope,
  files: WorkspaceFiles,
  path: string,
  content: string,
): Promise<void> {
  const abs = expandPath(path, scope.home, scope.cwd);
  let real: string;
  try {
    real = await files.real(abs);
  } catch (err) {
    if (!(err instanceof CocalcError && err.code === "ERR_FS_NOT_FOUND")) throw err;
    // A new file: where its folder really is.
    real = joinPath(await files.realDir(parentOf(abs)), nameOf(abs));
  }
  if (scope.mode === "workspace-write" && !isInside(real, await files.realDir(scope.cwd))) {
    throw new CocalcError(
      "ERR_AGENT_OUTSIDE_WORKDIR",
      `workspace-write mode: ${path} is outside the working directory ${scope.cwd}`,
    );
  }
  const before = await files.readIfExists(real);
  const written = await files.write(real, content);
  recordWrite(scope, written, before, content);
}

/** The ACP client's handlers; `scopeOf` finds the turn a session's requests belong to. */
export function acpClientHandlers(
  scopeOf: (sessionId: string) => TurnScope | undefined,
  onUpdate: (n: acp.SessionNotification) => void,
) {
  const need = (sessionId: string): TurnScope => {
    const s = scopeOf(sessionId);
    if (!s) throw new (acpSdk().RequestError)(-32002, `no turn of session ${sessionId} is running`);
    return s;
  };
  const terminal = (scope: TurnScope, id: string): AgentTerminal => {
    const t = scope.terminals.get(id);
    if (!t) throw acpSdk().RequestError.resourceNotFound(id);
    return t;
  };
  return (app: acp.ClientApp): acp.ClientApp =>
    app
      .onNotification(acpSdk().methods.client.session.update, ({ params }) => onUpdate(params))
      .onRequest(acpSdk().methods.client.fs.readTextFile, async ({ params }) => {
        const scope = need(params.sessionId);
        try {
          let content = scope.place.files
            ? await scope.place.files.read(expandPath(params.path, scope.home, scope.cwd))
            : await readText(await readResolver(scope), params.path);
          if (params.line || params.limit) {
            const lines = content.split("\n");
            const from = Math.max(0, (params.line ?? 1) - 1);
            content = lines.slice(from, params.limit ? from + params.limit : undefined).join("\n");
          }
          return { content };
        } catch (err) {
          if (err instanceof CocalcError && err.code === "ERR_AGENT_PROTECTED_PATH") {
            scope.log.append("AgentNotice", {
              level: "warning",
              text: `read of ${params.path} refused: ${err.message}`,
            });
          }
          throw refuse(err);
        }
      })
      .onRequest(acpSdk().methods.client.fs.writeTextFile, async ({ params }) => {
        const scope = need(params.sessionId);
        try {
          await writeFile(scope, params.path, params.content);
          return {};
        } catch (err) {
          scope.log.append("AgentNotice", {
            level: "warning",
            text: `write of ${params.path} refused: ${err instanceof Error ? err.message : String(err)}`,
          });
          throw refuse(err);
        }
      })
      .onRequest(acpSdk().methods.client.terminal.create, async ({ params }) => {
        const scope = need(params.sessionId);
        try {
          const t = await AgentTerminal.start(scope, params, params.outputByteLimit ?? 1024 * 1024);
          scope.terminals.set(t.id, t);
          return { terminalId: t.id };
        } catch (err) {
          scope.log.append("AgentNotice", {
            level: "warning",
            text: `command ${params.command} refused: ${err instanceof Error ? err.message : String(err)}`,
          });
          throw refuse(err);
        }
      })
      .onRequest(acpSdk().methods.client.terminal.output, ({ params }) =>
        terminal(need(params.sessionId), params.terminalId).current(),
      )
      .onRequest(acpSdk().methods.client.terminal.waitForExit, async ({ params }) => {
        const t = terminal(need(params.sessionId), params.terminalId);
        return await t.exited;
      })
      .onRequest(acpSdk().methods.client.terminal.kill, ({ params }) => {
        terminal(need(params.sessionId), params.terminalId).kill();
        return {};
      })
      .onRequest(acpSdk().methods.client.terminal.release, ({ params }) => {
        const scope = need(params.sessionId);
        terminal(scope, params.terminalId).kill();
        scope.terminals.delete(params.terminalId);
        return {};
      })
      .onRequest(acpSdk().methods.client.session.requestPermission, async ({ params, signal }) => {
        const scope = need(params.sessionId);
        const request = `p${randomId()}`;
        scope.log.append("PermissionRequested", {
          request,
          title: (params.toolCall.title ?? params.toolCall.toolCallId).slice(0, 2000),
          toolCallId: params.toolCall.toolCallId,
          options: params.options.map((o) => ({
            optionId: o.optionId,
            name: o.name,
            kind: o.kind,
          })),
          timeoutMs: scope.permissionTimeoutMs,
        });
        const optionId = await new Promise<string | undefined>((resolve) => {
          const timer = setTimeout(() => answer(undefined, "timeout"), scope.permissionTimeoutMs);
          const onAbort = () => answer(undefined, "turn-ended");
          function answer(id: string | undefined, by: "user" | "timeout" | "turn-ended") {
            if (!scope.permissions.has(request)) return;
            scope.permissions.delete(request);
            clearTimeout(timer);
            signal.removeEventListener("abort", onAbort);
            scope.log.append("PermissionAnswered", {
              request,
              ...(id !== undefined && { optionId: id }),
              by,
            });
            resolve(id);
          }
          signal.addEventListener("abort", onAbort, { once: true });
          scope.permissions.set(request, answer);
        });
        return optionId === undefined
          ? { outcome: { outcome: "cancelled" } }
          : { outcome: { outcome: "selected", optionId } };
      });
}
