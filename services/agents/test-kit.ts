/**
 * Driving agent threads from Node the way the browser does: commands, requests, the turn
 * views, and replaying a turn's log with an ordered consumer. For tests and benchmarks.
 */
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type AgentRequest,
  type ThreadView,
  type TurnLogEvent,
  type TurnView,
  threadIdentifiers,
  turnIdentifiers,
} from "../../shared/agents.js";
import { commandReply, type Reply, requestReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import type { StoredEvent } from "../../shared/envelope.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { type LogSnapshot, parseLogSnapshot } from "../../shared/turn-log-model.js";
import { turnLogRegistry } from "./turn-log.js";

/** Sends an agents command; `data` as a string is the whole request, sent as it is. */
export function agentCommand(
  nc: NatsConnection,
  wsid: string,
  type: string,
  data: unknown,
): Promise<CommandReply> {
  return commandReply(
    nc,
    workspaceSubjects(wsid).command(ServiceNames.agents),
    typeof data === "string" ? data : { type, data },
    { timeoutMs: 20_000 },
  );
}

export function agentRequest<T = unknown>(
  nc: NatsConnection,
  wsid: string,
  request: AgentRequest | string,
): Promise<Reply<{ result: T }>> {
  return requestReply(nc, workspaceSubjects(wsid).request(ServiceNames.agents), request, {
    timeoutMs: 20_000,
  });
}

/** `domain`: the JetStream domain of the workspace's views (a launchpad host's, from its hub). */
export async function turnView(
  nc: NatsConnection,
  wsid: string,
  thread: string,
  turn: string,
  domain?: string,
): Promise<TurnView | undefined> {
  const ids = turnIdentifiers(wsid, thread, turn);
  // By subject (direct get): also what the browser's NATS user may do.
  const kv = await new Kvm(jetstream(nc, domain ? { domain } : {})).open(ids.bucket, {
    allow_direct: true,
  });
  const e = await kv.get(ids.key);
  return e && e.operation === "PUT" && e.length > 0 ? e.json<TurnView>() : undefined;
}

export async function threadView(
  nc: NatsConnection,
  wsid: string,
  room: string,
  thread: string,
  domain?: string,
): Promise<ThreadView | undefined> {
  const ids = threadIdentifiers(wsid, room, thread);
  // By subject (direct get): also what the browser's NATS user may do.
  const kv = await new Kvm(jetstream(nc, domain ? { domain } : {})).open(ids.bucket, {
    allow_direct: true,
  });
  const e = await kv.get(ids.key);
  return e && e.operation === "PUT" && e.length > 0 ? e.json<ThreadView>() : undefined;
}

/**
 * Follows a turn's log from its first event until LogClosed (or `stop`): what a browser
 * does when it opens a turn, whenever that is.
 */
export async function followLog(
  nc: NatsConnection,
  wsid: string,
  thread: string,
  turn: string,
  onEvent?: (e: StoredEvent<TurnLogEvent>) => void,
  timeoutMs = 60_000,
  domain?: string,
): Promise<StoredEvent<TurnLogEvent>[]> {
  const ids = turnIdentifiers(wsid, thread, turn);
  const consumer = await jetstream(nc, domain ? { domain } : {}).consumers.get(ids.logStream, {
    filter_subjects: ids.logSubject,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume({ max_messages: 1000 });
  const timer = setTimeout(() => messages.stop(), timeoutMs);
  const out: StoredEvent<TurnLogEvent>[] = [];
  try {
    for await (const m of messages) {
      const e: StoredEvent<TurnLogEvent> = {
        event: turnLogRegistry.parse(m.data),
        seq: m.seq,
        subject: m.subject,
        time: "",
      };
      out.push(e);
      onEvent?.(e);
      if (e.event.type === "LogClosed") break;
    }
  } finally {
    clearTimeout(timer);
    messages.stop();
  }
  return out;
}

/** A closed turn's snapshot (view `turn-logs`), once the agents service has stored it. */
export async function logSnapshot(
  nc: NatsConnection,
  wsid: string,
  thread: string,
  turn: string,
): Promise<LogSnapshot | undefined> {
  const ids = turnIdentifiers(wsid, thread, turn);
  const e = await (await new Kvm(nc).open(ids.snapshotBucket)).get(ids.snapshotKey);
  return e?.operation === "PUT" && e.length > 0 ? parseLogSnapshot(e.string()) : undefined;
}

/** The text of the agent's messages in a log. */
export function messagesOf(events: readonly StoredEvent<TurnLogEvent>[]): string {
  return events
    .map(({ event: e }) => {
      if (e.type !== "AgentUpdate") return "";
      const u = e.data.update as {
        sessionUpdate: string;
        content?: { type: string; text?: string };
      };
      return u.sessionUpdate === "agent_message_chunk" && u.content?.type === "text"
        ? (u.content.text ?? "")
        : "";
    })
    .join("");
}
