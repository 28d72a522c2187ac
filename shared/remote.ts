/**
 * Remote sessions (`cocalc-plus ssh user@host`): targets, the events of a session (stream
 * REMOTE, one subject per session), the commands of the remote service and the
 * `remote-sessions` view. Sync pairs and port forwards of a later stage hang off a session
 * by its id: `remote.<sid>.sync.<pair>` and `remote.<sid>.forward.<fid>`.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";

/** A parsed `[user@]host[:port]`. */
export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/;
const HOST = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** Parses `[user@]host[:port]` (IPv6 as `[::1]:22`); throws ERR_REMOTE_TARGET with the reason. */
export function parseTarget(text: string): SshTarget {
  const bad = (why: string): never => {
    throw new CocalcError(
      "ERR_REMOTE_TARGET",
      `${JSON.stringify(text)} is not a target of the form [user@]host[:port]: ${why}`,
    );
  };
  if (typeof text !== "string" || text.trim() === "") return bad("it is empty");
  const t = text.trim();
  if (t.startsWith("-")) return bad("it starts with '-'");
  let rest = t;
  let user: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER.test(user)) return bad(`the user name ${JSON.stringify(user)} is not valid`);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return bad("an IPv6 address needs a closing ']'");
    host = rest.slice(1, close);
    if (!IPV6.test(host)) return bad(`${JSON.stringify(host)} is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return bad("junk after ']'");
    if (after !== "") portText = after.slice(1);
  } else {
    const colon = rest.indexOf(":");
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    if (colon >= 0) portText = rest.slice(colon + 1);
    if (!HOST.test(host)) return bad(`the host name ${JSON.stringify(host)} is not valid`);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      return bad(`the port ${JSON.stringify(portText)} is not a number from 1 to 65535`);
    port = Number(portText);
  }
  return { ...(user !== undefined && { user }), host, ...(port !== undefined && { port }) };
}

/** The canonical text of a target: `user@host:port`, parts left out when not given. */
export function formatTarget(t: SshTarget): string {
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  return `${t.user !== undefined ? `${t.user}@` : ""}${host}${t.port !== undefined ? `:${t.port}` : ""}`;
}

/** The session id of a target: the same target, the same session. */
export function sessionIdOf(target: string): string {
  return `s${bytesToBase64url(new TextEncoder().encode(formatTarget(parseTarget(target))))}`;
}

/** Where plus is installed on a remote, relative to the remote home. */
export const REMOTE_INSTALL_ROOT = ".cache/cocalc/cocalc-plus";

// ---------------------------------------------------------------------------------------------
// Options a session is connected with.

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const SshArg = Type.String({ minLength: 1, maxLength: 1000, pattern: "^[^\\u0000\\n]*$" });

export const SessionOptionsSchema = Type.Object(
  {
    localPort: Type.Optional(Port),
    remotePort: Type.Optional(Port),
    identity: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    proxyJump: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
    sshArgs: Type.Optional(Type.Array(SshArg, { maxItems: 50 })),
    verboseSsh: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SessionOptions = Static<typeof SessionOptionsSchema>;

/** How one connect goes: install or not, upgrade, or only forward to a daemon that runs already. */
export const ConnectModeSchema = Type.Object(
  {
    install: Type.Boolean(),
    upgrade: Type.Boolean(),
    forwardOnly: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ConnectMode = Static<typeof ConnectModeSchema>;

const Target = Type.String({ minLength: 1, maxLength: 300 });
const Sid = Type.String({ pattern: "^s[A-Za-z0-9_-]{1,400}$" });
const Text = Type.String({ maxLength: 64 * 1024 });

// ---------------------------------------------------------------------------------------------
// Events (on `remote.<sid>.session`)

export const SessionAdded = defineEvent(
  "SessionAdded",
  1,
  Type.Object({ target: Target, options: SessionOptionsSchema }, { additionalProperties: false }),
);
export const SessionConnectRequested = defineEvent(
  "SessionConnectRequested",
  1,
  Type.Object(
    {
      mode: ConnectModeSchema,
      options: SessionOptionsSchema,
      /**
       * A person waits for this connect and can answer what ssh asks (a password, a key's
       * passphrase, a code, an unknown host key) in the page or the terminal. Reconnects that
       * follow never ask: they go over the control connection, or fail and say so.
       */
      interactive: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
/** A step of a connect, for the progress line of the CLI and the page. */
export const SessionProgressed = defineEvent(
  "SessionProgressed",
  1,
  Type.Object(
    {
      step: Type.String({ maxLength: 40 }),
      message: Text,
      /** The ssh command line that ran (shown with --verbose-ssh); never holds a secret. */
      command: Type.Optional(Text),
    },
    { additionalProperties: false },
  ),
);
export const SessionConnected = defineEvent(
  "SessionConnected",
  1,
  Type.Object(
    {
      os: Type.String({ maxLength: 40 }),
      arch: Type.String({ maxLength: 40 }),
      remoteVersion: Type.String({ maxLength: 40 }),
      localVersion: Type.String({ maxLength: 40 }),
      remotePid: Type.Integer({ minimum: 1 }),
      remotePort: Port,
      remoteHome: Type.String({ maxLength: 4096 }),
      installed: Type.Boolean(),
      reused: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
);
/** The tunnel answers: a request through it got a 200. */
/**
 * The stream sequence of the SessionConnectRequested an attempt answers (none: an attempt of
 * the service's own, after a start or a dead tunnel): whoever asked waits for its own outcome.
 */
const ConnectRequest = Type.Integer({ minimum: 1 });

export const TunnelStarted = defineEvent(
  "TunnelStarted",
  1,
  Type.Object(
    {
      localPort: Port,
      pid: Type.Integer({ minimum: 1 }),
      restarts: Type.Integer({ minimum: 0 }),
      request: Type.Optional(ConnectRequest),
    },
    { additionalProperties: false },
  ),
);
export const TunnelExited = defineEvent(
  "TunnelExited",
  1,
  Type.Object(
    {
      pid: Type.Integer({ minimum: 1 }),
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 20 }), Type.Null()]),
      /** In how long the supervisor tries again; absent when it does not. */
      retryInMs: Type.Optional(Type.Integer({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
);
export const SessionFailed = defineEvent(
  "SessionFailed",
  1,
  Type.Object(
    {
      code: Type.String({ pattern: "^ERR_[A-Z]+_[A-Z_]+$" }),
      message: Text,
      sshOutput: Type.Optional(Text),
      retryInMs: Type.Optional(Type.Integer({ minimum: 0 })),
      /** Which attempt in a row of the service's own failed, and after how many it gives up. */
      attempt: Type.Optional(Type.Integer({ minimum: 1 })),
      maxAttempts: Type.Optional(Type.Integer({ minimum: 1 })),
      request: Type.Optional(ConnectRequest),
    },
    { additionalProperties: false },
  ),
);
/** How long ssh's question waits for an answer before the connect is given up. */
export const ASK_TIMEOUT_MS = 3 * 60_000;

/** ssh asks something while connecting (its words); the answer goes by request, never stored. */
export const SessionAsked = defineEvent(
  "SessionAsked",
  1,
  Type.Object(
    {
      ask: Type.String({ pattern: "^q[A-Za-z0-9_-]{8,40}$" }),
      prompt: Type.String({ maxLength: 4000 }),
      /** Typed without echo (a password, a passphrase, a code). */
      secret: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
);
export const SessionAnswered = defineEvent(
  "SessionAnswered",
  1,
  Type.Object(
    {
      ask: Type.String({ pattern: "^q[A-Za-z0-9_-]{8,40}$" }),
      how: Type.Union([
        Type.Literal("answered"),
        Type.Literal("cancelled"),
        Type.Literal("timed-out"),
      ]),
    },
    { additionalProperties: false },
  ),
);
export const SessionStopRequested = defineEvent(
  "SessionStopRequested",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const SessionStopped = defineEvent(
  "SessionStopped",
  1,
  Type.Object(
    {
      remotePid: Type.Optional(Type.Integer({ minimum: 1 })),
      /** The daemon did not end on SIGTERM in time and was killed. */
      killed: Type.Boolean(),
      message: Text,
    },
    { additionalProperties: false },
  ),
);
export const SessionStarred = defineEvent(
  "SessionStarred",
  1,
  Type.Object({ starred: Type.Boolean() }, { additionalProperties: false }),
);
export const SessionRemoveRequested = defineEvent(
  "SessionRemoveRequested",
  1,
  Type.Object({}, { additionalProperties: false }),
);
export const SessionRemoved = defineEvent(
  "SessionRemoved",
  1,
  Type.Object({ message: Text }, { additionalProperties: false }),
);

export const RemoteEvents = [
  SessionAdded,
  SessionConnectRequested,
  SessionProgressed,
  SessionAsked,
  SessionAnswered,
  SessionConnected,
  TunnelStarted,
  TunnelExited,
  SessionFailed,
  SessionStopRequested,
  SessionStopped,
  SessionStarred,
  SessionRemoveRequested,
  SessionRemoved,
] as const;

export type RemoteEvent =
  | EventOf<typeof SessionAdded>
  | EventOf<typeof SessionConnectRequested>
  | EventOf<typeof SessionProgressed>
  | EventOf<typeof SessionAsked>
  | EventOf<typeof SessionAnswered>
  | EventOf<typeof SessionConnected>
  | EventOf<typeof TunnelStarted>
  | EventOf<typeof TunnelExited>
  | EventOf<typeof SessionFailed>
  | EventOf<typeof SessionStopRequested>
  | EventOf<typeof SessionStopped>
  | EventOf<typeof SessionStarred>
  | EventOf<typeof SessionRemoveRequested>
  | EventOf<typeof SessionRemoved>;

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.remote`)

/** Adds the target if it is new and connects it (the page's add field, `cocalc-plus ssh TARGET`). */
export const ConnectSession = defineCommand(
  "ConnectSession",
  Type.Object(
    {
      target: Target,
      options: Type.Optional(SessionOptionsSchema),
      mode: Type.Optional(Type.Partial(ConnectModeSchema)),
      /** Whoever connects can answer what ssh asks (see SessionConnectRequested). */
      interactive: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
export const StopSession = defineCommand(
  "StopSession",
  Type.Object({ sid: Sid }, { additionalProperties: false }),
);
export const RemoveSession = defineCommand(
  "RemoveSession",
  Type.Object({ sid: Sid }, { additionalProperties: false }),
);
export const StarSession = defineCommand(
  "StarSession",
  Type.Object({ sid: Sid, starred: Type.Boolean() }, { additionalProperties: false }),
);

export const RemoteCommands = [ConnectSession, StopSession, RemoveSession, StarSession] as const;

// ---------------------------------------------------------------------------------------------
// Requests (to `ws.<wsid>.req.remote`): never stored

export const RemoteRequestSchema = Type.Union([
  /** The answer to what ssh asked (absent: the person cancelled). */
  Type.Object(
    {
      op: Type.Literal("answer"),
      sid: Sid,
      ask: Type.String({ pattern: "^q[A-Za-z0-9_-]{8,40}$" }),
      answer: Type.Optional(Type.String({ maxLength: 4096 })),
    },
    { additionalProperties: false },
  ),
]);
export type RemoteRequest = Static<typeof RemoteRequestSchema>;

/** Prompts of ssh that ask for something secret (typed without echo). */
export function secretPrompt(prompt: string): boolean {
  return !/continue connecting|\(yes\/no/i.test(prompt);
}

// ---------------------------------------------------------------------------------------------
// The `remote-sessions` view: one value per session, key = sid.

export type SessionStatus =
  | "connecting"
  | "running"
  | "reconnecting"
  | "failed"
  | "stopping"
  | "stopped"
  | "removing";

export interface RemoteSessionView extends ShowsRejections {
  sid: string;
  target: string;
  status: SessionStatus;
  /** What the user asked for last: the supervisor works towards it. */
  desired: "running" | "stopped" | "removed";
  options: SessionOptions;
  mode: ConnectMode;
  starred: boolean;
  addedAt: string;
  lastUsed: string;
  updatedAt: string;
  /** The last progress step, e.g. "installing plus 0.1.0". */
  progress?: string;
  /** What ssh asks now, waiting for the person who connects. */
  ask?: { ask: string; prompt: string; secret: boolean; at: string };
  localPort?: number;
  remotePort?: number;
  remotePid?: number;
  remoteVersion?: string;
  localVersion?: string;
  /** Set when the remote runs another version than this plus. */
  versionMismatch?: boolean;
  remoteHome?: string;
  os?: string;
  arch?: string;
  tunnelPid?: number;
  tunnelRestarts: number;
  error?: {
    code: string;
    message: string;
    sshOutput?: string;
    at: string;
    /** Of a retried session: which attempt in a row failed, of how many before it gives up. */
    attempt?: number;
    maxAttempts?: number;
    /** When the next attempt is due (absent: none is; status "failed" waits for its person). */
    retryAt?: string;
  };
}
