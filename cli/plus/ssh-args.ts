/** Command-line parsing of `cocalc-plus ssh …` and `cocalc-plus uninstall`. */
import { resolve } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { formatTarget, parseTarget, type SessionOptions } from "../../shared/remote.js";
import { parseOptions as parse, UsageError } from "../common/usage.js";
import { dataDirOption as dataDir } from "./data-dir.js";

export const SSH_HELP = `cocalc-plus ssh — run the workspace on another machine, open it here.

Usage:
  cocalc-plus ssh [user@]host[:port] [options]   connect (install and start plus there if needed)
  cocalc-plus ssh list [--json]                  the remote sessions: target, status, ports, version
  cocalc-plus ssh status TARGET                  one session in detail
  cocalc-plus ssh stop TARGET                    stop plus on the remote (SIGTERM, then SIGKILL after 15 s)
  cocalc-plus ssh rm TARGET                      stop it and forget the session (never deletes files)

Options of a connect:
  --local-port N        local port of the tunnel (default: a free one, then the same each time)
  --remote-port N       port the remote plus listens on, on its 127.0.0.1 (default: a free one)
  --no-install          fail instead of copying plus to the remote when it is missing
  --upgrade             replace a remote plus of another version (its terminals restart)
  --forward-only        only forward to a plus that already runs on the remote
  --no-open             do not open a browser
  --identity FILE       ssh identity (private key) file
  --proxy-jump HOST     connect through this jump host (ssh -J)
  --ssh-arg=ARG         one more argument for ssh, e.g. --ssh-arg=-oPort=2222 (repeatable)
  --verbose-ssh         show every ssh command
  --dry-run             show what would run, and run nothing
  --data-dir DIR        the local plus's data directory (default ~/.local/share/cocalc-plus)

The remote needs only Node.js 20+ and sshd; plus is copied from this machine into
~/.cache/cocalc/cocalc-plus/<version>/ there. The remote plus keeps running when the tunnel
closes (like tmux): the same command again reconnects to it.`;

export type SshCommand =
  | {
      command: "ssh-connect";
      dataDir: string;
      target: string;
      options: SessionOptions;
      install: boolean;
      upgrade: boolean;
      forwardOnly: boolean;
      open: boolean;
      dryRun: boolean;
    }
  | { command: "ssh-list"; dataDir: string; json: boolean }
  | { command: "ssh-status" | "ssh-stop" | "ssh-rm"; dataDir: string; target: string }
  | { command: "ssh-help" }
  | { command: "uninstall"; dataDir: string; purge: boolean };

function target(text: string | undefined): string {
  if (text === undefined) throw new UsageError("a target is needed: [user@]host[:port]");
  try {
    return formatTarget(parseTarget(text));
  } catch (err) {
    throw new UsageError(err instanceof CocalcError ? err.message : String(err));
  }
}

function port(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const v = String(value);
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535)
    throw new UsageError(`${flag} must be a port from 1 to 65535, not ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseSshCli(argv: string[], env: NodeJS.ProcessEnv = process.env): SshCommand {
  const [sub] = argv;
  if (sub === undefined || sub === "--help" || sub === "help") return { command: "ssh-help" };
  if (sub === "list") {
    const { values, positionals } = parse(argv.slice(1), {
      "data-dir": { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length > 0) throw new UsageError("ssh list takes no target");
    return {
      command: "ssh-list",
      dataDir: dataDir(values["data-dir"], env),
      json: values.json === true,
    };
  }
  if (sub === "status" || sub === "stop" || sub === "rm") {
    const { values, positionals } = parse(argv.slice(1), { "data-dir": { type: "string" } });
    if (positionals.length !== 1) throw new UsageError(`ssh ${sub} takes one target`);
    return {
      command: `ssh-${sub}`,
      dataDir: dataDir(values["data-dir"], env),
      target: target(positionals[0]),
    };
  }
  const { values, positionals } = parse(argv, {
    "local-port": { type: "string" },
    "remote-port": { type: "string" },
    "no-install": { type: "boolean" },
    upgrade: { type: "boolean" },
    "forward-only": { type: "boolean" },
    "no-open": { type: "boolean" },
    identity: { type: "string" },
    "proxy-jump": { type: "string" },
    "ssh-arg": { type: "string", multiple: true },
    "verbose-ssh": { type: "boolean" },
    "dry-run": { type: "boolean" },
    "data-dir": { type: "string" },
  });
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0
        ? "a target is needed: cocalc-plus ssh [user@]host[:port]"
        : `one target at a time, got ${positionals.join(" ")}`,
    );
  const sshArgs = (values["ssh-arg"] as string[] | undefined) ?? [];
  for (const a of sshArgs) {
    if (a === "" || a.includes("\n") || a.includes("\0"))
      throw new UsageError(`--ssh-arg ${JSON.stringify(a)} is not a single argument`);
  }
  const localPort = port("--local-port", values["local-port"]);
  const remotePort = port("--remote-port", values["remote-port"]);
  const identity = values.identity as string | undefined;
  if (identity !== undefined && identity.trim() === "")
    throw new UsageError("--identity needs a file");
  const proxyJump = values["proxy-jump"] as string | undefined;
  if (proxyJump !== undefined && (proxyJump.trim() === "" || proxyJump.startsWith("-")))
    throw new UsageError("--proxy-jump needs a host");
  if (values.upgrade && values["forward-only"])
    throw new UsageError("--upgrade and --forward-only contradict each other");
  const options: SessionOptions = {
    ...(localPort !== undefined && { localPort }),
    ...(remotePort !== undefined && { remotePort }),
    ...(identity !== undefined && { identity: resolve(identity) }),
    ...(proxyJump !== undefined && { proxyJump }),
    ...(sshArgs.length > 0 && { sshArgs }),
    ...(values["verbose-ssh"] === true && { verboseSsh: true }),
  };
  return {
    command: "ssh-connect",
    dataDir: dataDir(values["data-dir"], env),
    target: target(positionals[0]),
    options,
    install: !values["no-install"],
    upgrade: values.upgrade === true,
    forwardOnly: values["forward-only"] === true,
    open: !values["no-open"],
    dryRun: values["dry-run"] === true,
  };
}

export function parseUninstall(argv: string[], env: NodeJS.ProcessEnv = process.env): SshCommand {
  const { values, positionals } = parse(argv, {
    purge: { type: "boolean" },
    "data-dir": { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError("uninstall takes no arguments");
  return {
    command: "uninstall",
    dataDir: dataDir(values["data-dir"], env),
    purge: values.purge === true,
  };
}
