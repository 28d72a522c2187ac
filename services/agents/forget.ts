/**
 * What a deleted thread leaves goes: its agent process, its turns' records, their logs (every
 * update, diff and command output an agent sent) and their snapshots, and the thread's own events, the
 * ThreadDeleted just acted on among them. Run by the service once it has projected that event,
 * so the views are already without the thread when its history is purged.
 */
import type { KV } from "@nats-io/kv";
import { threadIdentifiers } from "../../shared/agents.js";
import { Streams } from "../../shared/subjects.js";
import type { ServiceContext } from "../runtime/service.js";
import type { AgentPool } from "./pool.js";
import { snapshotsStored } from "./turn-log.js";

export async function forgetThread(
  o: { ctx: ServiceContext; turns: KV; turnLogs: KV; pool: AgentPool },
  room: string,
  thread: string,
): Promise<void> {
  const ids = threadIdentifiers(o.ctx.wsid, room, thread);
  await o.pool.forget(thread);
  const keys: string[] = [];
  for await (const key of await o.turns.keys(ids.turnsFilter)) keys.push(key);
  for (const key of keys) await o.turns.purge(key);
  await snapshotsStored(o.ctx.wsid, thread);
  const snapshots: string[] = [];
  for await (const key of await o.turnLogs.keys(ids.turnsFilter)) snapshots.push(key);
  for (const key of snapshots) await o.turnLogs.purge(key);
  await o.ctx.jsm.streams.purge(Streams.WS_AGENT_LOG, { filter: ids.logsFilter });
  await o.ctx.jsm.streams.purge(ids.stream, { filter: ids.subject });
  o.ctx.log.info({ room, thread, turns: keys.length }, "thread deleted");
}
