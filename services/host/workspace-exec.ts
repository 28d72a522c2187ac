/**
 * Commands run in a running workspace's container: answered at once with their output
 * (execIn), streamed (exec sessions) or on a byte pipe. Each holds the workspace's rootfs
 * until its processes are gone, so a stop cannot unmount it under them.
 */
import { randomId } from "../../shared/base64url.js";
import type { CommandOf } from "../../shared/commands.js";
import { CocalcError } from "../../shared/errors.js";
import { type ExecResult, WORKSPACE_HOME } from "../../shared/launchpad.js";
import type { ExecOpened, OpenPipe } from "../../shared/launchpad-exec.js";
import { NO_CONTAINER, runCapture, type WorkspaceContainers } from "./containers.js";
import type { LifecycleState } from "./decider.js";
import type { ExecSessions } from "./exec.js";
import { imagePath, rootfsMount, workspacePaths } from "./layout.js";
import type { MountManager } from "./mounts.js";
import type { PipeExecs } from "./pipe-exec.js";

export interface WorkspaceExecsOptions {
  root: string;
  containers: WorkspaceContainers;
  mounts: MountManager;
  stateOf(wsid: string): Promise<LifecycleState>;
  /** Asked when podman finds no container under a running workspace. */
  checkContainer(wsid: string): Promise<boolean>;
}

export class WorkspaceExecs {
  constructor(private readonly o: WorkspaceExecsOptions) {}

  /**
   * Holds the rootfs of a running workspace for an exec (refused with ERR_WORKSPACE_STATE
   * when it is not running); returns the release.
   */
  private async hold(wsid: string): Promise<() => Promise<void>> {
    const state = await this.o.stateOf(wsid);
    if (state.status !== "running")
      throw new CocalcError(
        "ERR_WORKSPACE_STATE",
        state.status === "none" || state.status === "deleted"
          ? "no such workspace"
          : `the workspace is ${state.status}; start it first`,
      );
    const holder = `exec:${randomId()
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 16)}` as const;
    const p = workspacePaths(this.o.root, wsid);
    await this.o.mounts.reference(rootfsMount(wsid), holder, {
      lower: imagePath(this.o.root, state.image),
      upper: p.upper,
      work: p.work,
      target: p.rootfs,
    });
    return () => this.o.mounts.release(rootfsMount(wsid), holder);
  }

  /** podman's refusal of an exec because the container has ended. */
  private containerGone(wsid: string): CocalcError {
    void this.o.checkContainer(wsid).catch(() => undefined);
    return new CocalcError(
      "ERR_WORKSPACE_STATE",
      "the workspace's container has ended (it is being stopped): start the workspace",
    );
  }

  /** The host pid of the running container's init; ERR_WORKSPACE_STATE when it is gone. */
  private async initPid(wsid: string): Promise<number> {
    const pid = await this.o.containers.initPid(wsid);
    if (pid === undefined) throw this.containerGone(wsid);
    return pid;
  }

  /**
   * Runs a command in a running workspace and answers with its output (cut at
   * EXEC_OUTPUT_LIMIT); killed after `timeoutMs` (default 60 s). The CLI streams instead
   * (open).
   */
  async run(
    wsid: string,
    data: { argv: string[]; stdin?: string; timeoutMs?: number; root?: boolean; cwd?: string },
  ): Promise<ExecResult> {
    const release = await this.hold(wsid);
    try {
      const [file, args] = this.o.containers.execArgv(wsid, data.argv, {
        root: data.root ?? false,
        ...(data.cwd !== undefined && { cwd: data.cwd }),
      });
      const r = await runCapture(file, args, data.stdin, data.timeoutMs ?? 60_000);
      // podman's own refusal (exit 125): the container ended under a running workspace.
      if (r.exitCode === 125 && NO_CONTAINER.test(r.stderr)) throw this.containerGone(wsid);
      // The OCI runtime's refusal (podman exits 126/127): the command never ran.
      if (r.exitCode >= 126 && /chdir to cwd .* failed: no such file/i.test(r.stderr))
        throw new CocalcError(
          "ERR_WORKSPACE_CWD",
          `${data.cwd ?? WORKSPACE_HOME} does not exist in the workspace (or is not a folder)`,
        );
      return r;
    } finally {
      await release();
    }
  }

  /** Opens a streamed exec session (services/host/exec.ts) in a running workspace. */
  async open(
    sessions: ExecSessions,
    wsid: string,
    data: {
      argv: string[];
      tty?: boolean;
      stdin?: boolean;
      cols?: number;
      rows?: number;
      term?: string;
      root?: boolean;
      timeoutMs?: number;
    },
  ): Promise<ExecOpened> {
    const release = await this.hold(wsid);
    try {
      const initPid = await this.initPid(wsid);
      const tty = data.tty ?? false;
      const root = data.root ?? false;
      return await sessions.open({
        wsid,
        initPid,
        argv: data.argv,
        tty,
        stdin: data.stdin ?? false,
        cols: data.cols ?? 80,
        rows: data.rows ?? 24,
        term: data.term ?? "xterm-256color",
        timeoutMs: data.timeoutMs ?? 0,
        podmanArgv: (cmd, env) => this.o.containers.execArgv(wsid, cmd, { tty, root, env }),
        onEnd: release,
      });
    } catch (err) {
      await release();
      throw err;
    }
  }

  /** Opens a command (or a forward) of a running workspace on a byte pipe, as its user. */
  async openPipe(
    pipes: PipeExecs,
    wsid: string,
    data: CommandOf<typeof OpenPipe>["data"],
  ): Promise<{ pipeId: string }> {
    const release = await this.hold(wsid);
    try {
      const initPid = await this.initPid(wsid);
      const tty = data.tty ?? false;
      if (data.kind === "tcp" && data.port === undefined)
        throw new CocalcError("ERR_COMMAND_INVALID", "a forward needs its port");
      if (data.kind === "exec" && data.argv === undefined)
        throw new CocalcError("ERR_COMMAND_INVALID", "an exec needs its command");
      return await pipes.open({
        wsid,
        initPid,
        pipeId: data.pipeId,
        kind: data.kind,
        argv: data.argv ?? [],
        tty,
        cols: data.cols ?? 80,
        rows: data.rows ?? 24,
        term: data.term ?? "xterm-256color",
        ...(data.host !== undefined && { host: data.host }),
        ...(data.port !== undefined && { port: data.port }),
        podmanArgv: (cmd, env) => this.o.containers.execArgv(wsid, cmd, { tty, root: false, env }),
        onEnd: release,
      });
    } catch (err) {
      await release();
      throw err;
    }
  }
}
