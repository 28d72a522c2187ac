/**
 * Web apps plus starts for the user: Jupyter Notebook, JupyterLab, code-server or any command
 * serving HTTP on a port, supervised by the apps service and opened through the app proxy.
 * An app is known by its port (`a<port>`); its events (stream WS_APPS) are what was asked on
 * `.cfg` (started, stopped, removed) and what its process did on `.run`; the `apps` view
 * shows each. Pure.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";

export const AppKinds = ["jupyter-notebook", "jupyterlab", "code-server", "command"] as const;
/** What is started: one of the known apps, or the user's own command line. */
export type AppKind = (typeof AppKinds)[number];

/**
 * Where an app is opened: `port` keeps the path (the app knows its base path), `proxy` strips
 * it; `origin` is an origin of its own (a launchpad workspace's `p<n>-<wsid>.<apps domain>`),
 * where the app is served from `/`.
 */
export type AppMount = "port" | "proxy" | "origin";

/** The id of the app on port `port`. */
export function appIdFor(port: number): string {
  return `a${port}`;
}

/** The port of an app id, or undefined when it is not one. */
export function portOfApp(app: string): number | undefined {
  const m = /^a([1-9]\d{0,4})$/.exec(app);
  const n = m ? Number(m[1]) : Number.NaN;
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** The path an app on port `n` is opened at. */
export function appPath(mount: AppMount, n: number): string {
  return mount === "origin" ? "/" : `/${mount}/${n}/`;
}

/** Parses a port given as a number or text; throws ERR_APP_PORT with the reason. */
export function parseAppPort(value: unknown): number {
  const t = (
    typeof value === "number" ? String(value) : typeof value === "string" ? value : ""
  ).trim();
  if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) {
    throw new CocalcError(
      "ERR_APP_PORT",
      `an app's port must be a whole number from 1 to 65535, not ${JSON.stringify(value ?? "")}`,
    );
  }
  return Number(t);
}

export const MAX_APP_COMMAND = 4000;

/** Checks the command line of a `command` app; throws ERR_APP_COMMAND. */
export function checkAppCommand(command: string | undefined): string {
  const c = command?.trim() ?? "";
  if (c === "") throw new CocalcError("ERR_APP_COMMAND", "a command app needs a command line");
  if (c.includes("\0"))
    throw new CocalcError("ERR_APP_COMMAND", "the command line contains a NUL byte");
  if (c.length > MAX_APP_COMMAND)
    throw new CocalcError(
      "ERR_APP_COMMAND",
      `the command line is longer than ${MAX_APP_COMMAND} characters`,
    );
  return c;
}

/** How each kind is opened, which program it needs, and how to install that program. */
export const AppPrograms: Record<
  AppKind,
  { name: string; program?: string; mount: AppMount; install: string }
> = {
  "jupyter-notebook": {
    name: "Jupyter Notebook",
    program: "jupyter-notebook",
    mount: "port",
    install: "sudo apt-get install jupyter-notebook   (or: pip install notebook)",
  },
  jupyterlab: {
    name: "JupyterLab",
    program: "jupyter-lab",
    mount: "port",
    install: "pip install jupyterlab   (Debian has no package of it)",
  },
  "code-server": {
    name: "code-server (VS Code)",
    program: "code-server",
    mount: "proxy",
    install:
      "curl -fsSL https://code-server.dev/install.sh | sh   (see https://coder.com/docs/code-server/install)",
  },
  command: {
    name: "Any command",
    mount: "proxy",
    install: "Any program that serves HTTP on 127.0.0.1:{port} ({port} and $PORT are the port).",
  },
};

/**
 * The program and argv an app is started with: its base path, no auth of its own (plus's
 * sign-in is in front of it), loopback only. `section`: the Jupyter settings class the
 * installed notebook takes (NotebookApp before Notebook 7, ServerApp after).
 */
export function appArgv(
  config: Pick<AppConfig, "kind" | "port" | "mount" | "cwd" | "command">,
  program: string,
  section: "NotebookApp" | "ServerApp" = "ServerApp",
): [string, string[]] {
  const n = config.port;
  const jupyter = (s: string) => [
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${n}`,
    `--${s}.port_retries=0`,
    `--${s}.token=`,
    `--${s}.password=`,
    `--${s}.base_url=${appPath(config.mount, n)}`,
    // At an origin of its own its Host is that name, which Jupyter's guard against DNS
    // rebinding refuses; only the proxy reaches its 127.0.0.1 (a container's own).
    ...(config.mount === "origin" ? [`--${s}.allow_remote_access=True`] : []),
  ];
  switch (config.kind) {
    case "jupyter-notebook":
      return [program, jupyter(section)];
    case "jupyterlab":
      return [program, jupyter("ServerApp")];
    case "code-server":
      return [
        program,
        ["--auth", "none", "--bind-addr", `127.0.0.1:${n}`, "--disable-telemetry", config.cwd],
      ];
    case "command":
      return ["/bin/sh", ["-c", (config.command ?? "").replaceAll("{port}", String(n))]];
    default: {
      const never: never = config.kind;
      throw new Error(`unknown app kind ${never}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Events

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Pid = Type.Integer({ minimum: 1 });
const Kind = Type.Union(AppKinds.map((k) => Type.Literal(k)));
const PathMount = Type.Union([Type.Literal("port"), Type.Literal("proxy")]);
const Mount = Type.Union([Type.Literal("port"), Type.Literal("proxy"), Type.Literal("origin")]);
const Text = Type.String({ maxLength: 16 * 1024 });
const Code = Type.String({ pattern: "^ERR_[A-Z]+_[A-Z_]+$" });
const Path = Type.String({ minLength: 1, maxLength: 4096, pattern: "^[^\\u0000]*$" });

/** What an app is started as. */
export const AppConfigSchema = Type.Object(
  {
    kind: Kind,
    port: Port,
    /** The directory it starts in (absolute). */
    cwd: Path,
    /** The command line of a `command` app (run by /bin/sh, `{port}` replaced). */
    command: Type.Optional(Type.String({ maxLength: MAX_APP_COMMAND, pattern: "^[^\\u0000]*$" })),
    mount: Mount,
  },
  { additionalProperties: false },
);
export type AppConfig = Static<typeof AppConfigSchema>;

/** The app was asked to start (again): its process is started with these settings. */
export const AppStarted = defineEvent("AppStarted", 1, AppConfigSchema);
/** The app was asked to stop (by the user, or plus stops): its process group is ended. */
export const AppStopped = defineEvent(
  "AppStopped",
  1,
  Type.Object({ reason: Text }, { additionalProperties: false }),
);
/** The app is taken off the list. */
export const AppRemoved = defineEvent(
  "AppRemoved",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/** Its process was spawned (a process group of its own, led by `pid`). */
export const AppSpawned = defineEvent(
  "AppSpawned",
  1,
  Type.Object({ pid: Pid }, { additionalProperties: false }),
);
/** Its port answered HTTP: it can be opened. */
export const AppRunning = defineEvent(
  "AppRunning",
  1,
  Type.Object({ pid: Pid }, { additionalProperties: false }),
);
/** Its process ended by itself. */
export const AppExited = defineEvent(
  "AppExited",
  1,
  Type.Object(
    {
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 20 }), Type.Null()]),
    },
    { additionalProperties: false },
  ),
);
/** It could not be started, or its port never answered: its process group was ended. */
export const AppFailed = defineEvent(
  "AppFailed",
  1,
  Type.Object(
    { code: Code, message: Text, logTail: Type.Optional(Text) },
    { additionalProperties: false },
  ),
);

export const AppConfigEvents = [AppStarted, AppStopped, AppRemoved] as const;
export const AppRunEvents = [AppSpawned, AppRunning, AppExited, AppFailed] as const;
export const AppEvents = [...AppConfigEvents, ...AppRunEvents] as const;

export type AppConfigEvent =
  | EventOf<typeof AppStarted>
  | EventOf<typeof AppStopped>
  | EventOf<typeof AppRemoved>;
export type AppRunEvent =
  | EventOf<typeof AppSpawned>
  | EventOf<typeof AppRunning>
  | EventOf<typeof AppExited>
  | EventOf<typeof AppFailed>;
export type AppEvent = AppConfigEvent | AppRunEvent;

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.apps`)

const PortInput = Type.Union([Type.Integer(), Type.String({ maxLength: 20 })]);
const AppId = Type.String({ pattern: "^a[1-9][0-9]{0,4}$" });

export const StartApp = defineCommand(
  "StartApp",
  Type.Object(
    {
      kind: Kind,
      /** Default: a free port. */
      port: Type.Optional(PortInput),
      /** Default: the home directory. */
      cwd: Type.Optional(Type.String({ maxLength: 4096 })),
      command: Type.Optional(Type.String({ maxLength: MAX_APP_COMMAND + 100 })),
      /**
       * For a `command` app of plus: does it know its base path `/port/<n>/`? Default: proxy.
       * A launchpad workspace's apps are each an origin of their own: this is ignored there.
       */
      mount: Type.Optional(PathMount),
    },
    { additionalProperties: false },
  ),
);
export const StopApp = defineCommand(
  "StopApp",
  Type.Object({ app: AppId }, { additionalProperties: false }),
);
export const RestartApp = defineCommand(
  "RestartApp",
  Type.Object({ app: AppId }, { additionalProperties: false }),
);
export const RemoveApp = defineCommand(
  "RemoveApp",
  Type.Object({ app: AppId }, { additionalProperties: false }),
);
export const AppCommands = [StartApp, StopApp, RestartApp, RemoveApp] as const;
export type StartAppData = Static<typeof StartApp.schema>;

// ---------------------------------------------------------------------------------------------
// Read requests (to `ws.<wsid>.read.apps`)

/** A page of an app's output: lines numbered from its start, `before` for older ones. */
export interface AppLogRequest {
  type: "AppLog";
  app: string;
  /** Lines before this number (default: the newest). */
  before?: number;
  limit?: number;
}
export interface AppLogPage {
  lines: { n: number; text: string }[];
  /** The oldest line still kept (older ones fell out of the bounded log). */
  first: number;
  /** The next line's number. */
  next: number;
}
/** Which programs are installed, so a launcher says before starting. */
export interface AppProgramsRequest {
  type: "Programs";
}
export type AppProgramsAnswer = Record<AppKind, { installed: boolean; path?: string }>;
export type AppReadRequest = AppLogRequest | AppProgramsRequest;

// ---------------------------------------------------------------------------------------------
// The `apps` view (key `<app>`)

export const AppStatuses = ["starting", "running", "exited", "failed", "stopped"] as const;
export type AppStatus = (typeof AppStatuses)[number];

export interface AppView extends AppConfig, ShowsRejections {
  app: string;
  status: AppStatus;
  /** The open path: `/port/<n>/`, `/proxy/<n>/`, or `/` on an origin of its own. */
  path: string;
  pid?: number;
  startedAt: string;
  exitCode?: number | null;
  signal?: string | null;
  error?: { code: string; message: string; logTail?: string };
  updatedAt: string;
}
