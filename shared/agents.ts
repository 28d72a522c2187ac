/**
 * Agent chat: chat rooms (`.chat` files), threads and turns. The thread's events (settings,
 * turns, its agent session) live on the thread's subject in WS_CHAT; what the agent does
 * during a turn goes to the turn's own log subject in WS_AGENT_LOG, which can be discarded
 * without touching the chat. threadIdentifiers/turnIdentifiers are the only way to name them.
 */
import { type Static, Type } from "@sinclair/typebox";
import { ScheduleSchema, type ThreadSchedule } from "./agent-schedule.js";
import { bytesToBase64url, randomId } from "./base64url.js";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { CocalcError } from "./errors.js";
import type { ShowsRejections } from "./rejections.js";
import { sha256 } from "./sha256.js";
import { agentSubjects, Buckets, Keys, Streams } from "./subjects.js";
import { type AgentMode, AgentModes } from "./workspace.js";

export { type AgentMode, AgentModes };

/** Largest prompt, in characters. */
export const MAX_PROMPT_CHARS = 100_000;
/** Most images one prompt may carry. */
export const MAX_PROMPT_IMAGES = 16;
/** A running turn writes a heartbeat into its view this often. */
export const TURN_HEARTBEAT_MS = 3000;
/** A running turn without a heartbeat for this long is shown as stalled. */
export const TURN_STALLED_MS = 4 * TURN_HEARTBEAT_MS;
/** A permission request not answered in this time is cancelled (the agent is told). */
export const PERMISSION_TIMEOUT_MS = 5 * 60_000;
/** What a file write records of the file before and after, at most (each side). */
export const MAX_RECORDED_FILE = 256 * 1024;

const ID = "^[A-Za-z0-9_-]{8,64}$";
const AbsolutePath = Type.String({ pattern: "^/[^\\u0000]*$", maxLength: 4096 });

/** A chat room is a `.chat` file: the same path, the same room. */
export function roomIdForPath(path: string): string {
  return `r${bytesToBase64url(sha256(path)).slice(0, 22)}`;
}

export function newThreadId(): string {
  return `h${randomId()}`;
}

export function newTurnId(): string {
  return `u${randomId()}`;
}

/** The turn of a schedule's run at `due`: the same run is the same turn, however often sent. */
export function scheduledTurnId(thread: string, due: string): string {
  return `u${bytesToBase64url(sha256(`${thread} ${due}`)).slice(0, 22)}`;
}

/** True for an id of a room, thread or turn. */
export function isAgentId(id: string): boolean {
  return new RegExp(ID).test(id);
}

/** The identifiers of one thread: its event subject and its view. */
export function threadIdentifiers(wsid: string, room: string, thread: string) {
  const s = agentSubjects(wsid);
  return {
    stream: Streams.WS_CHAT,
    subject: s.thread(room, thread),
    bucket: Buckets.threads,
    key: Keys.thread(wsid, room, thread),
    turnsBucket: Buckets.turns,
    turnsFilter: Keys.threadTurns(wsid, thread),
    logsFilter: s.threadLogs(thread),
  } as const;
}

/**
 * Every identifier of one turn: the log (stream, subject) its agent updates go to and its
 * view (bucket, key). Backend and browser both call this; nothing else builds them.
 */
export function turnIdentifiers(wsid: string, thread: string, turn: string) {
  return {
    logStream: Streams.WS_AGENT_LOG,
    logSubject: agentSubjects(wsid).turnLog(thread, turn),
    bucket: Buckets.turns,
    key: Keys.turn(wsid, thread, turn),
    /** The log folded once it is closed (LogSnapshot), read instead of replaying it. */
    snapshotBucket: Buckets.turnLogs,
    snapshotKey: Keys.turnLog(wsid, thread, turn),
  } as const;
}

/** The identifiers of a chat room: its threads in the `threads` view. */
export function roomIdentifiers(wsid: string, room: string) {
  return {
    stream: Streams.WS_CHAT,
    bucket: Buckets.threads,
    filter: Keys.roomThreads(wsid, room),
  } as const;
}

/** Every thread of a workspace: its subjects (the durable consumer's filter) and view keys. */
export function workspaceThreadIdentifiers(wsid: string) {
  return {
    stream: Streams.WS_CHAT,
    subjects: agentSubjects(wsid).threads,
    bucket: Buckets.threads,
    keys: Keys.workspaceThreads(wsid),
  } as const;
}

// ---------------------------------------------------------------------------------------------
// Thread settings

/** Agents the service knows how to find; "custom" runs the thread's own command. */
export const AgentKinds = ["codex", "claude", "custom"] as const;
export type AgentKind = (typeof AgentKinds)[number];

export const EnvName = "^[A-Za-z_][A-Za-z0-9_]{0,99}$";

export const ThreadSettingsSchema = Type.Object(
  {
    agent: Type.Union(AgentKinds.map((k) => Type.Literal(k))),
    /** The command line of a custom agent (split like a shell would, without expansions). */
    command: Type.String({ maxLength: 2000 }),
    model: Type.String({ maxLength: 200 }),
    mode: Type.Union(AgentModes.map((m) => Type.Literal(m))),
    /** Working directory of the agent session (absolute). */
    cwd: AbsolutePath,
    /** Extra environment of the agent process (kept in the thread's history: no secrets). */
    env: Type.Record(Type.String({ pattern: EnvName }), Type.String({ maxLength: 10_000 }), {
      maxProperties: 50,
    }),
    /**
     * Outside full access: whether the agent and its commands use this machine's network
     * (loopback and local network included). Without it (absent: without) they have a
     * network namespace of their own, and only the agent reaches the internet, through
     * plus's egress proxy (public addresses only).
     */
    network: Type.Optional(Type.Boolean()),
    /** The agent's session mode (ACP session/set_mode), one it advertised. */
    sessionMode: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** Values of the agent's session config options (ACP session/set_config_option), by id. */
    options: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 200 }), Type.String({ maxLength: 200 }), {
        maxProperties: 20,
      }),
    ),
  },
  { additionalProperties: false },
);
export type ThreadSettings = Static<typeof ThreadSettingsSchema>;

export const ThreadSettingsChangeSchema = Type.Partial(ThreadSettingsSchema, {
  additionalProperties: false,
  minProperties: 1,
});
export type ThreadSettingsChange = Static<typeof ThreadSettingsChangeSchema>;

/** Checks what a schema cannot: a custom agent needs a command. */
export function checkThreadSettings(s: ThreadSettings): ThreadSettings {
  if (s.agent === "custom" && splitCommand(s.command).length === 0) {
    throw new CocalcError("ERR_AGENT_SETTINGS", "a custom agent needs a command");
  }
  return s;
}

/** Names of environment variables that hold secrets by convention. */
export function looksLikeSecret(name: string): boolean {
  return /(_KEY|_TOKEN)$|SECRET|PASSWORD/i.test(name);
}

/**
 * Refuses secret-looking names in a thread's environment: its values are stored in the
 * thread's events in clear. Secrets belong in the API keys (a 0600 file, given to the agent
 * by environment as well). An empty value (which blanks an inherited variable) holds nothing.
 */
export function checkThreadEnv(env: Record<string, string>): void {
  const secret = Object.keys(env).filter((name) => env[name] !== "" && looksLikeSecret(name));
  if (secret.length === 0) return;
  const names = secret.join(", ");
  throw new CocalcError(
    "ERR_AGENT_ENV_SECRET",
    `${names} ${secret.length === 1 ? "looks" : "look"} like a secret: the thread's environment is stored in its history in clear; store ${secret.length === 1 ? "it" : "them"} as an API key instead (kept 0600 on this machine and given to the agent by environment)`,
  );
}

/** A command line as a shell would read it back: words quoted only where they need it. */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/**
 * Splits a command line into words: whitespace separates, single and double quotes group,
 * backslash escapes. Nothing is expanded (no variables, globs or `~`).
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new CocalcError("ERR_AGENT_SETTINGS", "the command has an unclosed quote");
  if (inWord) words.push(word);
  return words;
}

// ---------------------------------------------------------------------------------------------
// Thread events (on the thread's subject in WS_CHAT)

const TurnRef = Type.String({ pattern: ID });
/** A time as `Date.toISOString()` writes it. */
const Instant = Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$" });
const Prompt = Type.String({ maxLength: MAX_PROMPT_CHARS });
const Images = Type.Array(AbsolutePath, { maxItems: MAX_PROMPT_IMAGES });

export const ThreadCreated = defineEvent(
  "ThreadCreated",
  1,
  Type.Object(
    { title: Type.String({ minLength: 1, maxLength: 200 }), settings: ThreadSettingsSchema },
    { additionalProperties: false },
  ),
);
export const ThreadSettingsChanged = defineEvent(
  "ThreadSettingsChanged",
  1,
  Type.Object(
    {
      change: ThreadSettingsChangeSchema,
      title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
);
export const TurnSubmitted = defineEvent(
  "TurnSubmitted",
  1,
  Type.Object(
    {
      turn: TurnRef,
      /** 1 for the thread's first turn. */
      index: Type.Integer({ minimum: 1 }),
      prompt: Prompt,
      images: Images,
      /** Sent now: it stops this running turn and runs next, before the queue. */
      interrupts: Type.Optional(TurnRef),
      /**
       * A run of the thread's schedule: the run time it is for, and how many run times it
       * stands for (more than 1: runs missed while the service was down, run once).
       */
      scheduled: Type.Optional(
        Type.Object(
          { due: Instant, count: Type.Integer({ minimum: 1 }) },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
);
/** Submitted while another turn runs or waits: it runs when the ones before it are done. */
export const TurnQueued = defineEvent(
  "TurnQueued",
  1,
  Type.Object(
    { turn: TurnRef, ahead: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false },
  ),
);
export const TurnStarted = defineEvent(
  "TurnStarted",
  1,
  Type.Object({ turn: TurnRef }, { additionalProperties: false }),
);
/** The backend created (or, when the agent cannot load it, replaced) the thread's agent session. */
export const SessionAssigned = defineEvent(
  "SessionAssigned",
  1,
  Type.Object(
    {
      sessionId: Type.String({ minLength: 1, maxLength: 500 }),
      agent: Type.String({ maxLength: 200 }),
      /** The session this one replaces, which the agent could not load. */
      replaces: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
);
export const StopReasons = [
  "end_turn",
  "max_tokens",
  "max_turn_requests",
  "refusal",
  "cancelled",
] as const;
export type StopReason = (typeof StopReasons)[number];
export const TurnFinished = defineEvent(
  "TurnFinished",
  1,
  Type.Object(
    { turn: TurnRef, stopReason: Type.Union(StopReasons.map((r) => Type.Literal(r))) },
    { additionalProperties: false },
  ),
);
export const TurnFailed = defineEvent(
  "TurnFailed",
  1,
  Type.Object(
    {
      turn: TurnRef,
      code: Type.String({ pattern: "^ERR_[A-Z_]+$" }),
      reason: Type.String({ maxLength: 8000 }),
    },
    { additionalProperties: false },
  ),
);
/** Someone stopped the turn: a queued turn never runs, a running one is cancelled. */
export const TurnInterrupted = defineEvent(
  "TurnInterrupted",
  1,
  Type.Object({ turn: TurnRef }, { additionalProperties: false }),
);

/** Files a turn wrote were put back as they were before it (one file, or the whole turn). */
export const FilesReverted = defineEvent(
  "FilesReverted",
  1,
  Type.Object(
    {
      turn: TurnRef,
      /** In the order they were put back. */
      paths: Type.Array(AbsolutePath, { minItems: 1, maxItems: 10_000 }),
      /** The user confirmed reverting files that changed after the turn wrote them. */
      forced: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
);

/** The thread was put away (out of the room's list, kept), or taken back. */
export const ThreadArchived = defineEvent(
  "ThreadArchived",
  1,
  Type.Object({ archived: Type.Boolean() }, { additionalProperties: false }),
);
/**
 * The thread was deleted: its record, its turns and their logs are removed, and its events
 * with them (this one too, once the service has acted on it).
 */
export const ThreadDeleted = defineEvent(
  "ThreadDeleted",
  1,
  Type.Object({}, { additionalProperties: false }),
);

/** The thread's schedule was set, changed, paused or resumed (runs count from `since`). */
export const ScheduleSet = defineEvent(
  "ScheduleSet",
  1,
  Type.Object(
    {
      schedule: ScheduleSchema,
      since: Instant,
      /** Who set it: its runs are this account's turns. */
      by: Type.String({ minLength: 1, maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
);
export const ScheduleRemoved = defineEvent(
  "ScheduleRemoved",
  1,
  Type.Object({}, { additionalProperties: false }),
);
/**
 * A run time of the schedule passed without a turn: missed while the service was down (the
 * schedule says skip), or the schedule's previous run had not ended yet.
 */
export const ScheduledRunSkipped = defineEvent(
  "ScheduledRunSkipped",
  1,
  Type.Object(
    {
      due: Instant,
      count: Type.Integer({ minimum: 1 }),
      reason: Type.Union([Type.Literal("missed"), Type.Literal("busy")]),
    },
    { additionalProperties: false },
  ),
);

export const ThreadEvents = [
  ThreadCreated,
  ThreadSettingsChanged,
  ThreadArchived,
  ThreadDeleted,
  TurnSubmitted,
  TurnQueued,
  TurnStarted,
  SessionAssigned,
  TurnFinished,
  TurnFailed,
  TurnInterrupted,
  FilesReverted,
  ScheduleSet,
  ScheduleRemoved,
  ScheduledRunSkipped,
] as const;
export type ThreadEvent =
  | EventOf<typeof ThreadCreated>
  | EventOf<typeof ThreadSettingsChanged>
  | EventOf<typeof ThreadArchived>
  | EventOf<typeof ThreadDeleted>
  | EventOf<typeof TurnSubmitted>
  | EventOf<typeof TurnQueued>
  | EventOf<typeof TurnStarted>
  | EventOf<typeof SessionAssigned>
  | EventOf<typeof TurnFinished>
  | EventOf<typeof TurnFailed>
  | EventOf<typeof TurnInterrupted>
  | EventOf<typeof FilesReverted>
  | EventOf<typeof ScheduleSet>
  | EventOf<typeof ScheduleRemoved>
  | EventOf<typeof ScheduledRunSkipped>;
export type ThreadEventType = ThreadEvent["type"];

// ---------------------------------------------------------------------------------------------
// Commands (to `ws.<wsid>.cmd.agents`)

const RoomRef = Type.String({ pattern: ID });
const ThreadRef = Type.String({ pattern: ID });

export const CreateThread = defineCommand(
  "CreateThread",
  Type.Object(
    {
      room: RoomRef,
      thread: ThreadRef,
      title: Type.String({ minLength: 1, maxLength: 200 }),
      settings: ThreadSettingsSchema,
    },
    { additionalProperties: false },
  ),
);
export const ChangeThreadSettings = defineCommand(
  "ChangeThreadSettings",
  Type.Object(
    {
      room: RoomRef,
      thread: ThreadRef,
      change: Type.Optional(ThreadSettingsChangeSchema),
      title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
);
export const SubmitTurn = defineCommand(
  "SubmitTurn",
  Type.Object(
    {
      room: RoomRef,
      thread: ThreadRef,
      /** Chosen by the client, so a retried submit is the same turn. */
      turn: TurnRef,
      prompt: Prompt,
      images: Type.Optional(Images),
      /**
       * Send now: while a turn runs, it is stopped (ACP cancel) and this one runs next, before
       * the queue. ACP has no way to add a prompt to a running turn.
       */
      now: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
export const InterruptTurn = defineCommand(
  "InterruptTurn",
  Type.Object({ room: RoomRef, thread: ThreadRef, turn: TurnRef }, { additionalProperties: false }),
);
export const ArchiveThread = defineCommand(
  "ArchiveThread",
  Type.Object(
    { room: RoomRef, thread: ThreadRef, archived: Type.Boolean() },
    { additionalProperties: false },
  ),
);
/** Refused while a turn of the thread runs or waits: it is stopped first. */
export const DeleteThread = defineCommand(
  "DeleteThread",
  Type.Object({ room: RoomRef, thread: ThreadRef }, { additionalProperties: false }),
);
/** Sets (replaces) the thread's schedule; pausing and resuming set it too. */
export const SetSchedule = defineCommand(
  "SetSchedule",
  Type.Object(
    { room: RoomRef, thread: ThreadRef, schedule: ScheduleSchema },
    { additionalProperties: false },
  ),
);
export const RemoveSchedule = defineCommand(
  "RemoveSchedule",
  Type.Object({ room: RoomRef, thread: ThreadRef }, { additionalProperties: false }),
);
export const ThreadCommands = [
  CreateThread,
  ChangeThreadSettings,
  ArchiveThread,
  DeleteThread,
  SubmitTurn,
  InterruptTurn,
  SetSchedule,
  RemoveSchedule,
] as const;

// ---------------------------------------------------------------------------------------------
// Views

/** The `threads` view (key `<wsid>.<room>.<thread>`). */
export interface ThreadView extends ShowsRejections {
  wsid: string;
  room: string;
  thread: string;
  title: string;
  settings: ThreadSettings;
  /** The agent session, once the backend has one. */
  sessionId?: string;
  /** The running turn. */
  running?: string;
  /** Turns waiting, in the order they run. */
  queue: string[];
  turnCount: number;
  createdAt: string;
  updatedAt: string;
  /** Put away: listed under "Archived" only. */
  archived?: true;
  /** How the thread's agent can be signed in to (live: told by its last initialize). */
  auth?: AgentAuth;
  /** The interactive sign-in that runs or ran last (live). */
  signIn?: AgentSignIn;
  /** What the agent's session offers: modes, config options, slash commands (live). */
  session?: AgentSessionInfo;
  /** The thread's scheduled prompt. */
  schedule?: ScheduleView;
}

/** A thread's schedule in its view: when it runs next and how its last run time went. */
export interface ScheduleView extends ThreadSchedule {
  /** None while paused. */
  next?: string;
  last?: { due: string; count: number; turn?: string; skipped?: "missed" | "busy" };
}

/** A session's modes, config options and commands, as the agent last told them. */
export interface AgentSessionInfo {
  modes?: { current: string; available: { id: string; name: string; description?: string }[] };
  options?: {
    id: string;
    name: string;
    description?: string;
    category?: string;
    current: string;
    values: { value: string; name: string; description?: string }[];
  }[];
  commands?: { name: string; description: string; hint?: string }[];
}

/** One way to sign in to an agent, as its `initialize` answer offers it. */
export interface AgentAuthMethod {
  id: string;
  name: string;
  description?: string;
  /**
   * key: the agent reads API keys from these environment variables (plus authenticates with
   * it when they are stored); agent: the agent runs its own flow (a browser sign-in);
   * terminal: a command the user runs in a terminal.
   */
  kind: "key" | "agent" | "terminal";
  vars?: string[];
  /** The terminal method's command line. */
  command?: string[];
}

/** What the thread's agent offers for signing in, and which way the last process used. */
export interface AgentAuth {
  agent: string;
  methods: AgentAuthMethod[];
  /** The key method plus authenticated with (none: the agent was not asked). */
  using?: string;
}

/** An interactive sign-in of the thread's agent. */
export interface AgentSignIn {
  method: string;
  status: "starting" | "waiting" | "signed-in" | "failed";
  /** Where the user signs in (the agent asked to open it). */
  url?: string;
  reason?: string;
  at: string;
}

export const TurnStatuses = [
  "starting",
  "queued",
  "running",
  "finished",
  "failed",
  "cancelled",
] as const;
export type TurnStatus = (typeof TurnStatuses)[number];

/** True when a turn can change no more. */
export function turnEnded(status: TurnStatus): boolean {
  return status === "finished" || status === "failed" || status === "cancelled";
}

/** The `turns` view (key `<wsid>.<thread>.<turn>`). */
export interface TurnView {
  wsid: string;
  room: string;
  thread: string;
  turn: string;
  index: number;
  prompt: string;
  images: string[];
  /** Sent now: the running turn it stopped. */
  interrupts?: string;
  /** A run of the thread's schedule: its run time, and how many run times it stands for. */
  scheduled?: { due: string; count: number };
  status: TurnStatus;
  /** Stop was asked for and the agent was told; it ends soon. */
  stopping?: boolean;
  stopReason?: StopReason;
  failure?: { code: string; reason: string };
  submittedAt: string;
  /**
   * Who submitted it: a launchpad account (a hosted workspace: its agent gets that account's
   * API keys), or "user" (plus, or a host's own client).
   */
  by?: string;
  startedAt?: string;
  endedAt?: string;
  /** Live fields the service writes while the turn runs. */
  heartbeatAt?: string;
  usage?: { used: number; size: number };
  /** Files of this turn that were reverted since. */
  reverted?: string[];
}

// ---------------------------------------------------------------------------------------------
// The turn log (on the turn's log subject in WS_AGENT_LOG)

/** One ACP `session/update`, as the agent sent it. */
export const AgentUpdate = defineEvent(
  "AgentUpdate",
  1,
  Type.Object(
    {
      update: Type.Object(
        { sessionUpdate: Type.String({ maxLength: 100 }) },
        { additionalProperties: true },
      ),
    },
    { additionalProperties: false },
  ),
);
/** The agent wrote a file (through the client, or with its own tool): for the diff and a revert. */
export const FileWritten = defineEvent(
  "FileWritten",
  1,
  Type.Object(
    {
      path: AbsolutePath,
      /** null: the file did not exist. */
      before: Type.Union([Type.String(), Type.Null()]),
      after: Type.String(),
      /** Too big to record whole: before/after are cut, a revert is not offered. */
      truncated: Type.Boolean(),
      /**
       * The agent wrote it with a tool of its own and reported the tool call's diff: the
       * record is what the file held after that tool call and before it by the diff.
       */
      toolCallId: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
      /**
       * Not reported by the agent: the turn's working directory was looked at before and
       * after the turn (a command it ran changed the file).
       */
      byCommand: Type.Optional(Type.Boolean()),
      /** The turn deleted it (`after` is empty): a revert writes `before` back. */
      deleted: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);
/** Most untracked changes one event lists. */
export const MAX_UNTRACKED_LISTED = 500;
/**
 * Files the turn changed that it has no record of the content of (too large, binary, or
 * past what was kept): listed so the page can say "Revert this turn" leaves them as they are.
 */
export const FilesChangedUntracked = defineEvent(
  "FilesChangedUntracked",
  1,
  Type.Object(
    {
      files: Type.Array(
        Type.Object(
          {
            path: AbsolutePath,
            change: Type.Union([
              Type.Literal("created"),
              Type.Literal("modified"),
              Type.Literal("deleted"),
            ]),
            why: Type.Union([
              Type.Literal("too-large"),
              Type.Literal("binary"),
              Type.Literal("not-kept"),
            ]),
          },
          { additionalProperties: false },
        ),
        { maxItems: MAX_UNTRACKED_LISTED },
      ),
      /** Changes not listed (past MAX_UNTRACKED_LISTED). */
      more: Type.Integer({ minimum: 0 }),
      /** The working directory was too big to look at whole: changes further on are not seen. */
      partial: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
);
export const Sandboxes = ["none", "bwrap", "bwrap-read-only", "container"] as const;
export const CommandStarted = defineEvent(
  "CommandStarted",
  1,
  Type.Object(
    {
      terminalId: Type.String({ maxLength: 100 }),
      command: Type.String({ maxLength: 10_000 }),
      args: Type.Array(Type.String({ maxLength: 10_000 }), { maxItems: 1000 }),
      cwd: AbsolutePath,
      sandbox: Type.Union(Sandboxes.map((s) => Type.Literal(s))),
    },
    { additionalProperties: false },
  ),
);
export const CommandOutput = defineEvent(
  "CommandOutput",
  1,
  Type.Object(
    { terminalId: Type.String({ maxLength: 100 }), data: Type.String() },
    { additionalProperties: false },
  ),
);
export const CommandExited = defineEvent(
  "CommandExited",
  1,
  Type.Object(
    {
      terminalId: Type.String({ maxLength: 100 }),
      exitCode: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String({ maxLength: 20 }), Type.Null()]),
    },
    { additionalProperties: false },
  ),
);
export const PermissionOptionSchema = Type.Object(
  {
    optionId: Type.String({ maxLength: 200 }),
    name: Type.String({ maxLength: 500 }),
    kind: Type.String({ maxLength: 50 }),
  },
  { additionalProperties: false },
);
export const PermissionRequested = defineEvent(
  "PermissionRequested",
  1,
  Type.Object(
    {
      request: Type.String({ pattern: ID }),
      title: Type.String({ maxLength: 2000 }),
      toolCallId: Type.String({ maxLength: 200 }),
      options: Type.Array(PermissionOptionSchema, { maxItems: 20 }),
      timeoutMs: Type.Integer({ minimum: 0 }),
    },
    { additionalProperties: false },
  ),
);
export const PermissionAnswered = defineEvent(
  "PermissionAnswered",
  1,
  Type.Object(
    {
      request: Type.String({ pattern: ID }),
      /** The chosen option; absent: cancelled (timeout, or the turn ended). */
      optionId: Type.Optional(Type.String({ maxLength: 200 })),
      by: Type.Union([Type.Literal("user"), Type.Literal("timeout"), Type.Literal("turn-ended")]),
    },
    { additionalProperties: false },
  ),
);
/** Something the service says about the turn: the session loaded, stderr of the agent, a refusal. */
export const AgentNotice = defineEvent(
  "AgentNotice",
  1,
  Type.Object(
    {
      level: Type.Union([Type.Literal("info"), Type.Literal("warning"), Type.Literal("error")]),
      text: Type.String({ maxLength: 8000 }),
    },
    { additionalProperties: false },
  ),
);
/** The last event of a turn's log: nothing follows. */
export const LogClosed = defineEvent(
  "LogClosed",
  1,
  Type.Object(
    { status: Type.Union(TurnStatuses.map((s) => Type.Literal(s))) },
    { additionalProperties: false },
  ),
);

export const TurnLogEvents = [
  AgentUpdate,
  FileWritten,
  FilesChangedUntracked,
  CommandStarted,
  CommandOutput,
  CommandExited,
  PermissionRequested,
  PermissionAnswered,
  AgentNotice,
  LogClosed,
] as const;
export type TurnLogEvent =
  | EventOf<typeof AgentUpdate>
  | EventOf<typeof FileWritten>
  | EventOf<typeof FilesChangedUntracked>
  | EventOf<typeof CommandStarted>
  | EventOf<typeof CommandOutput>
  | EventOf<typeof CommandExited>
  | EventOf<typeof PermissionRequested>
  | EventOf<typeof PermissionAnswered>
  | EventOf<typeof AgentNotice>
  | EventOf<typeof LogClosed>;

// ---------------------------------------------------------------------------------------------
// Requests (to `ws.<wsid>.req.agents`): what is not an event of a thread

export const AgentRequestSchema = Type.Union([
  Type.Object({ op: Type.Literal("detect") }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal("answer"),
      thread: ThreadRef,
      turn: TurnRef,
      request: Type.String({ pattern: ID }),
      optionId: Type.String({ minLength: 1, maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal("keys") }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal("setKey"),
      name: Type.String({ pattern: EnvName }),
      /** Empty removes the key. */
      value: Type.String({ maxLength: 10_000 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal("revert"),
      thread: ThreadRef,
      turn: TurnRef,
      path: AbsolutePath,
    },
    { additionalProperties: false },
  ),
  /** Runs the agent's own interactive sign-in (`method` from the thread's `auth`). */
  Type.Object(
    {
      op: Type.Literal("signIn"),
      room: RoomRef,
      thread: ThreadRef,
      method: Type.String({ minLength: 1, maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
  /**
   * The address the browser ended on after a sign-in (a localhost callback that did not load
   * because plus runs on another machine): plus opens it where the agent runs.
   */
  Type.Object(
    {
      op: Type.Literal("signInCallback"),
      room: RoomRef,
      thread: ThreadRef,
      url: Type.String({ minLength: 1, maxLength: 8192 }),
    },
    { additionalProperties: false },
  ),
  /** Ends the thread's running sign-in. */
  Type.Object(
    { op: Type.Literal("signInCancel"), room: RoomRef, thread: ThreadRef },
    { additionalProperties: false },
  ),
  /** Every file the turn wrote, newest write first; refused when one changed since, unless forced. */
  Type.Object(
    {
      op: Type.Literal("revertTurn"),
      thread: ThreadRef,
      turn: TurnRef,
      force: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);
export type AgentRequest = Static<typeof AgentRequestSchema>;

/** An agent the service found on this machine. */
export interface DetectedAgent {
  kind: AgentKind;
  name: string;
  command: string;
}

export interface AgentResults {
  detect: { agents: DetectedAgent[] };
  answer: { answered: true };
  /** Names of the stored API keys (never their values). */
  keys: { names: string[] };
  setKey: { names: string[] };
  revert: { reverted: true };
  /** The files put back, in that order. */
  revertTurn: { reverted: string[] };
  signIn: { started: true };
  /** What the agent's callback answered (its status and the start of its text). */
  signInCallback: { relayed: true; status: number; text: string };
  signInCancel: { cancelled: boolean };
}

/** Settings a new thread gets in directory `cwd` when nothing else is chosen. */
export function defaultThreadSettings(cwd: string): ThreadSettings {
  return {
    agent: "codex",
    command: "",
    model: "",
    mode: "workspace-write",
    cwd,
    env: {},
    network: false,
  };
}
