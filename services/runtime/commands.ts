/**
 * Serves a service's commands: parse, load the aggregate's state from its events, decide,
 * publish the events with the expected last subject sequence, reply. A concurrent writer
 * makes the publish fail; the command is then decided again on the new state.
 */
import {
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type Command,
  type CommandDefinition,
  type CommandReply,
  parseCommand,
} from "../../shared/commands.js";
import type { DecidedEvent, Decider } from "../../shared/decider.js";
import {
  type Envelope,
  type EventDefinition,
  type EventRegistry,
  envelope,
} from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { Logger } from "./logger.js";
import { isWrongLastSequence, publishEvent } from "./publish.js";
import type { RunningService } from "./service.js";

/** The last sequence stored on `subject` in `stream`, 0 if none. */
export async function lastSubjectSeq(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m?.seq ?? 0;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10037) return 0; // no message found
    throw err;
  }
}

/** Reads the events of one subject with sequence in (after, upTo], in order. */
export async function readSubject<E extends Envelope>(
  js: JetStreamClient,
  registry: EventRegistry<E>,
  stream: string,
  subject: string,
  after: number,
  upTo: number,
): Promise<{ event: E; seq: number }[]> {
  if (upTo <= after) return [];
  const consumer = await js.consumers.get(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: after + 1,
  });
  const out: { event: E; seq: number }[] = [];
  const messages = await consumer.consume({ max_messages: 512 });
  try {
    for await (const m of messages) {
      out.push({ event: registry.parse(m.data), seq: m.seq });
      if (m.seq >= upTo || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

export interface CommandServerOptions<C extends Command, E extends DecidedEvent, S> {
  /** Rewrites an error answer's message (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  /** The request subject. */
  subject: string;
  commands: readonly CommandDefinition[];
  events: readonly EventDefinition[];
  registry: EventRegistry;
  decider: Decider<C, E, S>;
  stream: string;
  /** The subject holding the events of the aggregate a command is about. */
  aggregateSubject(command: C): string;
  now(): Date;
  /** Checks a command against the world outside the events (e.g. a port in use); throws to refuse. */
  check?(command: C): Promise<void>;
}

const MAX_ATTEMPTS = 10;

/** Serves commands until stopped. Each command is handled to the end before the next. */
export function serveCommands<C extends Command, E extends DecidedEvent, S>(
  o: CommandServerOptions<C, E, S>,
): RunningService {
  const cache = new Map<string, { state: S; seq: number }>();
  const versions = new Map(o.events.map((d) => [d.type, d.v]));

  async function stateOf(subject: string): Promise<{ state: S; seq: number }> {
    const cached = cache.get(subject) ?? { state: o.decider.initialState(), seq: 0 };
    const last = await lastSubjectSeq(o.jsm, o.stream, subject);
    if (last < cached.seq) {
      // The stream was reset underneath us; start from scratch.
      cache.delete(subject);
      return stateOf(subject);
    }
    let { state, seq } = cached;
    for (const e of await readSubject(o.js, o.registry, o.stream, subject, seq, last)) {
      state = o.decider.evolve(state, e.event as unknown as E);
      seq = e.seq;
    }
    const next = { state, seq };
    cache.set(subject, next);
    return next;
  }

  async function handle(command: C): Promise<number[]> {
    const subject = o.aggregateSubject(command);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { state, seq } = await stateOf(subject);
      const decided = o.decider.decide(command, state);
      const seqs: number[] = [];
      let expected = seq;
      try {
        for (const d of decided) {
          const v = versions.get(d.type);
          if (v === undefined)
            throw new Error(`decider emitted ${d.type}, which is not an event of this service`);
          const ev = envelope({ type: d.type, v }, d.data, {
            actor: command.actor,
            at: command.at,
          });
          o.registry.check(ev);
          const ack = await publishEvent(o.js, subject, ev, { expectLastSubjectSeq: expected });
          expected = ack.seq;
          seqs.push(ack.seq);
        }
        return seqs;
      } catch (err) {
        if (!isWrongLastSequence(err) || seqs.length > 0) throw err;
      }
    }
    throw new CocalcError(
      "ERR_COMMAND_CONFLICT",
      `${command.type}: the state kept changing; try again`,
    );
  }

  const sub: Subscription = o.nc.subscribe(o.subject, { queue: o.subject });
  const reply = (m: Msg, r: CommandReply) => {
    if (m.reply) m.respond(JSON.stringify(r));
  };
  const done = (async () => {
    for await (const m of sub) {
      const at = o.now().toISOString();
      try {
        const command = parseCommand<C>(o.commands, m.data, { actor: "user", at });
        await o.check?.(command);
        const seqs = await handle(command);
        reply(m, { ok: true, seqs });
      } catch (err) {
        const error = toErrorPayload(err);
        if (error.code === "ERR_INTERNAL") o.log.error({ err }, "command failed");
        else o.log.info({ code: error.code, reason: error.message }, "command refused");
        if (o.hidePaths) error.message = o.hidePaths(error.message);
        reply(m, { ok: false, error });
      }
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
