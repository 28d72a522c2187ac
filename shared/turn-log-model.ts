/**
 * What a turn's log means to a reader: its events folded into items in order (messages,
 * thoughts, plans, tool calls, commands with their output, file edits, permission requests,
 * notices). Pure: the turn store applies events with it, the export reuses it.
 */
import { shellQuote, type TurnLogEvent, type TurnStatus } from "./agents.js";

export interface PlanEntry {
  content: string;
  status: string;
  priority: string;
}

export type LogItem =
  | { kind: "message"; text: string }
  | { kind: "thought"; text: string }
  | { kind: "plan"; entries: PlanEntry[] }
  | {
      kind: "tool";
      id: string;
      title: string;
      toolKind: string;
      status: string;
      terminalId?: string;
      text?: string;
      /** The tool call's diff content: the edits the agent made (or proposes) with it. */
      diffs?: ToolDiff[];
      /** Its edits as recorded once it completed, whole files, by path: these can be reverted. */
      recorded?: Record<string, FileEdit>;
    }
  | {
      kind: "command";
      terminalId: string;
      command: string;
      args: string[];
      cwd: string;
      sandbox: string;
      output: string;
      exit?: { exitCode: number | null; signal: string | null };
    }
  | ({ kind: "file" } & FileEdit)
  | {
      kind: "permission";
      request: string;
      title: string;
      options: { optionId: string; name: string; kind: string }[];
      answer?: string;
      by?: string;
    }
  | { kind: "notice"; level: string; text: string }
  | {
      kind: "untracked";
      files: { path: string; change: string; why: string }[];
      more: number;
      partial: boolean;
    };

/** One diff of a tool call's content. */
export interface ToolDiff {
  path: string;
  oldText: string | null;
  newText: string;
}

/** A recorded write of a file: before (null: none) and after. */
export interface FileEdit {
  path: string;
  before: string | null;
  after: string;
  truncated: boolean;
  /** Found by looking at the working directory before and after the turn (a command did it). */
  byCommand?: boolean;
  deleted?: boolean;
}

/** Files of a turn that a revert can put back, in the order they were first written. */
export function revertableFiles(m: LogModel): string[] {
  return [
    ...new Set(
      m.items.flatMap((i) => {
        if (i.kind === "file") return i.truncated ? [] : [i.path];
        if (i.kind === "tool" && i.recorded)
          return Object.values(i.recorded).flatMap((e) => (e.truncated ? [] : [e.path]));
        return [];
      }),
    ),
  ];
}

function diffsOf(content: { type: string }[]): ToolDiff[] {
  return content.flatMap((c) => {
    const d = c as { type: string; path?: unknown; oldText?: unknown; newText?: unknown };
    if (d.type !== "diff" || typeof d.path !== "string" || typeof d.newText !== "string") return [];
    return [
      {
        path: d.path,
        oldText: typeof d.oldText === "string" ? d.oldText : null,
        newText: d.newText,
      },
    ];
  });
}

export interface LogModel {
  items: LogItem[];
  /** Where each tool call, command and permission request sits in items. */
  index: Record<string, number>;
  usage?: { used: number; size: number };
  closed?: TurnStatus;
  count: number;
}

export function emptyLog(): LogModel {
  return { items: [], index: {}, count: 0 };
}

/** Caps what one command's output keeps in the page: the end is where errors are. */
const MAX_OUTPUT = 200_000;

interface ContentBlockLike {
  type?: string;
  text?: string;
}

/** The text of an ACP content block as the log shows it. */
export function textOf(content: unknown): string {
  const c = content as ContentBlockLike | undefined;
  if (c?.type === "text") return c.text ?? "";
  if (c?.type === "image") return "[image]";
  if (c?.type === "resource_link") return `[${(content as { name?: string }).name ?? "link"}]`;
  return "";
}

/** Applies one event to the model, in place (inside a store's produce, or on a plain object). */
export function applyLogEvent(m: LogModel, e: TurnLogEvent): void {
  m.count++;
  const last = m.items[m.items.length - 1];
  switch (e.type) {
    case "AgentUpdate": {
      const u = e.data.update as Record<string, unknown> & { sessionUpdate: string };
      switch (u.sessionUpdate) {
        case "agent_message_chunk":
        case "agent_thought_chunk": {
          const kind = u.sessionUpdate === "agent_message_chunk" ? "message" : "thought";
          const text = textOf(u.content);
          if (last && last.kind === kind) last.text += text;
          else m.items.push({ kind, text });
          return;
        }
        case "plan": {
          const entries = ((u.entries as PlanEntry[] | undefined) ?? []).map((x) => ({
            content: String(x.content),
            status: String(x.status),
            priority: String(x.priority),
          }));
          // A plan replaces the one before when nothing came in between.
          if (last && last.kind === "plan") last.entries = entries;
          else m.items.push({ kind: "plan", entries });
          return;
        }
        case "tool_call":
        case "tool_call_update": {
          const id = String(u.toolCallId);
          const content =
            (u.content as { type: string; terminalId?: string; content?: unknown }[] | undefined) ??
            [];
          const terminalId = content.find((c) => c.type === "terminal")?.terminalId;
          const text = content
            .filter((c) => c.type === "content")
            .map((c) => textOf(c.content))
            .join("");
          const diffs = diffsOf(content);
          const at = m.index[`tool:${id}`];
          const existing = at !== undefined ? m.items[at] : undefined;
          if (existing && existing.kind === "tool") {
            if (typeof u.title === "string") existing.title = u.title;
            if (typeof u.status === "string") existing.status = u.status;
            if (typeof u.kind === "string") existing.toolKind = u.kind;
            if (terminalId) existing.terminalId = terminalId;
            if (text) existing.text = text;
            if (diffs.length > 0) existing.diffs = diffs;
            return;
          }
          m.index[`tool:${id}`] = m.items.length;
          m.items.push({
            kind: "tool",
            id,
            title: typeof u.title === "string" ? u.title : id,
            toolKind: typeof u.kind === "string" ? u.kind : "other",
            status: typeof u.status === "string" ? u.status : "pending",
            ...(terminalId !== undefined && { terminalId }),
            ...(text && { text }),
            ...(diffs.length > 0 && { diffs }),
          });
          return;
        }
        case "usage_update":
          m.usage = { used: Number(u.used), size: Number(u.size) };
          return;
        default:
          return;
      }
    }
    case "CommandStarted":
      m.index[`term:${e.data.terminalId}`] = m.items.length;
      m.items.push({ kind: "command", ...e.data, output: "" });
      return;
    case "CommandOutput": {
      const at = m.index[`term:${e.data.terminalId}`];
      const item = at !== undefined ? m.items[at] : undefined;
      if (item?.kind === "command") {
        item.output += e.data.data;
        if (item.output.length > MAX_OUTPUT) item.output = item.output.slice(-MAX_OUTPUT);
      }
      return;
    }
    case "CommandExited": {
      const at = m.index[`term:${e.data.terminalId}`];
      const item = at !== undefined ? m.items[at] : undefined;
      if (item?.kind === "command")
        item.exit = { exitCode: e.data.exitCode, signal: e.data.signal };
      return;
    }
    case "FileWritten": {
      const { toolCallId, ...edit } = e.data;
      if (edit.byCommand) {
        m.items.push({ kind: "file", ...edit });
        return;
      }
      // An edit made with the agent's own tool belongs to that tool call's diff.
      // A write through the client that a tool call's diff announced belongs there too.
      const at =
        toolCallId !== undefined
          ? m.index[`tool:${toolCallId}`]
          : m.items.findLastIndex(
              (i) =>
                i.kind === "tool" &&
                !i.recorded?.[edit.path] &&
                i.diffs?.some((d) => d.path === edit.path) === true,
            );
      const tool = at !== undefined && at >= 0 ? m.items[at] : undefined;
      if (tool?.kind === "tool") {
        tool.recorded = { ...tool.recorded, [edit.path]: edit };
        return;
      }
      m.items.push({ kind: "file", ...edit });
      return;
    }
    case "PermissionRequested":
      m.index[`perm:${e.data.request}`] = m.items.length;
      m.items.push({
        kind: "permission",
        request: e.data.request,
        title: e.data.title,
        options: e.data.options,
      });
      return;
    case "PermissionAnswered": {
      const at = m.index[`perm:${e.data.request}`];
      const item = at !== undefined ? m.items[at] : undefined;
      if (item?.kind === "permission") {
        item.answer = e.data.optionId ?? "cancelled";
        item.by = e.data.by;
      }
      return;
    }
    case "AgentNotice":
      m.items.push({ kind: "notice", level: e.data.level, text: e.data.text });
      return;
    case "FilesChangedUntracked":
      m.items.push({ kind: "untracked", ...e.data });
      return;
    case "LogClosed":
      m.closed = e.data.status;
      return;
    default: {
      const never: never = e;
      throw new Error(`unhandled log event ${(never as { type: string }).type}`);
    }
  }
}

/** The final answer: every message chunk of the turn, in order. */
export function answerOf(m: LogModel): string {
  return m.items
    .filter((i): i is Extract<LogItem, { kind: "message" }> => i.kind === "message")
    .map((i) => i.text)
    .join("\n\n");
}

/** A turn as markdown, for the thread export. */
export function turnMarkdown(
  prompt: string,
  index: number,
  status: string,
  m: LogModel,
  withThinking: boolean,
): string {
  const out: string[] = [`## Turn ${index}`, "", "**Prompt**", "", prompt, ""];
  for (const item of m.items) {
    switch (item.kind) {
      case "message":
        out.push(item.text, "");
        break;
      case "thought":
        if (withThinking) out.push(...item.text.split("\n").map((l) => `> ${l}`), "");
        break;
      case "plan":
        out.push(
          ...item.entries.map((e) => `- [${e.status === "completed" ? "x" : " "}] ${e.content}`),
          "",
        );
        break;
      case "tool":
        out.push(`*${item.toolKind}: ${item.title} (${item.status})*`, "");
        break;
      case "command":
        out.push(
          "```console",
          `$ ${shellQuote([item.command, ...item.args])}`,
          item.output.trimEnd(),
          "```",
          "",
        );
        break;
      case "file":
        out.push(`*wrote ${item.path}*`, "");
        break;
      case "permission":
        out.push(`*asked: ${item.title} → ${item.answer ?? "unanswered"}*`, "");
        break;
      case "notice":
        out.push(`*${item.level}: ${item.text}*`, "");
        break;
    }
  }
  out.push(`*${status}*`, "");
  return out.join("\n");
}

/**
 * A closed turn's log folded (view `turn-logs`): a tab shows the turn from it in one read
 * instead of replaying every update. `seq` is the stream sequence of the log's LogClosed.
 */
export interface LogSnapshot {
  v: 1;
  seq: number;
  model: LogModel;
}

/** Largest snapshot stored (values of `turn-logs` are at most 1 MiB with their headers). */
export const MAX_LOG_SNAPSHOT_BYTES = 1024 * 1024 - 16 * 1024;

/** The snapshot in `text`, or undefined when it is not one (then the log is replayed). */
export function parseLogSnapshot(text: string): LogSnapshot | undefined {
  let s: Partial<LogSnapshot> | undefined;
  try {
    s = JSON.parse(text) as Partial<LogSnapshot>;
  } catch {
    return undefined;
  }
  const m = s?.model;
  if (
    s?.v !== 1 ||
    typeof s.seq !== "number" ||
    typeof m !== "object" ||
    m === null ||
    !Array.isArray(m.items) ||
    typeof m.index !== "object" ||
    m.index === null ||
    typeof m.count !== "number" ||
    m.closed === undefined
  )
    return undefined;
  return s as LogSnapshot;
}
