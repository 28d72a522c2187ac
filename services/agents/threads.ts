/**
 * The workspace's threads as the service itself changes them: a turn started or ended, a
 * session assigned, a revert recorded. One aggregate per thread on the WS_CHAT stream.
 */
import {
  type ThreadEvent,
  ThreadEvents,
  threadIdentifiers,
  workspaceThreadIdentifiers,
} from "../../shared/agents.js";
import { EventRegistry } from "../../shared/envelope.js";
import { ServiceNames } from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import type { ServiceContext } from "../runtime/service.js";
import {
  type ServiceCommand,
  type ThreadCommand,
  type ThreadDecided,
  type ThreadState,
  threadDecider,
} from "./decider.js";

export const AGENTS_SERVICE = ServiceNames.agents;
export const threadRegistry = new EventRegistry<ThreadEvent>(ThreadEvents);

type DataOf<T extends ServiceCommand["type"]> = Extract<ServiceCommand, { type: T }>["data"];

export class ServiceThreads {
  /** The threads' one store: the wire's commands and the runner's share its cache. */
  readonly store: AggregateStore<ThreadCommand, ThreadDecided, ThreadState>;

  constructor(private readonly ctx: ServiceContext) {
    this.store = new AggregateStore({
      js: ctx.js,
      jsm: ctx.jsm,
      log: ctx.log,
      stream: workspaceThreadIdentifiers(ctx.wsid).stream,
      registry: threadRegistry,
      events: ThreadEvents,
      decider: threadDecider,
    });
  }

  async state(room: string, thread: string): Promise<ThreadState> {
    return (await this.store.state(this.subject(room, thread))).state;
  }

  /** Decides one of the service's own commands on the thread; returns the thread's new state. */
  async execute<T extends ServiceCommand["type"]>(
    room: string,
    thread: string,
    type: T,
    data: DataOf<T>,
    /** Whose change it is (default: the service's own). */
    actor: string = AGENTS_SERVICE,
  ): Promise<ThreadState> {
    const command = {
      type,
      data,
      actor,
      at: this.ctx.now().toISOString(),
    } as ThreadCommand;
    return (await this.store.execute(this.subject(room, thread), command)).state;
  }

  private subject(room: string, thread: string): string {
    return threadIdentifiers(this.ctx.wsid, room, thread).subject;
  }
}
