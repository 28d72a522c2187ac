/**
 * Serves a service's commands over NATS: parse, run them through the aggregate's command path
 * (aggregate.ts: fold, decide, publish with the expected sequence), reply.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type Command,
  type CommandDefinition,
  type CommandReply,
  parseCommand,
} from "../../shared/commands.js";
import type { DecidedEvent } from "../../shared/decider.js";
import { toErrorPayload } from "../../shared/errors.js";
import type { AggregateStore } from "./aggregate.js";
import { callerAccount } from "./caller.js";
import type { Logger } from "./logger.js";
import type { RunningService } from "./service.js";
import { refuseWhenStoreFull, replyConnection } from "./store-watch.js";

export interface CommandServerOptions<C extends Command, E extends DecidedEvent, S> {
  /** Rewrites an error answer's message (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  nc: NatsConnection;
  log: Logger;
  /** The request subject. */
  subject: string;
  commands: readonly CommandDefinition[];
  /** The aggregates the commands are about. */
  store: AggregateStore<C, E, S>;
  /** The subject holding the events of the aggregate a command is about. */
  aggregateSubject(command: C): string;
  now(): Date;
  /** Checks a command against the world outside the events (e.g. a port in use); throws to refuse. */
  check?(command: C): Promise<void>;
}

/** A command handled for this long is logged (the ones after it wait meanwhile). */
const SLOW_COMMAND_MS = 2000;

/** Serves commands until stopped. Each command is handled to the end before the next. */
export function serveCommands<C extends Command, E extends DecidedEvent, S>(
  o: CommandServerOptions<C, E, S>,
): RunningService {
  const sub: Subscription = o.nc.subscribe(o.subject, { queue: o.subject });
  const reply = (m: Msg, r: CommandReply) => {
    if (m.reply) replyConnection(o.nc).publish(m.reply, JSON.stringify(r));
  };
  const done = (async () => {
    for await (const m of sub) {
      const at = o.now().toISOString();
      const started = Date.now();
      let type: string | undefined;
      try {
        // A hosted workspace's command names the account that sent it (see caller.ts).
        const actor = callerAccount(m) ?? "user";
        const command = parseCommand<C>(o.commands, m.data, { actor, at });
        type = command.type;
        // At once, instead of a publish that times out on a JetStream stuck on a full disk.
        refuseWhenStoreFull(o.nc);
        await o.check?.(command);
        const { seqs } = await o.store.execute(o.aggregateSubject(command), command);
        reply(m, { ok: true, seqs });
      } catch (err) {
        const error = toErrorPayload(err);
        if (error.code === "ERR_INTERNAL") o.log.error({ err }, "command failed");
        else o.log.info({ code: error.code, reason: error.message }, "command refused");
        if (o.hidePaths) error.message = o.hidePaths(error.message);
        reply(m, { ok: false, error });
      }
      // The commands after it waited all that time: worth knowing when it is long.
      const ms = Date.now() - started;
      if (ms >= SLOW_COMMAND_MS) o.log.warn({ type, ms }, "slow command");
    }
  })();
  return {
    done,
    async stop() {
      await sub.drain();
      await done;
    },
  };
}
