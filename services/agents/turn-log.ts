/**
 * A turn's log (stream WS_AGENT_LOG): every ACP update and notice of the turn as an event on
 * its log subject, in order, so a browser that opens mid-turn replays from the first event.
 */
import { type TurnLogEvent, TurnLogEvents, type TurnStatus } from "../../shared/agents.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { publishEvent } from "../runtime/publish.js";
import type { ServiceContext } from "../runtime/service.js";
import type { LogData, TurnLogSink } from "./acp-client.js";
import { AGENTS_SERVICE } from "./threads.js";

export const turnLogRegistry = new EventRegistry<TurnLogEvent>(TurnLogEvents);

/** The largest update stored as is; bigger ones keep their kind and lose their content. */
const MAX_UPDATE_BYTES = 900 * 1024;

/** A session update as the log stores it. */
export function loggedUpdate(
  update: { sessionUpdate: string } & Record<string, unknown>,
): { sessionUpdate: string } & Record<string, unknown> {
  if (JSON.stringify(update).length > MAX_UPDATE_BYTES) {
    return { sessionUpdate: update.sessionUpdate, truncated: true };
  }
  return update;
}

/** A turn's log: events published in order, pipelined; close() waits for all of them. */
export class TurnLog implements TurnLogSink {
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  count = 0;
  /** Files the log has a FileWritten record of. */
  readonly written = new Set<string>();
  /** The turn ran a command (through the client, or a tool of the agent's of kind execute). */
  ranCommand = false;

  constructor(
    private readonly ctx: ServiceContext,
    readonly subject: string,
  ) {}

  append<T extends TurnLogEvent["type"]>(type: T, data: LogData<T>): void {
    if (this.closed) return;
    const ev = envelope({ type, v: 1 }, data, { actor: AGENTS_SERVICE, at: new Date() });
    try {
      turnLogRegistry.check(ev);
    } catch (err) {
      this.ctx.log.warn({ type, err }, "turn log event not valid; skipped");
      return;
    }
    this.count++;
    if (type === "FileWritten") this.written.add((data as { path: string }).path);
    if (type === "CommandStarted") this.ranCommand = true;
    if (type === "AgentUpdate") {
      const u = (data as { update: { sessionUpdate: string; kind?: unknown } }).update;
      if (u.sessionUpdate === "tool_call" && u.kind === "execute") this.ranCommand = true;
    }
    const p = publishEvent(this.ctx.js, this.subject, ev, { timeoutMs: 30_000 }).then(
      () => {
        this.inflight.delete(p);
      },
      (err: unknown) => {
        this.inflight.delete(p);
        this.ctx.log.warn({ subject: this.subject, err }, "turn log event lost");
      },
    );
    this.inflight.add(p);
  }

  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(status: TurnStatus): Promise<void> {
    await this.flush();
    this.append("LogClosed", { status });
    this.closed = true;
    await this.flush();
  }
}
