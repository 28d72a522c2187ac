/**
 * Port forwards of remote sessions: a forward carries one port across a session's SSH
 * connection, remote → local (`ssh -L`, a service on the remote reachable here) or
 * local → remote (`ssh -R`). Ids, port parsing, the events (stream REMOTE, under the
 * session), the commands of the forwards service and the `port-forwards` view. Pure.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";

export const ForwardDirections = ["remote-to-local", "local-to-remote"] as const;
/** remote-to-local: listen here, connect there (`-L`); local-to-remote: the reverse (`-R`). */
export type ForwardDirection = (typeof ForwardDirections)[number];

/** Parses a port given as a number or text; throws ERR_FORWARD_PORT with the reason. */
export function parsePort(value: unknown, what = "port"): number {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value : "";
  const t = text.trim();
  if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) {
    throw new CocalcError(
      "ERR_FORWARD_PORT",
      `the ${what} must be a whole number from 1 to 65535, not ${JSON.stringify(value ?? "")}`,
    );
  }
  return Number(t);
}

/** Parses a direction, also as `L`/`R` (ssh's flags); throws ERR_FORWARD_DIRECTION. */
export function parseDirection(value: unknown): ForwardDirection {
  if (value === undefined || value === "" || value === "L" || value === "remote-to-local")
    return "remote-to-local";
  if (value === "R" || value === "local-to-remote") return "local-to-remote";
  throw new CocalcError(
    "ERR_FORWARD_DIRECTION",
    `the direction must be remote-to-local (ssh -L) or local-to-remote (ssh -R), not ${JSON.stringify(value)}`,
  );
}

/** The port a forward listens on: here for remote-to-local, on the remote for local-to-remote. */
export function listenPort(f: { direction: ForwardDirection; local: number; remote: number }) {
  return f.direction === "remote-to-local" ? f.local : f.remote;
}

/**
 * The id of a forward: its direction and listening port, then its session id, so the session
 * of a forward is read off its id (as with sync pairs) and one port is forwarded only once.
 */
export function forwardIdFor(
  sid: string,
  f: { direction: ForwardDirection; local: number; remote: number },
): string {
  return `f${f.direction === "remote-to-local" ? "l" : "r"}${listenPort(f)}${sid}`;
}

/** The session id a forward id ends with (see forwardIdFor). */
export function sessionIdOfForward(fid: string): string | undefined {
  return /^f[lr]\d{1,5}(s[A-Za-z0-9_-]+)$/.exec(fid)?.[1];
}

/** The ssh forwarding argument of a forward, both ends on loopback. */
export function sshForwardArgs(f: {
  direction: ForwardDirection;
  local: number;
  remote: number;
}): [string, string] {
  return f.direction === "remote-to-local"
    ? ["-L", `127.0.0.1:${f.local}:127.0.0.1:${f.remote}`]
    : ["-R", `127.0.0.1:${f.remote}:127.0.0.1:${f.local}`];
}

// ---------------------------------------------------------------------------------------------
// Events: the forward's settings on `remote.<sid>.forward.<fid>.cfg`, its process on `.run`

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Direction = Type.Union(ForwardDirections.map((d) => Type.Literal(d)));
const Name = Type.String({ maxLength: 100, pattern: "^[^\\u0000-\\u001f]*$" });
const Session = Type.String({ minLength: 1, maxLength: 300, pattern: "^[^\\s\\u0000]+$" });
const Pid = Type.Integer({ minimum: 1 });
const Count = Type.Integer({ minimum: 0 });
const Code = Type.String({ pattern: "^ERR_[A-Z]+_[A-Z_]+$" });
const Text = Type.String({ maxLength: 16 * 1024 });

/** A forward's settings as stored. */
export const ForwardConfigSchema = Type.Object(
  {
    /** The session's target, `user@host:port`. */
    session: Session,
    local: Port,
    remote: Port,
    direction: Direction,
    name: Type.Optional(Name),
  },
  { additionalProperties: false },
);
export type ForwardConfig = Static<typeof ForwardConfigSchema>;

export const ForwardAdded = defineEvent("ForwardAdded", 1, ForwardConfigSchema);
/** The forward is gone: its process stopped, the port closed. */
export const ForwardRemoved = defineEvent(
  "ForwardRemoved",
  1,
  Type.Object({ reason: Type.Optional(Text) }, { additionalProperties: false }),
);
/** Its ssh process was spawned; `restarts` counts the starts after the first. */
export const ForwardStarted = defineEvent(
  "ForwardStarted",
  1,
  Type.Object({ pid: Pid, restarts: Count }, { additionalProperties: false }),
);
/** ssh reported the forwarding in place: the port is open. */
export const ForwardUp = defineEvent(
  "ForwardUp",
  1,
  Type.Object({ pid: Pid, restarts: Count }, { additionalProperties: false }),
);
/** Its ssh process ended; with retryInMs it is restarted after that long, else it gave up. */
export const ForwardExited = defineEvent(
  "ForwardExited",
  1,
  Type.Object(
    {
      pid: Type.Optional(Pid),
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 20 }), Type.Null()]),
      error: Type.Optional(
        Type.Object({ code: Code, message: Text }, { additionalProperties: false }),
      ),
      retryInMs: Type.Optional(Count),
    },
    { additionalProperties: false },
  ),
);
/** The forward stopped on purpose: its session is not running (or plus stops). */
export const ForwardStopped = defineEvent(
  "ForwardStopped",
  1,
  Type.Object({ reason: Text }, { additionalProperties: false }),
);

export const ForwardConfigEvents = [ForwardAdded, ForwardRemoved] as const;
export const ForwardRunEvents = [ForwardStarted, ForwardUp, ForwardExited, ForwardStopped] as const;
export const ForwardEvents = [...ForwardConfigEvents, ...ForwardRunEvents] as const;

export type ForwardConfigEvent = EventOf<typeof ForwardAdded> | EventOf<typeof ForwardRemoved>;
export type ForwardRunEvent =
  | EventOf<typeof ForwardStarted>
  | EventOf<typeof ForwardUp>
  | EventOf<typeof ForwardExited>
  | EventOf<typeof ForwardStopped>;
export type ForwardEvent = ForwardConfigEvent | ForwardRunEvent;

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.forwards`)

/** Ports arrive as typed (numbers or text) and are checked by the service, with a clear error. */
const PortInput = Type.Union([Type.Integer(), Type.String({ maxLength: 20 })]);

export const AddForward = defineCommand(
  "AddForward",
  Type.Object(
    {
      session: Session,
      local: PortInput,
      /** Default: the same as local. */
      remote: Type.Optional(PortInput),
      /** Default: remote-to-local. */
      direction: Type.Optional(Type.String({ maxLength: 20 })),
      name: Type.Optional(Name),
    },
    { additionalProperties: false },
  ),
);
export const RemoveForward = defineCommand(
  "RemoveForward",
  Type.Object(
    {
      forward: Type.String({ pattern: "^f[lr]\\d{1,5}s[A-Za-z0-9_-]{1,400}$" }),
      reason: Type.Optional(Text),
    },
    { additionalProperties: false },
  ),
);
export const ForwardCommands = [AddForward, RemoveForward] as const;
export type AddForwardData = Static<typeof AddForward.schema>;

// ---------------------------------------------------------------------------------------------
// The `port-forwards` view (key `<fid>`)

export const ForwardStatuses = ["starting", "up", "restarting", "failed", "stopped"] as const;
export type ForwardStatus = (typeof ForwardStatuses)[number];

export interface ForwardView extends ForwardConfig, ShowsRejections {
  forward: string;
  sid: string;
  status: ForwardStatus;
  /** Starts after the first (a forward that died and was started again). */
  restarts: number;
  pid?: number;
  /** Why it stopped or died last. */
  error?: { code: string; message: string; at: string };
  /** Set while a restart is scheduled. */
  retryAt?: string;
  createdAt: string;
  updatedAt: string;
}

/** One line for a forward's ends: `localhost:8080 ← remote:80`. */
export function forwardSummary(f: Pick<ForwardView, "direction" | "local" | "remote">): string {
  return f.direction === "remote-to-local"
    ? `localhost:${f.local} ← remote:${f.remote}`
    : `localhost:${f.local} → remote:${f.remote}`;
}
