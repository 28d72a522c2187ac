/** Command-line parsing for cocalc-plus. Bad input is a UsageError: a clear message and exit code 2. */

import { isIP } from "node:net";
import { resolve } from "node:path";
import {
  type ConflictKeep,
  ConflictKeeps,
  type SyncDirection,
  SyncDirections,
} from "../../shared/sync.js";
import { nonEmpty, parseOptions as parse, UsageError } from "../common/usage.js";
import { dataDirOption } from "./data-dir.js";
import { parseSshCli, parseUninstall, type SshCommand } from "./ssh-args.js";

export const HELP = `cocalc-plus — a workspace in your browser: files, editor, terminals and coding agents.

Usage:
  cocalc-plus [options]                 start the workspace and open it in the browser
  cocalc-plus stop [--data-dir DIR]     stop a running cocalc-plus (e.g. one started with --daemon)
      [--terminals]                     also end the terminals a --daemon plus keeps across restarts
  cocalc-plus open [--data-dir DIR]     open the running cocalc-plus in the browser (and print its URL)
  cocalc-plus token [--rotate] [--data-dir DIR]
                                        print the sign-in URL again; --rotate: a new token, and
                                        every signed-in browser is signed out
  cocalc-plus events tail [SUBJECT] [--since SEQ|TIME] [--data-dir DIR]
                                        print events as they happen (SUBJECT may use * and >)
  cocalc-plus ssh [user@]host[:port]    run the workspace on another machine (see ssh --help)
  cocalc-plus ssh list|status|stop|rm   the remote sessions
  cocalc-plus uninstall [--purge]       remove the installed bundle and cache (--purge: the data too)
  cocalc-plus sync add|list|status|pause|resume|check|resolve|rm …
                                        sync folders with a remote session (sync --help)
  cocalc-plus forward add|list|rm …     keep ports forwarded over a remote session (forward --help)

Options:
  --port N                      HTTP port; 0 picks a free port (default: the port of the last
                                start when it is free, so open tabs reconnect; else a free one)
  --bind ADDR                   address to listen on (default 127.0.0.1)
  --allow-host NAME             also answer to this Host name (repeatable), e.g. when bound to 0.0.0.0
  --data-dir DIR                where state lives (default $XDG_DATA_HOME/cocalc-plus,
                                i.e. ~/.local/share/cocalc-plus)
  --no-open                     do not open a browser
  --write-connection-info FILE  write url, port, pid, version, dataDir as JSON to FILE, and the
                                token to a 0600 file next to it (FILE with .token for .json)
  --token-file FILE             read the access token from FILE instead of the data dir
  --daemon                      run in the background; logs in DATA_DIR/logs, pid in DATA_DIR/plus.pid
  --nats-server PATH            the nats-server binary (default $COCALC_NATS_SERVER, then PATH)
  --log-level LEVEL             trace, debug, info, warn, error (default info)
  --title TEXT                  the browser window title (a remote session: its target)
  --remote-of TARGET            this plus is the remote side of a cocalc-plus ssh session to TARGET
  --version                     print the version
  --help                        print this help

Open the printed URL (it carries the access token) to sign in. Ctrl-C stops everything.`;

export interface StartOptions {
  command: "start";
  port: number;
  /** No port was asked for: the last start's, when it is free. */
  reusePort?: boolean;
  bind: string;
  allowHosts: string[];
  dataDir: string;
  open: boolean;
  connectionInfo?: string;
  tokenFile?: string;
  daemon: boolean;
  natsServer?: string;
  logLevel: string;
  title?: string;
  /** The remote side of a `cocalc-plus ssh` session: its target (the page shows it). */
  remoteOf?: string;
}

/** `cocalc-plus sync ACTION …` */ export interface SyncCliOptions {
  action: "add" | "list" | "pause" | "resume" | "rm" | "check" | "resolve" | "status";
  dataDir: string;
  /** add: LOCAL [REMOTE]; others: PAIR or LOCAL path. */
  args: string[];
  session?: string;
  ignore: string[];
  ignoreFile?: string;
  prefer?: "local" | "remote";
  /** add: both ways (default) or a mirror. */
  direction?: SyncDirection;
  /** add: say what the pair would do, and add nothing. */
  dryRun: boolean;
  /** resolve: which version stays. */
  keep?: ConflictKeep;
  /** resolve: the conflict copy, when a path has several. */
  copy?: string;
  outsideHome: boolean;
  json: boolean;
}

/** `cocalc-plus forward ACTION …` */ export interface ForwardCliOptions {
  action: "add" | "list" | "rm";
  dataDir: string;
  /** add: LOCAL_PORT [REMOTE_PORT]; rm: FORWARD id or local port. */
  args: string[];
  session?: string;
  direction?: string;
  name?: string;
  json: boolean;
}

export type CliCommand =
  | StartOptions
  | { command: "help" }
  | { command: "version" }
  | { command: "stop"; dataDir: string; terminals?: boolean }
  | { command: "token"; dataDir: string; rotate: boolean }
  | { command: "open"; dataDir: string }
  | { command: "events-tail"; dataDir: string; subject?: string; since?: string }
  | { command: "sync-remote"; sub: string; args: string[] }
  | ({ command: "sync" } & SyncCliOptions)
  | { command: "sync-help" }
  | ({ command: "forward" } & ForwardCliOptions)
  | { command: "forward-help" }
  | SshCommand;

/** The remote half of sync (run over ssh by a local plus; not for people, so not in --help). */
const SYNC_REMOTE_COMMANDS = new Set(["sync-scan", "sync-apply", "sync-watch", "sync-agent"]);

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new UsageError(
      `--port must be a whole number from 0 to 65535, not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

function bindAddress(value: string): string {
  if (value !== "localhost" && isIP(value) === 0) {
    throw new UsageError(
      `--bind must be an IP address (like 127.0.0.1 or 0.0.0.0) or localhost, not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  const [first, second] = argv;
  if (first !== undefined && SYNC_REMOTE_COMMANDS.has(first)) {
    if (argv.length !== 2 || !second) throw new UsageError(`${first} takes one ROOT`);
    return { command: "sync-remote", sub: first, args: [second] };
  }
  if (first === "stop") {
    const { values } = parse(
      argv.slice(1),
      { "data-dir": { type: "string" }, terminals: { type: "boolean" } },
      false,
    );
    return {
      command: "stop",
      ...(values.terminals === true && { terminals: true }),
      dataDir: dataDirOption(values["data-dir"], env),
    };
  }
  if (first === "open") {
    const { values } = parse(argv.slice(1), { "data-dir": { type: "string" } }, false);
    return { command: "open", dataDir: dataDirOption(values["data-dir"], env) };
  }
  if (first === "token") {
    const { values } = parse(
      argv.slice(1),
      { "data-dir": { type: "string" }, rotate: { type: "boolean" } },
      false,
    );
    return {
      command: "token",
      rotate: values.rotate === true,
      dataDir: dataDirOption(values["data-dir"], env),
    };
  }
  if (first === "sync") {
    const actions = ["add", "list", "pause", "resume", "rm", "check", "resolve", "status"] as const;
    if (second === undefined || second === "--help" || second === "help")
      return { command: "sync-help" };
    const action = actions.find((a) => a === second);
    if (!action)
      throw new UsageError(`unknown command "sync ${second}"; choose from ${actions.join(", ")}`);
    const { values, positionals } = parse(
      argv.slice(2),
      {
        "data-dir": { type: "string" },
        session: { type: "string" },
        ignore: { type: "string", multiple: true },
        "ignore-file": { type: "string" },
        prefer: { type: "string" },
        direction: { type: "string" },
        keep: { type: "string" },
        copy: { type: "string" },
        "dry-run": { type: "boolean" },
        "outside-home": { type: "boolean" },
        json: { type: "boolean" },
      },
      true,
    );
    const prefer = values.prefer as string | undefined;
    if (prefer !== undefined && prefer !== "local" && prefer !== "remote")
      throw new UsageError(`--prefer takes local or remote, not ${JSON.stringify(prefer)}`);
    const direction = values.direction as string | undefined;
    if (direction !== undefined && !SyncDirections.some((d) => d === direction))
      throw new UsageError(
        `--direction takes ${SyncDirections.join(", ")}, not ${JSON.stringify(direction)}`,
      );
    const keep = values.keep as string | undefined;
    if (keep !== undefined && !ConflictKeeps.some((k) => k === keep))
      throw new UsageError(`--keep takes ${ConflictKeeps.join(", ")}, not ${JSON.stringify(keep)}`);
    if (action === "resolve" && keep === undefined)
      throw new UsageError("sync resolve needs --keep local|remote|both");
    const max =
      action === "add" || action === "resolve" || action === "status"
        ? 2
        : action === "list"
          ? 0
          : 1;
    if (positionals.length > max)
      throw new UsageError(`sync ${action} takes at most ${max} argument${max === 1 ? "" : "s"}`);
    const copy = nonEmpty("--copy", values.copy as string | undefined);
    const session = nonEmpty("--session", values.session as string | undefined);
    const ignoreFile = nonEmpty("--ignore-file", values["ignore-file"] as string | undefined);
    return {
      command: "sync",
      action,
      args: positionals,
      dataDir: dataDirOption(values["data-dir"], env),
      ignore: (values.ignore as string[] | undefined) ?? [],
      outsideHome: values["outside-home"] === true,
      json: values.json === true,
      dryRun: values["dry-run"] === true,
      ...(session !== undefined && { session }),
      ...(ignoreFile !== undefined && { ignoreFile: resolve(ignoreFile) }),
      ...(prefer !== undefined && { prefer }),
      ...(direction !== undefined && { direction: direction as SyncDirection }),
      ...(keep !== undefined && { keep: keep as ConflictKeep }),
      ...(copy !== undefined && { copy }),
    };
  }
  if (first === "forward") {
    const actions = ["add", "list", "rm"] as const;
    if (second === undefined || second === "--help" || second === "help")
      return { command: "forward-help" };
    const action = actions.find((a) => a === second);
    if (!action)
      throw new UsageError(
        `unknown command "forward ${second}"; choose from ${actions.join(", ")}`,
      );
    const { values, positionals } = parse(
      argv.slice(2),
      {
        "data-dir": { type: "string" },
        session: { type: "string" },
        direction: { type: "string" },
        name: { type: "string" },
        json: { type: "boolean" },
      },
      true,
    );
    const max = action === "add" ? 2 : action === "list" ? 0 : 1;
    if (positionals.length > max)
      throw new UsageError(
        `forward ${action} takes at most ${max} argument${max === 1 ? "" : "s"}`,
      );
    const session = nonEmpty("--session", values.session as string | undefined);
    const direction = nonEmpty("--direction", values.direction as string | undefined);
    const name = nonEmpty("--name", values.name as string | undefined);
    return {
      command: "forward",
      action,
      args: positionals,
      dataDir: dataDirOption(values["data-dir"], env),
      json: values.json === true,
      ...(session !== undefined && { session }),
      ...(direction !== undefined && { direction }),
      ...(name !== undefined && { name }),
    };
  }
  if (first === "ssh") return parseSshCli(argv.slice(1), env);
  if (first === "uninstall") return parseUninstall(argv.slice(1), env);
  if (first === "events") {
    if (second !== "tail")
      throw new UsageError(`unknown command "events ${second ?? ""}"; did you mean "events tail"?`);
    const { values, positionals } = parse(
      argv.slice(2),
      { "data-dir": { type: "string" }, since: { type: "string" } },
      true,
    );
    if (positionals.length > 1)
      throw new UsageError(`events tail takes one subject, got ${positionals.length}`);
    const since = nonEmpty("--since", values.since as string | undefined);
    return {
      command: "events-tail",
      dataDir: dataDirOption(values["data-dir"], env),
      ...(positionals[0] !== undefined && { subject: positionals[0] }),
      ...(since !== undefined && { since }),
    };
  }
  if (first !== undefined && !first.startsWith("-"))
    throw new UsageError(`unknown command ${JSON.stringify(first)}; see --help`);
  const { values } = parse(
    argv,
    {
      port: { type: "string" },
      bind: { type: "string" },
      "allow-host": { type: "string", multiple: true },
      "data-dir": { type: "string" },
      "no-open": { type: "boolean" },
      "write-connection-info": { type: "string" },
      "token-file": { type: "string" },
      daemon: { type: "boolean" },
      "nats-server": { type: "string" },
      "log-level": { type: "string" },
      title: { type: "string" },
      "remote-of": { type: "string" },
      version: { type: "boolean" },
      help: { type: "boolean" },
    },
    false,
  );
  if (values.help) return { command: "help" };
  if (values.version) return { command: "version" };
  const logLevel = (values["log-level"] as string | undefined) ?? env.COCALC_LOG_LEVEL ?? "info";
  if (!LOG_LEVELS.has(logLevel))
    throw new UsageError(`--log-level must be one of ${[...LOG_LEVELS].join(", ")}`);
  const allowHosts = ((values["allow-host"] as string[] | undefined) ?? []).map((h) => {
    if (!/^[A-Za-z0-9.-]+$/.test(h))
      throw new UsageError(`--allow-host takes a host name, not ${JSON.stringify(h)}`);
    return h.toLowerCase();
  });
  const connectionInfo = nonEmpty(
    "--write-connection-info",
    values["write-connection-info"] as string | undefined,
  );
  const tokenFile = nonEmpty("--token-file", values["token-file"] as string | undefined);
  const natsServer = nonEmpty("--nats-server", values["nats-server"] as string | undefined);
  const title = nonEmpty("--title", values.title as string | undefined);
  if (title !== undefined && title.length > 200)
    throw new UsageError("--title is longer than 200 characters");
  const remoteOf = nonEmpty("--remote-of", values["remote-of"] as string | undefined);
  if (remoteOf !== undefined && remoteOf.length > 300)
    throw new UsageError("--remote-of is longer than 300 characters");
  return {
    command: "start",
    port: values.port === undefined ? 0 : port(values.port as string),
    ...(values.port === undefined && { reusePort: true }),
    bind: values.bind === undefined ? "127.0.0.1" : bindAddress(values.bind as string),
    allowHosts,
    dataDir: dataDirOption(values["data-dir"], env),
    open: !values["no-open"],
    daemon: Boolean(values.daemon),
    logLevel,
    ...(connectionInfo !== undefined && { connectionInfo: resolve(connectionInfo) }),
    ...(tokenFile !== undefined && { tokenFile: resolve(tokenFile) }),
    ...(natsServer !== undefined && { natsServer }),
    ...(title !== undefined && { title }),
    ...(remoteOf !== undefined && { remoteOf }),
  };
}
