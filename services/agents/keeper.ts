/**
 * Nothing an agent started outlives the service that started it, even when that service is
 * killed with SIGKILL (no handler runs then, and agents would be reparented to init and keep
 * running, with the commands they run).
 *
 * Every process of an agent (the agent, the commands it runs through ACP terminals, and what
 * those start) carries a tag in its environment: `COCALC_AGENT_SCOPE=<random per pool>`, and
 * `COCALC_AGENT_RUN=<random per process>`. The environment is inherited across fork and exec,
 * through `setsid`, bubblewrap and `podman exec --env` (where the process lives in a container's
 * pid namespace and is not our descendant at all), so a scan of /proc finds the whole tree.
 *
 * The keeper is a tiny `sh` process (no interpreter of ours: a few hundred kB) in a session
 * of its own, reading a pipe from the service. It learns the process groups of the agents
 * ("+pgid" / "-pgid" lines) and waits for end-of-file, which comes when the service closes it
 * or when the service's process dies in any way (the kernel closes the pipe). It then kills
 * the process groups it was told of and every process whose environment carries the scope
 * tag, stopping each first so that nothing forks away while the scan runs, until none is left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomId } from "../../shared/base64url.js";
import type { Logger } from "../runtime/logger.js";

/** The environment variable that marks every process of one pool. */
export const SCOPE_VAR = "COCALC_AGENT_SCOPE";
/** The environment variable that marks the processes of one agent or one command. */
export const RUN_VAR = "COCALC_AGENT_RUN";

/**
 * $1: the exact environment entry of the processes to end ("NAME=value"). Reads its stdin to
 * the end first (a closed stdin: at once). Signals other than KILL are ignored: ^C in a
 * terminal or a kill of the service's process group must not cut the clean-up short.
 */
const KEEPER = `trap '' INT TERM HUP QUIT PIPE
groups=" "
while IFS= read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) p=\${line#-}; case $groups in *" $p "*) groups="\${groups%% $p *} \${groups#* $p }" ;; esac ;;
  esac
done
for g in $groups; do kill -9 -$g 2>/dev/null; done
i=0
while [ $i -lt 200 ]; do
  pids=$(grep -lzxF -e "$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
  [ -z "$pids" ] && exit 0
  kill -STOP $pids 2>/dev/null
  kill -9 $pids 2>/dev/null
  i=$((i+1))
  sleep 0.05
done
exit 1
`;

function startKeeper(entry: string, stdin: "pipe" | "ignore"): ChildProcess {
  // The keeper's own environment must not carry the tag it hunts.
  const env = { ...process.env };
  delete env[SCOPE_VAR];
  delete env[RUN_VAR];
  return spawn("/bin/sh", ["-c", KEEPER, "cocalc-agent-keeper", entry], {
    stdio: [stdin, "ignore", "ignore"],
    detached: true,
    env,
  });
}

/**
 * Ends every process whose environment has `name=value` (and what they started), wherever it
 * runs on this machine, including inside containers. Resolves when they are gone.
 */
export function endTagged(name: string, value: string): Promise<void> {
  return new Promise((resolve) => {
    const p = startKeeper(`${name}=${value}`, "ignore");
    p.once("error", () => resolve());
    p.once("exit", () => resolve());
  });
}

/** A fresh tag value (no characters a shell or grep would treat specially). */
export function newTag(): string {
  return (
    randomId()
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 20) || "x"
  );
}

/** The keeper of one pool of agent processes. */
export class ProcessKeeper {
  /** The scope tag's value. */
  readonly scope = newTag();
  private child: ChildProcess | undefined;
  private readonly groups = new Set<number>();
  private stopped = false;

  constructor(private readonly log: Logger) {}

  /**
   * The environment every process of the pool gets, with a tag of its own run. Asked before
   * each process starts, so the keeper starts with the first one, not with the service.
   */
  env(run: string): Record<string, string> {
    if (!this.child && !this.stopped) this.launch();
    return { [SCOPE_VAR]: this.scope, [RUN_VAR]: run };
  }

  private launch(): void {
    const child = startKeeper(`${SCOPE_VAR}=${this.scope}`, "pipe");
    this.child = child;
    child.stdin!.on("error", () => undefined);
    child.once("error", (err) => this.log.warn({ err }, "agent keeper not started"));
    child.once("exit", (code, signal) => {
      if (this.stopped || this.child !== child) return;
      // Killed by someone: a new one takes over, told of the groups that still run.
      this.log.warn({ code, signal }, "agent keeper ended; starting another");
      this.launch();
      for (const g of this.groups) this.write(`+${g}`);
    });
    // The keeper must not keep the service's process alive, nor be ended by its exit.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  private write(line: string): void {
    if (this.child?.stdin?.writable) this.child.stdin.write(`${line}\n`);
  }

  /** A process group (its leader's pid) to kill if the service dies. */
  hold(pgid: number | undefined): void {
    if (pgid === undefined || this.stopped) return;
    this.groups.add(pgid);
    this.write(`+${pgid}`);
  }

  /** The group's leader has exited: its pid may be reused. */
  release(pgid: number | undefined): void {
    if (pgid === undefined || !this.groups.delete(pgid)) return;
    this.write(`-${pgid}`);
  }

  /** Ends every process of the pool that is left, and the keeper. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.stdin?.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
}
